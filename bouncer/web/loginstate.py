"""Login state shared by all gunicorn workers, in a small SQLite file beside the database.

Two things a per-process memory got wrong (issue "Hardening"):

- Failed logins. Counted per (name, client address) and per name, so ~20 wrong passwords from
  behind one reverse proxy no longer lock everyone out, and one user's failures never lock out
  another. A name under attack from many addresses stays open from the addresses that logged in
  as it before. The client address comes from a configured proxy header
  (BOUNCER_CLIENT_ADDRESS_HEADER) when the service sits behind a proxy, else from the socket.
- Logout. The session cookie is signed, not stored; each user has a session generation here,
  written into the cookie at login and bumped by logout, so a cookie from before a logout is
  refused by every worker.

Its own file (`<database>-logins`), not the event database: it is small, rebuilt on loss (at worst
everyone logs in again) and needs no backup; and its writes never wait for the webhook's.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

# Failures within WINDOW seconds: PAIR_LIMIT for one name from one address, NAME_LIMIT for one
# name from anywhere (then only addresses that logged in as it before may still try).
WINDOW = 900.0
PAIR_LIMIT = 10
NAME_LIMIT = 50
KNOWN_DAYS = 90  # an address that logged in as a name stays known this long

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (name TEXT NOT NULL, address TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_name ON failures (name, at);
CREATE TABLE IF NOT EXISTS known (name TEXT NOT NULL, address TEXT NOT NULL, at REAL NOT NULL,
                                  PRIMARY KEY (name, address));
CREATE TABLE IF NOT EXISTS generations (name TEXT PRIMARY KEY, generation INTEGER NOT NULL);
"""


def login_state_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}-logins")


class LoginState:
    """Failed-login counts and session generations; safe to use from several threads and processes."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        # Switching a new file to WAL answers "database is locked" at once, without SQLite's busy
        # wait, when another process opens it at the same moment (gunicorn's workers booting
        # together): the processes take turns on a lock file beside it for that first step.
        init_fd = os.open(f"{path}.init-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(init_fd, fcntl.LOCK_EX)
            with self._lock:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.executescript(_SCHEMA)
        finally:
            os.close(init_fd)  # closing releases the lock

    # ---- failed logins ---------------------------------------------------------------------
    def retry_after(self, name: str, address: str) -> int:
        """Seconds until `name` may be tried from `address` again (0: now)."""
        name, now = name.lower(), self.clock()
        since = now - WINDOW
        with self._lock:
            pair = self._conn.execute(
                "SELECT at FROM failures WHERE name = ? AND address = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                [name, address, since, PAIR_LIMIT - 1]).fetchone()
            by_name = self._conn.execute(
                "SELECT at FROM failures WHERE name = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                [name, since, NAME_LIMIT - 1]).fetchone()
            known = by_name is not None and self._conn.execute(
                "SELECT 1 FROM known WHERE name = ? AND address = ? AND at > ?",
                [name, address, now - KNOWN_DAYS * 86400]).fetchone() is not None
        waits = [row[0] + WINDOW - now for row in (pair, None if known else by_name) if row is not None]
        return int(max(waits)) + 1 if waits else 0

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            self._conn.execute("INSERT INTO failures (name, address, at) VALUES (?, ?, ?)",
                               [name.lower(), address, now])
            self._conn.execute("DELETE FROM failures WHERE at < ?", [now - WINDOW])

    def succeeded(self, name: str, address: str) -> None:
        """A right password: this pair's failures are forgotten and the address is known for the name."""
        name = name.lower()
        with self._lock:
            self._conn.execute("DELETE FROM failures WHERE name = ? AND address = ?", [name, address])
            self._conn.execute("INSERT INTO known (name, address, at) VALUES (?, ?, ?) ON CONFLICT (name, address) "
                               "DO UPDATE SET at = excluded.at", [name, address, self.clock()])

    # ---- sessions --------------------------------------------------------------------------
    def generation(self, name: str) -> int:
        with self._lock:
            row = self._conn.execute("SELECT generation FROM generations WHERE name = ?", [name]).fetchone()
        return int(row[0]) if row else 0

    def end_sessions(self, name: str) -> None:
        """Logout: every session cookie of `name` issued before now stops working."""
        with self._lock:
            self._conn.execute("INSERT INTO generations (name, generation) VALUES (?, 1) "
                               "ON CONFLICT (name) DO UPDATE SET generation = generation + 1", [name])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def client_address(remote_addr: str | None, header_value: str | None) -> str:
    """The client's address: the last entry of the configured proxy header (the one our own proxy
    added; earlier entries are the client's to forge), else the socket's peer."""
    if header_value:
        last = header_value.split(",")[-1].strip()
        if last:
            return last[:100]
    return remote_addr or "-"
