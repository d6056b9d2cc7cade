"""The store's plumbing: one SQLite connection per process, the cross-process writer lock, the
background WAL checkpointer, and the small helpers every part of the store shares.

Every multi-statement write runs in one `BEGIN IMMEDIATE` transaction (`Connection._write`), so
concurrent gunicorn workers queue on the write lock instead of failing when a read transaction
tries to upgrade. Times are ISO-8601 UTC text (`2026-11-28T03:14:00Z`): sortable as text,
readable in the sqlite3 shell.
"""
from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database
from sqlite_utils.utils import dedupe_keys

from .. import fastjson

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ERROR_CHARS = 2000
BUSY_SECONDS = 5.0  # how long a writer waits for the write lock before giving up ("database is locked")
_JSON_COLUMNS = ("evidence", "recipients", "refs", "plan", "previous", "actions", "params", "summary", "note_args",
                 "before_correction")

log = logging.getLogger("bouncer.store")

def utcnow() -> datetime:
    """The default clock; tests inject their own to move through soft-bounce windows and leases."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC text as stored; naive datetimes are taken to be UTC already.

    The same text as strftime(ISO_FORMAT) at about a third of its cost (the webhook stamps
    every row it writes), and with four-digit years whatever the platform's strftime does.
    """
    if moment.tzinfo is not None and moment.utcoffset():
        moment = moment.astimezone(UTC)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


def parse_iso(text: str) -> datetime:
    """The inverse of `iso`, for computing with stored times."""
    return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=UTC)


def decode(row: dict[str, Any]) -> dict[str, Any]:
    """JSON columns back to Python, so every caller gets lists and dicts, never JSON text."""
    for key in _JSON_COLUMNS:
        if isinstance(row.get(key), str):
            row[key] = fastjson.loads(row[key])
    return row


def to_json(value: Any) -> str | None:
    return None if value is None else fastjson.dumps(value, sort_keys=True)


class Connection:
    """One connection, used by all threads of a process behind one lock; the base of every store part."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], datetime] = utcnow,
        soft_threshold: int = 3,
        soft_window_days: int = 30,
        count_unverified: bool = False,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self.soft_threshold = soft_threshold
        self.soft_window = timedelta(days=soft_window_days)
        self.count_unverified = count_unverified  # policy [dead_address] count = "all"
        self.lease = lease
        self._lock = threading.RLock()
        # isolation_level=None: no implicit BEGINs; transactions are only the ones opened here.
        self._conn = sqlite3.connect(str(self.path), timeout=5.0, check_same_thread=False, isolation_level=None)
        self._db = Database(self._conn)
        self._db.execute("PRAGMA busy_timeout = 5000")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA synchronous = NORMAL")
        # Writers of all processes queue on a lock file first (see _writer_lock): SQLite's own busy
        # handler sleeps 1, 2, 5, 10 ... ms between tries, so two gunicorn workers colliding on the
        # write lock lost milliseconds per event; the file lock hands over within a fraction of one.
        self._writer_fd = os.open(f"{self.path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
        # Switching a fresh file to WAL needs an exclusive lock, and SQLite answered "database is locked"
        # at once, busy_timeout or not, when two gunicorn workers booted on one new file and a worker
        # failed to boot: so the switch waits for the writer lock like every other write.
        with self._writer_lock():
            self._db.enable_wal()
        self._checkpointer: threading.Thread | None = None
        self._checkpoint_stop = threading.Event()

    def close(self) -> None:
        self._checkpoint_stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5.0)
        with self._lock:
            self._conn.close()
            os.close(self._writer_fd)

    def start_checkpointer(self, interval: float = 0.05) -> None:
        """Copy the WAL into the database from a background thread, ahead of the request that commits.

        SQLite checkpoints inside the COMMIT that crosses 1,000 WAL pages (about every 40 events):
        that request copied them all and waited 10-25 ms (the webhook's p99). Here a thread with its
        own connection runs a PASSIVE checkpoint every `interval` seconds (it blocks no reader or
        writer), so the automatic checkpoint, still there, finds only the last few pages to copy; it
        also completes the WAL right after a commit, so the next writer starts the file over (a
        background checkpoint alone never completes under steady writes and the WAL grew without end).
        """
        if self._checkpointer is not None:
            return
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, args=(interval,),
                                              name="bouncer-checkpoint", daemon=True)
        self._checkpointer.start()

    def _checkpoint_loop(self, interval: float) -> None:
        conn = sqlite3.connect(str(self.path), timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
        try:
            while not self._checkpoint_stop.wait(interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # e.g. the file went away; the automatic checkpoint still runs
                    log.warning("background checkpoint failed", extra={"error": str(exc)})
        finally:
            conn.close()

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        """The cross-process writer lock (an flock on `<db>-writer.lock`), waited for at most BUSY_SECONDS.

        Polls with short sleeps (0.1 ms doubling to 1 ms): a waiting worker gets the lock within a
        fraction of a millisecond after it is freed, as SQLite's busy handler does not. Writers that
        don't take it (the sqlite3 shell) still meet SQLite's own lock and busy_timeout.
        """
        fd, delay, deadline = self._writer_fd, 0.0001, 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                deadline = deadline or now + BUSY_SECONDS
                if now > deadline:
                    raise sqlite3.OperationalError("database is locked (writer lock busy)") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.001)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
    def _now(self) -> str:
        return iso(self._clock())

    @contextmanager
    def _write(self) -> Iterator[Database]:
        """One IMMEDIATE transaction (a savepoint when nested): all or nothing, write lock taken up front."""
        with self._lock:
            if self._conn.in_transaction:
                with self._db.atomic():
                    yield self._db
                return
            with self._writer_lock():
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        """A plain INSERT inside the open transaction; returns the new rowid.

        On the webhook's path, where the write lock is held: sqlite-utils' `insert` costs about
        25 times more per row (it introspects the table), which other workers wait for.
        """
        cursor = self._conn.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
        return cursor.lastrowid or 0  # an INSERT always sets it

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts. Straight on the connection: sqlite-utils' `query` wraps each one
        in SAVEPOINT/RELEASE (two more statements, in case it is no SELECT), and ours all are."""
        with self._lock:
            cursor = self._conn.execute(sql, params)
            keys = dedupe_keys(d[0] for d in cursor.description)
            return [dict(zip(keys, row, strict=True)) for row in cursor]

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def ping(self) -> bool:
        """Readiness: the file is open and answers."""
        try:
            with self._lock:
                return self._conn.execute("SELECT 1").fetchone() == (1,)
        except sqlite3.Error:
            return False

    def clock(self) -> datetime:
        """The store's notion of now (injectable in tests), for callers computing due times."""
        return self._clock()

