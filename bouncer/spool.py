"""Payloads of events in progress, as files beside the database, until their record is committed.

Znuny does not retry a failed invoker call, so from the moment we start on an event its
payload must survive a crash of the worker. It is written here before classification and
deleted right after the event's one write transaction commits; a file older than a minute
belongs to a request that died, and the worker thread finishes it (`Service.recover`).

Files rather than a table: a spool row cost the webhook a second write transaction per event
(insert before classifying, delete after), and the write lock is what two gunicorn workers
queue on. A file is written and unlinked without that lock. Neither is fsynced: like the
database (WAL, synchronous=NORMAL) the spool survives a crash of the process, not of the
machine.

A payload is written under a temporary name and renamed when complete, so a full disk or a
worker killed while writing never leaves a half payload to recover. Each recovery of a payload
is counted in a small file beside it before it starts (`attempt`): a payload that kills every
worker recovering it is given up after MAX_RECOVERIES instead of taking the service down.
"""
from __future__ import annotations

import fcntl
import itertools
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# <ticket>-<article>-<source>-<pid>-<spool>-<n>.json: the ids and the source are in the name, so an
# unreadable file can still be recorded as a failed event of its article.
_NAME = re.compile(r"(\d+)-(\d+)-([a-z]+)-\d+-[0-9a-f]+-\d+\.json")
_PARTIAL = ".part"  # a payload being written
_TRIES = ".tries"  # one byte per recovery started
MAX_RECOVERIES = 3  # recoveries of one payload; then it is recorded as failed


def _tries(item: Spooled) -> Path:
    return item.path.with_name(item.path.name + _TRIES)


def spool_directory(db_path: str | Path) -> Path:
    """Where a database's payload spool lives: beside it (same file system, same volume)."""
    return Path(f"{db_path}-spool")


@dataclass(frozen=True)
class Spooled:
    """One spooled payload: where it is and which article it is."""

    path: Path
    ticket_id: int
    article_id: int
    source: str


class Spool:
    """A directory of spooled payloads (created 0700: they are mail)."""

    def __init__(self, directory: str | Path, clock: Callable[[], datetime]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._clock = clock
        self._token = secrets.token_hex(4)  # two Spools in one process (two Stores) must not collide
        self._serial = itertools.count(1)

    def put(self, ticket_id: int, article_id: int, source: str, payload: bytes) -> Spooled:
        """Write a payload under a name nobody else uses: pid (a forked copy of this Spool has another),
        this Spool's token and a counter."""
        name = f"{ticket_id}-{article_id}-{source}-{os.getpid()}-{self._token}-{next(self._serial)}.json"
        path = self.directory / name
        partial = path.with_name(name + _PARTIAL)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.rename(partial, path)
        except BaseException:  # ENOSPC, EIO ...: no half payload may stay behind
            partial.unlink(missing_ok=True)
            raise
        return Spooled(path, ticket_id, article_id, source)

    def drop(self, item: Spooled) -> None:
        """Forget a payload once its event is recorded (or found recorded by someone else)."""
        item.path.unlink(missing_ok=True)
        _tries(item).unlink(missing_ok=True)

    def attempt(self, item: Spooled) -> int:
        """Count one more recovery of this payload, before it starts (a worker killed during it cannot
        count afterwards); returns how many were started, this one included."""
        with _tries(item).open("ab") as handle:
            handle.write(b".")
            return handle.tell()

    def writable(self) -> bool:
        """Can a payload be written now (the directory exists and may be written)? For /readyz."""
        return self.directory.is_dir() and os.access(self.directory, os.W_OK | os.X_OK)

    def stale(self, older_than: float = 60.0, limit: int = 100) -> list[Spooled]:
        """Payloads written more than `older_than` seconds ago, oldest first: their request died."""
        cutoff = self._clock().timestamp() - older_than
        found: list[tuple[float, Spooled]] = []
        with os.scandir(self.directory) as entries:
            for entry in entries:
                match = _NAME.fullmatch(entry.name)
                if match is None:
                    if entry.name.endswith((_PARTIAL, _TRIES)):
                        self._forget_leftover(entry, cutoff)
                    continue
                try:
                    modified = entry.stat().st_mtime
                except FileNotFoundError:  # finished while we looked
                    continue
                if modified <= cutoff:
                    found.append((modified, Spooled(Path(entry.path), int(match[1]), int(match[2]), match[3])))
        found.sort(key=lambda pair: (pair[0], pair[1].path.name))
        return [item for _, item in found[:limit]]

    @contextmanager
    def claim(self, item: Spooled) -> Iterator[bytes | None]:
        """The payload, locked against the other workers' recovery while the block runs; None when
        another worker holds it or it is gone. The lock dies with its process, so a recovery that
        crashes leaves the file to the next one."""
        try:
            fd = os.open(item.path, os.O_RDONLY)
        except FileNotFoundError:
            yield None
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            if not item.path.exists():  # recovered and dropped between our scan and our lock
                yield None
                return
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            yield b"".join(chunks)
        finally:
            os.close(fd)

    def _forget_leftover(self, entry: os.DirEntry[str], cutoff: float) -> None:
        """A half-written payload of a killed worker (its request got no answer: Znuny logged an
        error, the catch-up finds the article), or the counter of a payload already dropped."""
        try:
            if entry.stat().st_mtime > cutoff:
                return
            if entry.name.endswith(_TRIES) and Path(entry.path[: -len(_TRIES)]).exists():
                return
            os.unlink(entry.path)
        except FileNotFoundError:
            pass

    def count(self) -> int:
        """Payloads in the spool now (for /readyz: more than a handful means requests are dying)."""
        with os.scandir(self.directory) as entries:
            return sum(1 for entry in entries if _NAME.fullmatch(entry.name))
