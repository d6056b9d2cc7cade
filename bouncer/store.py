"""The one module that touches SQLite: events, verdicts, the action outbox, mailings, addresses.

Three users share it. The webhook needs speed, idempotency and never to lose an accepted
event; the press pages need per-mailing counts and dead addresses; the admin review queue
needs filtered listings. Every multi-statement write runs in one `BEGIN IMMEDIATE`
transaction, so concurrent gunicorn workers queue on the write lock (busy_timeout) instead
of failing when a read transaction tries to upgrade; the webhook writes one per event
(`record_event`), while the event's payload waits in the spool beside the database
(bouncer/spool.py, `Store.spool`). Times are ISO-8601 UTC text (`2026-11-28T03:14:00Z`):
sortable as text, readable in the sqlite3 shell.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import sqlite3
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError
from sqlite_utils.utils import dedupe_keys as _dedupe_keys

from . import fastjson
from .config import MODES
from .spool import Spool, Spooled
from .subjects import subject_key
from .verdict import CATEGORIES, Verdict

__all__ = [
    "MIGRATIONS", "MailMeta", "NotFoundError", "PlannedAction", "Recorded", "STAT_KINDS", "Store", "iso",
    "parse_iso", "subject_key", "utcnow",
]

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
EVENT_SOURCES = ("webhook", "sweep", "cli")
EVENT_STATUSES = ("accepted", "classified", "acted", "ignored", "failed")
MAIL_SOURCES = ("payload", "raw")
REVIEWS = ("pending", "confirmed", "false_positive", "undone")
# Verdicts an admin rejected do not count in statistics or toward dead addresses.
REJECTED_REVIEWS = ("false_positive", "undone")
ACTION_KINDS = ("ticket_update", "reopen", "none")
# planned: recorded, not queued; pending: in the outbox, due at next_attempt_at;
# running: claimed by a worker until its lease expires; done/failed: final;
# dry-run/skipped: recorded for the review page, never executed.
ACTION_STATES = ("planned", "pending", "running", "done", "failed", "dry-run", "skipped")
MAILING_ORIGINS = ("auto", "manual", "api")
ALLOW_KINDS = ("sender", "domain")
# What the press pages count per mailing: bounces split by type, then the other categories.
STAT_KINDS = ("hard", "soft", "auto_reply", "read_receipt", "feedback_report", "human")
MAILING_WINDOW = timedelta(days=7)
# Hard bounces that say nothing about the address (our IP blocked, our mail too big, our rate):
# they count like soft bounces toward the dead-address threshold, never kill an address at once.
NOT_ABOUT_THE_ADDRESS = ("spam_blocked", "rejected_policy", "message_too_large", "quota")
ERROR_CHARS = 2000
BUSY_SECONDS = 5.0  # how long a writer waits for the write lock before giving up ("database is locked")

log = logging.getLogger("bouncer.store")

_REJECTED_SQL = "(" + ", ".join(f"'{r}'" for r in REJECTED_REVIEWS) + ")"
# A bounce of unknown type counts as soft: it did not prove the address dead.
_KIND_SQL = ("CASE WHEN v.category = 'bounce' THEN CASE WHEN v.bounce_type = 'hard' "
             "THEN 'hard' ELSE 'soft' END ELSE v.category END")
_PIVOT_SQL = ", ".join(f"coalesce(sum(c.n) FILTER (WHERE c.kind = '{k}'), 0) AS {k}" for k in STAT_KINDS)
# The outbox's states, the only ones looked up by state: written as ORs, which SQLite matches
# against the partial index idx_actions_outbox (m005); it does not match an IN list.
_OUTBOX_SQL = "(state = 'pending' OR state = 'running' OR state = 'failed')"
_JSON_COLUMNS = ("evidence", "recipients", "refs", "plan", "previous", "actions")


def utcnow() -> datetime:
    """The default clock; tests inject their own to move through soft-bounce windows and leases."""
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC text as stored; naive datetimes are taken to be UTC already.

    The same text as strftime(ISO_FORMAT) at about a third of its cost (the webhook stamps
    every row it writes), and with four-digit years whatever the platform's strftime does.
    """
    if moment.tzinfo is not None and moment.utcoffset():
        moment = moment.astimezone(timezone.utc)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def parse_iso(text: str) -> datetime:
    """The inverse of `iso`, for computing with stored times."""
    return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=timezone.utc)


_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def _message_ids(value: str | None) -> list[str]:
    """Message-IDs in `<...>` form, so `abc@x` and `<abc@x>` match each other."""
    if not value or not value.strip():
        return []
    return _MESSAGE_ID.findall(value) or [f"<{value.strip().strip('<>')}>"]


def _address(value: str | None) -> str | None:
    """Bare lower-case address from `Name <a@b>` or `rfc822; a@b`; None if it is not one."""
    value = (value or "").rpartition(";")[2].strip()
    if "<" not in value and " " not in value and '"' not in value:
        address = value.lower()  # already bare: the classifier's recipients are (parseaddr is slow)
    else:
        address = parseaddr(value)[1].strip().lower()
    return address if "@" in address else None


def _mail_date(value: str | None) -> datetime | None:
    """A Date header (RFC 2822, or ISO as some parsers give it) as aware UTC; None if unreadable."""
    if not value or not value.strip():
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not 1970 <= moment.year <= 2999:
        return None  # implausible (year 1, 9999: the mailing window around it would overflow)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _check(value: str, allowed: Sequence[str], what: str) -> str:
    """Enumerations are checked here rather than by CHECK constraints, so adding a state is no table rebuild."""
    if value not in allowed:
        raise ValueError(f"{what}={value!r}: must be one of {', '.join(allowed)}")
    return value


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    """JSON columns back to Python, so every caller gets lists and dicts, never JSON text."""
    for key in _JSON_COLUMNS:
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def _json(value: Any) -> str | None:
    return None if value is None else fastjson.dumps(value, sort_keys=True)


def _dead_where(mailing_id: int | None, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """The WHERE clause (on `addresses a`) and parameters of the dead-address filters."""
    # With a mailing, unary + keeps the planner off the (dead, dead_since) index: the mailing's few bounces drive.
    where = ["a.dead = 1" if mailing_id is None else "+a.dead = 1"]
    params: list[Any] = []
    for clause, value in (("a.dead_since >= ?", since and iso(since)), ("a.dead_since < ?", until and iso(until)),
                          ("a.address IN (SELECT b.address FROM bounces b WHERE b.mailing_id = ?)", mailing_id)):
        if value is not None:
            where.append(clause)
            params.append(value)
    return " AND ".join(where), params


@dataclass(frozen=True)
class MailMeta:
    """What the store keeps about the mail itself, beside the verdict (ids, headers, a short snippet)."""

    ticket_id: int
    article_id: int
    from_addr: str | None = None
    subject: str | None = None
    snippet: str | None = None  # already cut to Config.snippet_chars by the caller
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    mail_source: str = "payload"


@dataclass(frozen=True)
class PlannedAction:
    """What we decided to do to the ticket, recorded with the verdict (see Store.record_event)."""

    kind: str  # ACTION_KINDS
    plan: dict[str, Any]
    previous: dict[str, Any] | None  # the ticket's state, queue and tag before, for a reopen
    mode: str
    state: str  # ACTION_STATES


@dataclass(frozen=True)
class Recorded:
    """The rows one event left: its id, its verdict's and its action's (None when none was planned)."""

    event_id: int
    verdict_id: int
    action_id: int | None


@dataclass(frozen=True)
class _MailingKeys:
    """What identifies the mailing a mail refers to, worked out before the write lock."""

    own_ids: list[str]
    candidates: list[str]
    subject: str | None
    subject_key: str
    sent: datetime
    sent_at: str
    now: str  # the stamp for first_seen/last_seen


def _mailing_keys(original_message_id: str | None, original_subject: str | None, original_date: str | None,
                  in_reply_to: str | None, references: Sequence[str], now: datetime) -> _MailingKeys | None:
    own_ids = _message_ids(original_message_id)
    candidates = list(dict.fromkeys(
        own_ids + _message_ids(in_reply_to) + [m for ref in references for m in _message_ids(ref)]))
    key = subject_key(original_subject)
    if not candidates and not key:
        return None
    sent = _mail_date(original_date) or now
    return _MailingKeys(own_ids, candidates, original_subject.strip() if original_subject else None, key,
                        sent, iso(sent), iso(now))


@dataclass(frozen=True)
class _PreparedVerdict:
    """A verdict's rows, built before the write lock (see Store.record_event)."""

    row: dict[str, Any]
    bounced: list[str]  # bare addresses, each once
    revive: str | None  # a person's address that proves it alive
    mailing: _MailingKeys | None
    now: str


# --- migrations: append only; each runs once, in its own transaction -------------------------

def m001_initial(db: Database) -> None:
    """Initial schema. Indexes serve the review queue filters, the mailing pages and the outbox."""
    events = db.table("events").create(
        {"id": int, "ticket_id": int, "article_id": int, "source": str, "received_at": str,
         "status": str, "status_note": str, "mail_source": str, "updated_at": str},
        pk="id", not_null={"ticket_id", "article_id", "source", "received_at", "status"},
    )
    # One event per article whatever path saw it first: webhook and sweep must not both act.
    events.create_index(["ticket_id", "article_id"], unique=True)
    events.create_index(["status", "received_at"])

    mailings = db.table("mailings").create(
        {"id": int, "message_id": str, "subject": str, "subject_key": str, "sent_at": str,
         "first_seen": str, "last_seen": str, "origin": str, "recipient_count": int},
        pk="id", not_null={"sent_at", "first_seen", "last_seen", "origin"},
    )
    mailings.create_index(["message_id"], unique=True)
    mailings.create_index(["subject_key", "sent_at"])
    mailings.create_index(["sent_at"])

    verdicts = db.table("verdicts").create(
        {"id": int, "event_id": int, "created_at": str, "category": str, "bounce_type": str,
         "reason": str, "status": str, "diagnostic": str, "confidence": float, "evidence": str,
         "recipients": str, "original_message_id": str, "original_subject": str,
         "original_date": str, "original_from": str, "return_date": str, "from_addr": str,
         "from_domain": str, "subject": str, "snippet": str, "message_id": str,
         "in_reply_to": str, "refs": str, "mailing_id": int, "ticket_id": int,
         "article_id": int, "source": str, "review": str, "reviewed_by": str,
         "reviewed_at": str, "review_note": str, "error": str, "purged_at": str},
        pk="id",
        not_null={"event_id", "created_at", "category", "confidence", "evidence", "recipients", "review"},
        foreign_keys=[("event_id", "events", "id"), ("mailing_id", "mailings", "id")],
    )
    verdicts.create_index(["event_id"], unique=True)
    verdicts.create_index(["created_at"])
    verdicts.create_index(["category", "created_at"])
    verdicts.create_index(["review", "created_at"])
    verdicts.create_index(["confidence"])
    # Covers the per-mailing counts, so list_mailings never touches the verdict rows.
    verdicts.create_index(["mailing_id", "category", "bounce_type", "review"])

    actions = db.table("actions").create(
        {"id": int, "event_id": int, "verdict_id": int, "ticket_id": int, "kind": str, "plan": str,
         "previous": str, "mode": str, "state": str, "attempts": int, "last_error": str,
         "next_attempt_at": str, "claimed_at": str, "created_at": str, "done_at": str,
         "updated_at": str},
        pk="id", not_null={"event_id", "ticket_id", "kind", "plan", "mode", "state", "attempts", "created_at"},
        defaults={"attempts": 0},
        foreign_keys=[("event_id", "events", "id"), ("verdict_id", "verdicts", "id")],
    )
    actions.create_index(["verdict_id"])
    actions.create_index(["event_id"])
    actions.create_index(["state", "next_attempt_at"])

    bounces = db.table("bounces").create(
        {"id": int, "verdict_id": int, "address": str, "domain": str, "bounce_type": str,
         "status": str, "reason": str, "diagnostic": str, "mailing_id": int, "at": str},
        pk="id", not_null={"verdict_id", "address", "domain", "at"},
        foreign_keys=[("verdict_id", "verdicts", "id"), ("mailing_id", "mailings", "id")],
    )
    bounces.create_index(["address", "at"])
    bounces.create_index(["mailing_id", "address"])
    bounces.create_index(["verdict_id"])

    addresses = db.table("addresses").create(
        {"address": str, "domain": str, "hard_count": int, "soft_count": int, "first_seen": str,
         "last_seen": str, "last_status": str, "last_reason": str, "last_bounce_type": str,
         "dead": int, "dead_since": str, "alive_since": str},
        pk="address", not_null={"domain", "hard_count", "soft_count", "dead"},
        defaults={"hard_count": 0, "soft_count": 0, "dead": 0},
    )
    addresses.create_index(["dead", "dead_since"])

    allowlist = db.table("allowlist").create(
        {"id": int, "kind": str, "value": str, "note": str, "created_by": str, "created_at": str},
        pk="id", not_null={"kind", "value", "created_at"},
    )
    allowlist.create_index(["kind", "value"], unique=True)


def m002_inbox(db: Database) -> None:
    """Payloads of accepted events, kept only until their verdict is recorded.

    Znuny does not retry a failed invoker call, so an event we accepted must survive a
    crash before it is classified. The payload is deleted right after, so no
    mail body stays in the database (data minimisation, see docs/privacy.md).
    """
    db.table("inbox").create({"event_id": int, "payload": bytes, "received_at": str}, pk="event_id",
                             not_null={"payload", "received_at"}, foreign_keys=[("event_id", "events", "id")])
    # Which earlier articles of a ticket were machine mail: asked on every event (conversation check).
    db.table("verdicts").create_index(["ticket_id", "article_id"])


def m003_lighter_writes(db: Database) -> None:
    """Fewer index pages written per webhook event (each is a WAL page per commit).

    The (status, received_at) index moved every event from 'accepted' to 'classified' on its
    second commit (3.2 WAL pages per event), and no query asks it: crash recovery goes by the
    payload spool. No query looks actions up by event_id (the review pages go by verdict_id).
    """
    db.execute("DROP INDEX IF EXISTS idx_events_status_received_at")
    db.execute("DROP INDEX IF EXISTS idx_actions_event_id")


def m004_spool_to_files(db: Database) -> None:
    """The payload spool moved from the inbox table to files (bouncer/spool.py): one write
    transaction per event instead of two. Payloads still in the table (a crash before the
    upgrade) are written out as spool files, and their events, accepted but never recorded,
    are removed, so the worker's recovery records them as it does any spooled event."""
    (path,) = [row[2] for row in db.execute("PRAGMA database_list").fetchall() if row[1] == "main"]
    spool = Spool(spool_directory(path), utcnow)
    leftovers = db.execute(
        "SELECT e.id, e.ticket_id, e.article_id, e.source, i.payload FROM inbox i JOIN events e ON e.id = i.event_id "
        "WHERE NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.event_id = e.id)").fetchall()
    db.execute("DROP TABLE inbox")
    for event_id, ticket_id, article_id, source, payload in leftovers:
        if payload[:1] == b"x":  # zlib-compressed by versions before 2026-11-28 (JSON starts "{")
            payload = zlib.decompress(payload)
        spool.put(ticket_id, article_id, source, payload)
        db.execute("DELETE FROM events WHERE id = ?", [event_id])
        log.warning("spooled payload moved from the inbox table to a file",
                    extra={"ticket_id": ticket_id, "article_id": article_id})


def m005_fewer_index_pages(db: Database) -> None:
    """Three fewer index pages written per webhook event (each is a WAL frame per commit, about
    17 per event before): the outbox index holds only actions still in the outbox, not every
    'done' inline and dry-run one; the machine-mail check finds a ticket's articles through the
    events' unique index; the review queue's confidence filter walks the time index it is sorted
    by. The mailing index skips verdicts about no mailing (a person's mail, most auto-replies)."""
    db.execute("DROP INDEX IF EXISTS idx_actions_state_next_attempt_at")
    db.execute("CREATE INDEX idx_actions_outbox ON actions (state, next_attempt_at) "
               "WHERE (state = 'pending' OR state = 'running' OR state = 'failed')")
    db.execute("DROP INDEX IF EXISTS idx_verdicts_ticket_id_article_id")
    db.execute("DROP INDEX IF EXISTS idx_verdicts_confidence")
    db.execute("DROP INDEX IF EXISTS idx_verdicts_mailing_id_category_bounce_type_review")
    db.execute("CREATE INDEX idx_verdicts_mailing ON verdicts (mailing_id, category, bounce_type, review) "
               "WHERE mailing_id IS NOT NULL")


MIGRATIONS: list[Callable[[Database], None]] = [
    m001_initial, m002_inbox, m003_lighter_writes, m004_spool_to_files, m005_fewer_index_pages]


def spool_directory(db_path: str | Path) -> Path:
    """Where a database's payload spool lives: beside it (same file system, same volume)."""
    return Path(f"{db_path}-spool")


class Store:
    """All persistence for one process. Thread-safe through one lock around one connection."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], datetime] = utcnow,
        soft_threshold: int = 3,
        soft_window_days: int = 30,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self.soft_threshold = soft_threshold
        self.soft_window = timedelta(days=soft_window_days)
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
        self._migrate()
        # Payloads of events in progress: files, so an event costs one write transaction (bouncer/spool.py).
        self.spool = Spool(spool_directory(self.path), clock)

    # --- plumbing ------------------------------------------------------------------------------

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

    def __enter__(self) -> Store:
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
        return int(cursor.lastrowid)

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts. Straight on the connection: sqlite-utils' `query` wraps each one
        in SAVEPOINT/RELEASE (two more statements, in case it is no SELECT), and ours all are."""
        with self._lock:
            cursor = self._conn.execute(sql, params)
            keys = _dedupe_keys(d[0] for d in cursor.description)
            return [dict(zip(keys, row)) for row in cursor]

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _migrate(self) -> None:
        """Apply each migration not yet recorded; the check runs under the write lock, so two
        processes starting together do not both apply one."""
        with self._write() as db:
            db.table("schema_migrations").create({"version": int, "applied_at": str}, pk="version", if_not_exists=True)
        for version, migration in enumerate(MIGRATIONS, start=1):
            with self._write() as db:
                if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [version]).fetchone():
                    continue
                migration(db)
                db.table("schema_migrations").insert({"version": version, "applied_at": self._now()})

    def ping(self) -> bool:
        """Readiness: the file is open and answers."""
        try:
            with self._lock:
                return self._conn.execute("SELECT 1").fetchone() == (1,)
        except sqlite3.Error:
            return False

    # --- events --------------------------------------------------------------------------------

    def event_id(self, ticket_id: int, article_id: int) -> int | None:
        """The event already recorded for an article, if any: a repeated delivery stops here,
        before any work (a read, no write lock)."""
        with self._lock:
            row = self._conn.execute("SELECT id FROM events WHERE ticket_id = ? AND article_id = ?",
                                     [ticket_id, article_id]).fetchone()
        return None if row is None else int(row[0])

    def record_event(self, source: str, verdict: Verdict, meta: MailMeta,
                     action: PlannedAction | None = None) -> Recorded | None:
        """An article's event, its verdict and the planned action in ONE transaction; None (and
        nothing written) when the article was recorded before, by whatever path saw it first.

        INSERT ... ON CONFLICT DO NOTHING on the unique (ticket_id, article_id) makes this atomic
        across processes: of two deliveries of one article exactly one is recorded and acts. The
        webhook's only write per event, so a worker takes the write lock once per event; rows are
        built before it is taken, so the other workers wait only for the SQL.
        """
        _check(source, EVENT_SOURCES, "source")
        prepared = self._prepare_verdict(verdict, meta)
        action_row = None if action is None else self._action_row(
            meta.ticket_id, action.kind, action.plan, action.previous, action.mode, action.state)
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO events (ticket_id, article_id, source, received_at, status, mail_source, updated_at) "
                "VALUES (?, ?, ?, ?, 'classified', ?, ?) ON CONFLICT (ticket_id, article_id) DO NOTHING",
                [meta.ticket_id, meta.article_id, source, prepared.now, meta.mail_source, prepared.now])
            if cursor.rowcount != 1:
                return None
            event_id = int(cursor.lastrowid)
            verdict_id = self._record_prepared(db, prepared, event_id)
            action_id = self._insert("actions", dict(action_row, event_id=event_id, verdict_id=verdict_id)) \
                if action_row else None
        return Recorded(event_id, verdict_id, action_id)

    def record_failed(self, item: Spooled, note: str) -> bool:
        """A spooled event that cannot be processed: kept as a failed event (no verdict), so a repeated
        delivery is not retried forever and the admin sees it; False when the article was recorded."""
        now = self._now()
        with self._write() as db:
            return db.execute(
                "INSERT INTO events (ticket_id, article_id, source, received_at, status, status_note, updated_at) "
                "VALUES (?, ?, ?, ?, 'failed', ?, ?) ON CONFLICT (ticket_id, article_id) DO NOTHING",
                [item.ticket_id, item.article_id, item.source, now, note[:ERROR_CHARS], now]).rowcount == 1

    def clock(self) -> datetime:
        """The store's notion of now (injectable in tests), for callers computing due times."""
        return self._clock()

    def machine_articles(self, ticket_id: int) -> set[int]:
        """Articles of a ticket we judged machine mail (and nobody marked false positive)."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT e.article_id FROM events e JOIN verdicts v ON v.event_id = e.id WHERE e.ticket_id = ? "
                f"AND v.category != 'human' AND v.review NOT IN {_REJECTED_SQL}", [ticket_id]).fetchall()
        return {int(row[0]) for row in rows}

    def set_event_status(self, event_id: int, status: str, note: str | None = None) -> None:
        """Move an event along its life; raises NotFoundError for an unknown id."""
        _check(status, EVENT_STATUSES, "status")
        with self._write() as db:
            db.table("events").update(event_id, {"status": status, "status_note": note, "updated_at": self._now()})

    def get_event(self, event_id: int) -> dict[str, Any] | None:
        """One event, e.g. to see whether a repeated delivery was already finished."""
        return self._one("SELECT * FROM events WHERE id = ?", [event_id])

    def _prepare_verdict(self, verdict: Verdict, meta: MailMeta) -> _PreparedVerdict:
        """The verdict's rows and what it means for addresses and mailings, built before the write lock.

        A bounce writes one `bounces` row per bounced recipient and refreshes those addresses
        (dead at once on a hard bounce, or after `soft_threshold` soft bounces within
        `soft_window_days`); a person writing from a dead address revives it.
        """
        _check(meta.mail_source, MAIL_SOURCES, "mail_source")
        original = verdict.original  # the fields of Verdict.to_dict, without its deep copy (dataclasses.asdict)
        now_dt = self._clock()
        now = iso(now_dt)
        from_addr = _address(meta.from_addr)
        row = {
            "created_at": now, "category": verdict.category,
            "bounce_type": verdict.bounce_type, "reason": verdict.reason, "status": verdict.status,
            "diagnostic": verdict.diagnostic, "confidence": round(verdict.confidence, 3),
            "evidence": _json(list(verdict.evidence)), "recipients": _json(list(verdict.recipients)),
            "original_message_id": original.message_id, "original_subject": original.subject,
            "original_date": original.date, "original_from": original.from_,
            "return_date": verdict.return_date.isoformat() if verdict.return_date else None,
            "from_addr": from_addr or meta.from_addr,
            "from_domain": from_addr.rpartition("@")[2] if from_addr else None,
            "subject": meta.subject, "snippet": meta.snippet, "message_id": meta.message_id,
            "in_reply_to": meta.in_reply_to, "refs": _json(list(meta.references)),
            "ticket_id": meta.ticket_id, "article_id": meta.article_id,
            "source": verdict.source, "review": "pending", "error": verdict.error,
        }
        bounced = (list(dict.fromkeys(a for a in map(_address, verdict.recipients) if a))
                   if verdict.category == "bounce" else [])
        revive = from_addr if verdict.category == "human" else None
        mailing = _mailing_keys(original.message_id, original.subject, original.date, meta.in_reply_to,
                                meta.references, now_dt)
        return _PreparedVerdict(row, bounced, revive, mailing, now)

    def _record_prepared(self, db: Database, p: _PreparedVerdict, event_id: int) -> int:
        """The verdict's SQL, inside the caller's write transaction."""
        mailing_id = self._link_mailing(db, p.mailing) if p.mailing else None
        verdict_id = self._insert("verdicts", dict(p.row, event_id=event_id, mailing_id=mailing_id))
        for address in p.bounced:
            self._insert("bounces", {
                "verdict_id": verdict_id, "address": address, "domain": address.rpartition("@")[2],
                "bounce_type": p.row["bounce_type"], "status": p.row["status"], "reason": p.row["reason"],
                "diagnostic": p.row["diagnostic"], "mailing_id": mailing_id, "at": p.now})
        for address in p.bounced:
            self._refresh_address(address)
        if p.revive:
            db.execute("UPDATE addresses SET dead = 0, alive_since = ? WHERE address = ? AND dead = 1",
                       [p.now, p.revive])
        return verdict_id

    def _refresh_address(self, address: str) -> None:
        """Recompute an address from its bounces that no admin rejected (inside a write transaction).

        Dead from the first moment the rule held: a hard bounce about the address itself, or
        `soft_threshold` soft bounces (or hard ones about us, NOT_ABOUT_THE_ADDRESS) within the window, counting only bounces since the address last wrote as a
        person (alive_since). Derived from the bounce rows rather than kept as a running
        tally, so a verdict marked false_positive simply drops out.
        """
        db = self._db
        current = db.execute("SELECT alive_since FROM addresses WHERE address = ?", [address]).fetchone()
        alive_since = (current[0] if current else None) or ""
        counted = f"FROM bounces b JOIN verdicts v ON v.id = b.verdict_id WHERE b.address = ? AND v.review NOT IN {_REJECTED_SQL}"
        # Walk the bounces since the address last lived, lazily: the first one that kills it ends the walk,
        # so an address bounced a thousand times costs no more than one bounced once.
        dead_since = None
        recent_soft: list[datetime] = []
        for at, bounce_type, reason in db.execute(
                f"SELECT b.at, b.bounce_type, b.reason {counted} AND b.at >= ? ORDER BY b.at, b.id", [address, alive_since]):
            if bounce_type == "hard" and reason not in NOT_ABOUT_THE_ADDRESS:
                dead_since = at
                break
            moment = parse_iso(at)
            recent_soft = [t for t in recent_soft if t > moment - self.soft_window] + [moment]
            if len(recent_soft) >= self.soft_threshold:
                dead_since = at
                break
        total, hard = db.execute(f"SELECT count(*), coalesce(sum(b.bounce_type = 'hard'), 0) {counted}", [address]).fetchone()
        last = db.execute(f"SELECT b.at, b.bounce_type, b.status, b.reason {counted} ORDER BY b.at DESC, b.id DESC LIMIT 1",
                          [address]).fetchone() or (None, None, None, None)
        record: dict[str, Any] = {
            "address": address, "domain": address.rpartition("@")[2],
            "hard_count": hard, "soft_count": total - hard,
            "last_seen": last[0], "last_bounce_type": last[1], "last_status": last[2], "last_reason": last[3],
            "dead": int(dead_since is not None), "dead_since": dead_since,
        }
        if current is None:
            record["first_seen"] = last[0]
        columns = ", ".join(record)
        updates = ", ".join(f"{c} = excluded.{c}" for c in record if c not in ("address", "first_seen"))
        db.execute(f"INSERT INTO addresses ({columns}) VALUES ({', '.join('?' * len(record))}) "
                   f"ON CONFLICT (address) DO UPDATE SET {updates}", list(record.values()))

    def set_review(self, verdict_id: int, review: str, by: str, note: str | None = None) -> None:
        """An admin's judgement; rejecting a bounce (false_positive/undone) also un-kills its addresses
        unless other bounces still prove them dead. Raises NotFoundError for an unknown id."""
        _check(review, REVIEWS, "review")
        with self._write() as db:
            db.table("verdicts").update(
                verdict_id, {"review": review, "reviewed_by": by, "reviewed_at": self._now(), "review_note": note}
            )
            for (address,) in db.execute("SELECT DISTINCT address FROM bounces WHERE verdict_id = ?",
                                         [verdict_id]).fetchall():
                self._refresh_address(address)

    def list_verdicts(
        self,
        *,
        category: str | None = None,
        review: str | None = None,
        min_conf: float | None = None,
        max_conf: float | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        action_state: str | None = None,
        mailing_id: int | None = None,
        ticket_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """The review queue: newest first, `since` inclusive, `until` exclusive, with each verdict's
        actions summarised (id, kind, planned action, mode, state, attempts, last_error) in one statement.

        `action` filters on the plan of our own ticket update (close, move, tag, restore, none),
        not on a later reopen."""
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (("v.category = ?", category), ("v.review = ?", review),
                              ("v.mailing_id = ?", mailing_id),
                              ("v.event_id IN (SELECT id FROM events WHERE ticket_id = ?)", ticket_id)):
            if value is not None:
                where.append(clause)
                params.append(value)
        for clause, value in (("v.confidence >= ?", min_conf), ("v.confidence <= ?", max_conf),
                              ("v.created_at >= ?", since and iso(since)), ("v.created_at < ?", until and iso(until))):
            if value is not None:
                where.append(clause)
                params.append(value)
        if action is not None:
            where.append("EXISTS (SELECT 1 FROM actions a WHERE a.verdict_id = v.id AND a.kind != 'reopen' "
                         "AND json_extract(a.plan, '$.action') = ?)")
            params.append(action)
        if action_state is not None:
            where.append("EXISTS (SELECT 1 FROM actions a WHERE a.verdict_id = v.id AND a.state = ?)")
            params.append(action_state)
        sql = (
            "SELECT v.*, (SELECT json_group_array(json_object('id', a.id, 'kind', a.kind, "
            "'action', json_extract(a.plan, '$.action'), 'mode', a.mode, 'state', a.state, "
            "'attempts', a.attempts, 'last_error', a.last_error)) "
            "FROM actions a WHERE a.verdict_id = v.id) AS actions FROM verdicts v"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY v.created_at DESC, v.id DESC LIMIT ? OFFSET ?"
        )
        return [_decode(row) for row in self._rows(sql, [*params, limit, offset])]

    def get_verdict(self, verdict_id: int) -> dict[str, Any] | None:
        """One verdict with its full actions (plan, previous), its event and its bounce rows."""
        verdict = self._one("SELECT * FROM verdicts WHERE id = ?", [verdict_id])
        if verdict is None:
            return None
        verdict = _decode(verdict)
        verdict["actions"] = [_decode(a) for a in self._rows("SELECT * FROM actions WHERE verdict_id = ? ORDER BY id",
                                                             [verdict_id])]
        verdict["event"] = self.get_event(verdict["event_id"])
        verdict["bounces"] = self._rows("SELECT * FROM bounces WHERE verdict_id = ? ORDER BY id", [verdict_id])
        return verdict

    # --- mailings ------------------------------------------------------------------------------

    def link_mailing(
        self,
        original_message_id: str | None,
        original_subject: str | None,
        original_date: str | None,
        in_reply_to: str | None = None,
        references: Sequence[str] = (),
        at: datetime | None = None,
    ) -> int | None:
        """The mailing a reply belongs to, created (origin 'auto') when only this mail knows it.

        One mailing is one original Message-ID: matched by the original's id, then In-Reply-To,
        then each Reference. Failing that (or when ids differ per recipient) the same
        `subject_key` within 7 days of the send date is the same mailing. In-Reply-To and
        References only ever match: a person's reply to an agent must not create a mailing.
        None when there is no original id or subject at all.
        """
        keys = _mailing_keys(original_message_id, original_subject, original_date, in_reply_to, references,
                             at or self._clock())
        if keys is None:
            return None
        with self._write() as db:
            return self._link_mailing(db, keys)

    def _link_mailing(self, db: Database, keys: _MailingKeys) -> int | None:
        """The SQL of `link_mailing`, inside the caller's write transaction."""
        mailing_id = None
        if keys.candidates:
            found = dict(db.execute(
                f"SELECT message_id, id FROM mailings WHERE message_id IN ({', '.join('?' * len(keys.candidates))})",
                keys.candidates,
            ).fetchall())
            mailing_id = next((found[m] for m in keys.candidates if m in found), None)
        if mailing_id is None and keys.subject_key:
            mailing_id = self._mailing_by_subject(keys.subject_key, keys.sent)
        now = keys.now
        if mailing_id is not None:
            # An auto mailing learns an earlier send date from a later reply that carries one. Two
            # statements: naming sent_at in SET rewrote its two index entries on every reply.
            db.execute("UPDATE mailings SET last_seen = ? WHERE id = ? AND last_seen < ?", [now, mailing_id, now])
            db.execute("UPDATE mailings SET sent_at = ? WHERE id = ? AND origin = 'auto' AND sent_at > ?",
                       [keys.sent_at, mailing_id, keys.sent_at])
            return mailing_id
        if not keys.own_ids and not keys.subject_key:
            return None
        return self._insert("mailings", {
            "message_id": keys.own_ids[0] if keys.own_ids else None, "subject": keys.subject,
            "subject_key": keys.subject_key or None, "sent_at": keys.sent_at, "first_seen": now,
            "last_seen": now, "origin": "auto",
        })

    def _mailing_by_subject(self, key: str, sent: datetime, *, auto_only: bool = False,
                            message_id: str | None = None) -> int | None:
        """The mailing with this subject key sent closest to `sent`, within MAILING_WINDOW.

        With `auto_only`: only 'auto' mailings whose Message-ID is unknown or equals `message_id`.
        """
        sql = "SELECT id FROM mailings WHERE subject_key = ? AND sent_at BETWEEN ? AND ?"
        params: list[Any] = [key, iso(sent - MAILING_WINDOW), iso(sent + MAILING_WINDOW)]
        if auto_only:
            sql += " AND origin = 'auto' AND (message_id IS NULL OR ? IS NULL OR message_id = ?)"
            params += [message_id, message_id]
        row = self._db.execute(sql + " ORDER BY abs(julianday(sent_at) - julianday(?)), id LIMIT 1",
                               [*params, iso(sent)]).fetchone()
        return int(row[0]) if row else None

    def register_mailing(
        self,
        subject: str,
        sent_at: datetime,
        message_id: str | None = None,
        recipient_count: int | None = None,
        origin: str = "manual",
    ) -> int:
        """A mailing announced by the press office or an API; returns its id.

        Adopts the mailing with the same Message-ID, or else an 'auto' mailing that replies
        already created for the same subject within 7 days (unless both carry different
        Message-IDs), so counts gathered before registration are not stranded.
        """
        _check(origin, MAILING_ORIGINS, "origin")
        ids = _message_ids(message_id)
        mid = ids[0] if ids else None
        key = subject_key(subject)
        now = self._now()
        with self._write() as db:
            row = db.execute("SELECT id FROM mailings WHERE message_id = ?", [mid]).fetchone() if mid else None
            mailing_id = int(row[0]) if row else None
            if mailing_id is None and key:
                mailing_id = self._mailing_by_subject(key, sent_at, auto_only=True, message_id=mid)
            if mailing_id is None:
                return self._insert("mailings", {
                    "message_id": mid, "subject": subject.strip(), "subject_key": key or None,
                    "sent_at": iso(sent_at), "first_seen": now, "last_seen": now, "origin": origin,
                    "recipient_count": recipient_count,
                })
            db.execute(
                "UPDATE mailings SET subject = ?, subject_key = ?, sent_at = ?, origin = ?, "
                "recipient_count = coalesce(?, recipient_count), message_id = coalesce(message_id, ?) WHERE id = ?",
                [subject.strip(), key or None, iso(sent_at), origin, recipient_count, mid, mailing_id],
            )
            return mailing_id

    def list_mailings(self, limit: int = 50, offset: int = 0, q: str | None = None) -> list[dict[str, Any]]:
        """Mailings newest first, each with its counts per STAT_KINDS and total, in one statement.

        The page of mailings is chosen first; its verdicts are grouped straight off the covering
        (mailing_id, category, bounce_type, review) index and only then pivoted per mailing,
        which is several times faster than pivoting every verdict row. `q` searches subject
        and Message-ID.
        """
        like = f"%{q.strip()}%" if q and q.strip() else None
        return self._rows(
            "WITH page AS (SELECT * FROM mailings m WHERE (:like IS NULL OR m.subject LIKE :like "
            "OR m.message_id LIKE :like) ORDER BY m.sent_at DESC, m.id DESC LIMIT :limit OFFSET :offset), "
            f"counts AS (SELECT v.mailing_id, {_KIND_SQL} AS kind, count(*) AS n FROM verdicts v "
            f"WHERE v.mailing_id IN (SELECT id FROM page) AND v.review NOT IN {_REJECTED_SQL} "
            "GROUP BY v.mailing_id, v.category, v.bounce_type) "
            f"SELECT page.*, coalesce(sum(c.n), 0) AS total, {_PIVOT_SQL} "
            "FROM page LEFT JOIN counts c ON c.mailing_id = page.id "
            "GROUP BY page.id ORDER BY page.sent_at DESC, page.id DESC",
            {"like": like, "limit": limit, "offset": offset},
        )

    def get_mailing(self, mailing_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM mailings WHERE id = ?", [mailing_id])

    def dead_addresses(
        self,
        *,
        mailing_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Addresses currently dead, newest death first; `since`/`until` (inclusive/exclusive) bound
        dead_since, `mailing_id` keeps those that bounced for that mailing. No limit: the CSV export."""
        where, params = _dead_where(mailing_id, since, until)
        return self._rows(f"SELECT a.* FROM addresses a WHERE {where} "
                          "ORDER BY a.dead_since DESC, a.address LIMIT ? OFFSET ?",
                          [*params, -1 if limit is None else limit, offset])

    # --- actions: the record of what we did, and the outbox for callback mode ------------------

    def plan_action(
        self,
        event_id: int,
        verdict_id: int | None,
        ticket_id: int,
        kind: str,
        plan: dict[str, Any],
        previous: dict[str, Any] | None,
        mode: str,
        state: str,
        next_attempt_at: datetime | None = None,
    ) -> int:
        """Record what we do to a ticket (and its state before, for undo); returns the action id.

        A 'pending' action is in the outbox, due at `next_attempt_at` (default: now).
        """
        row = self._action_row(ticket_id, kind, plan, previous, mode, state, next_attempt_at)
        with self._write():
            return self._insert("actions", dict(row, event_id=event_id, verdict_id=verdict_id))

    def _action_row(self, ticket_id: int, kind: str, plan: dict[str, Any],
                    previous: dict[str, Any] | None, mode: str, state: str,
                    next_attempt_at: datetime | None = None) -> dict[str, Any]:
        _check(kind, ACTION_KINDS, "kind")
        _check(mode, MODES, "mode")
        _check(state, ACTION_STATES, "state")
        now = self._now()
        due = iso(next_attempt_at) if next_attempt_at else now
        return {
            "ticket_id": ticket_id, "kind": kind,
            "plan": _json(plan), "previous": _json(previous), "mode": mode, "state": state,
            "attempts": 0, "next_attempt_at": due if state == "pending" else None,
            "created_at": now, "updated_at": now,
        }

    def claim_action(self, action_id: int) -> bool:
        """Take a due action for this worker (pending → running, attempts + 1); False if another has it.

        A 'running' claim older than the lease counts as abandoned (the worker crashed) and can be taken.
        """
        now = self._clock()
        with self._write() as db:
            cursor = db.execute(
                "UPDATE actions SET state = 'running', claimed_at = ?, attempts = attempts + 1, updated_at = ? "
                "WHERE id = ? AND ((state = 'pending' AND next_attempt_at <= ?) "
                "OR (state = 'running' AND claimed_at <= ?))",
                [iso(now), iso(now), action_id, iso(now), iso(now - self.lease)],
            )
            return cursor.rowcount == 1

    def action_done(self, action_id: int) -> None:
        """The ticket change went through."""
        now = self._now()
        with self._write() as db:
            db.table("actions").update(action_id, {
                "state": "done", "done_at": now, "updated_at": now, "claimed_at": None,
                "next_attempt_at": None, "last_error": None,
            })

    def action_failed(self, action_id: int, error: str, next_attempt_at: datetime | None) -> None:
        """An attempt failed: back to the outbox at `next_attempt_at` (the caller's backoff), or
        permanently 'failed' when it is None."""
        with self._write() as db:
            db.table("actions").update(action_id, {
                "state": "pending" if next_attempt_at else "failed",
                "next_attempt_at": iso(next_attempt_at) if next_attempt_at else None,
                "last_error": error[:ERROR_CHARS], "claimed_at": None, "updated_at": self._now(),
            })

    def due_actions(self, limit: int = 50) -> list[dict[str, Any]]:
        """Outbox rows to work on now, oldest first: pending and due, or running with an expired lease."""
        now = self._clock()
        rows = self._rows(
            "SELECT * FROM actions WHERE (state = 'pending' AND next_attempt_at <= ?) "
            "OR (state = 'running' AND claimed_at <= ?) ORDER BY next_attempt_at, id LIMIT ?",
            [iso(now), iso(now - self.lease), limit],
        )
        return [_decode(row) for row in rows]

    def pending_count(self) -> int:
        """Outbox depth (pending + running), for metrics and readiness."""
        with self._lock:
            return int(self._conn.execute(
                "SELECT count(*) FROM actions WHERE state = 'pending' OR state = 'running'").fetchone()[0])

    # --- allowlist -------------------------------------------------------------------------------

    def add_allow(self, kind: str, value: str, note: str | None = None, by: str | None = None) -> int:
        """Never treat mail from this sender or domain as machine mail; returns the rule id
        (the existing one if the rule is already there)."""
        _check(kind, ALLOW_KINDS, "kind")
        normalised = _address(value) if kind == "sender" else value.strip().lstrip("@").lower()
        if not normalised or (kind == "domain" and ("@" in normalised or "." not in normalised)):
            raise ValueError(f"{kind} {value!r}: not a valid {'address' if kind == 'sender' else 'domain'}")
        with self._write() as db:
            db.table("allowlist").insert({"kind": kind, "value": normalised, "note": note, "created_by": by,
                                          "created_at": self._now()}, ignore=True)
            return int(db.execute("SELECT id FROM allowlist WHERE kind = ? AND value = ?",
                                  [kind, normalised]).fetchone()[0])

    def remove_allow(self, allow_id: int) -> bool:
        """Delete a rule; False if it was already gone (a repeated form post is harmless)."""
        with self._write() as db:
            return db.execute("DELETE FROM allowlist WHERE id = ?", [allow_id]).rowcount == 1

    def allowlist(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM allowlist ORDER BY kind, value")

    def is_allowed(self, from_addr: str | None) -> str | None:
        """The rule that allows this sender ("sender a@b" / "domain b (note)"), or None.

        Case-insensitive; a domain rule also covers its subdomains; a sender rule wins.
        """
        address = _address(from_addr)
        if not address:
            return None
        labels = address.rpartition("@")[2].split(".")
        domains = [".".join(labels[i:]) for i in range(len(labels))]
        # Asked for every event: one plain statement on the connection (a few rules, no ORDER BY to sort).
        with self._lock:
            rules = self._conn.execute(
                f"SELECT kind, value, note FROM allowlist WHERE value IN ({', '.join('?' * (len(domains) + 1))})",
                [address, *domains]).fetchall()
        matching = [(kind == "sender", len(value), kind, value, note) for kind, value, note in rules
                    if (kind == "sender") == (value == address)]
        if not matching:
            return None
        *_, kind, value, note = max(matching)
        return f"{kind} {value}" + (f" ({note})" if note else "")

    # --- retention and health --------------------------------------------------------------------

    def purge(self, retention_days: int) -> dict[str, Any]:
        """GDPR Art. 9 retention: forget the content of verdicts older than `retention_days`.

        Mails from party members reveal political affiliation, so after the retention period
        we drop everything that is mail content or could quote it: the verdict's subject,
        original subject, snippet, evidence, diagnostic, review note and error; the
        diagnostic of its bounce rows; the note (a text quoting the mail) in its actions' plan.
        Kept, because the press statistics and the dead-address list are built from them:
        category, bounce type/reason/status, confidence, addresses (recipients, from_addr,
        bounces, addresses), mailing links, review state, ticket/article ids and action state.
        Purged verdicts get purged_at, so a rerun touches nothing; returns counts per table.
        """
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        cutoff = iso(self._clock() - timedelta(days=retention_days))
        due = "SELECT id FROM verdicts WHERE created_at < ? AND purged_at IS NULL"
        with self._write() as db:
            actions = db.execute(
                f"UPDATE actions SET plan = json_remove(plan, '$.note') WHERE verdict_id IN ({due}) "
                "AND json_type(plan, '$.note') IS NOT NULL", [cutoff]).rowcount
            bounces = db.execute(
                f"UPDATE bounces SET diagnostic = NULL WHERE verdict_id IN ({due}) AND diagnostic IS NOT NULL",
                [cutoff]).rowcount
            verdicts = db.execute(
                "UPDATE verdicts SET subject = NULL, original_subject = NULL, snippet = NULL, evidence = '[]', "
                "diagnostic = NULL, review_note = NULL, error = NULL, purged_at = ? "
                "WHERE created_at < ? AND purged_at IS NULL", [self._now(), cutoff]).rowcount
        return {"cutoff": cutoff, "verdicts": verdicts, "bounces": bounces, "actions": actions}

    def stats(self) -> dict[str, Any]:
        """Counts for /metrics and readiness: verdicts per category, events per status, outbox, last event."""
        with self._lock:
            conn = self._conn
            verdicts = dict.fromkeys(CATEGORIES, 0) | dict(conn.execute(
                "SELECT category, count(*) FROM verdicts GROUP BY category").fetchall())
            events = dict.fromkeys(EVENT_STATUSES, 0) | dict(conn.execute(
                "SELECT status, count(*) FROM events GROUP BY status").fetchall())
            outbox = dict.fromkeys(("pending", "running", "failed"), 0) | dict(conn.execute(
                f"SELECT state, count(*) FROM actions WHERE {_OUTBOX_SQL} "
                "GROUP BY state").fetchall())
            last = conn.execute("SELECT received_at FROM events ORDER BY id DESC LIMIT 1").fetchone()
            version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        return {"verdicts": verdicts, "events": events, "outbox": outbox,
                "last_event_at": last[0] if last else None, "schema_version": version}

    # --- review and press pages (bouncer/web) ----------------------------------------------------

    def count_dead_addresses(self, *, mailing_id: int | None = None, since: datetime | None = None,
                             until: datetime | None = None) -> int:
        """How many addresses `dead_addresses` returns for the same filters, without fetching them."""
        where, params = _dead_where(mailing_id, since, until)
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM addresses a WHERE {where}", params).fetchone()[0])

    def revived_addresses(self, *, mailing_id: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Addresses that bounced, then wrote to us as a person and are no longer dead, latest first:
        the press officer must not strike them from the distribution list. `mailing_id` keeps those
        that bounced for that mailing."""
        sql = "SELECT a.* FROM addresses a WHERE a.dead = 0 AND a.alive_since IS NOT NULL"
        params: list[Any] = []
        if mailing_id is not None:
            sql += " AND a.address IN (SELECT b.address FROM bounces b WHERE b.mailing_id = ?)"
            params.append(mailing_id)
        return self._rows(sql + " ORDER BY a.alive_since DESC, a.address LIMIT ?",
                          [*params, -1 if limit is None else limit])

    # The mailing's verdicts an admin rejected, from the covering (mailing_id, ..., review) index.
    _REJECTED_OF_MAILING = f"rejected AS (SELECT id FROM verdicts WHERE mailing_id = :mailing AND review IN {_REJECTED_SQL})"

    def mailing_stats(self, mailing_id: int, bucket: str | None = None) -> dict[str, Any] | None:
        """The press page for one mailing; None if there is no such mailing.

        `counts` per STAT_KINDS plus total; `timeline` as [{"t", <kind>: n...}] by hour, or by day
        when replies span more than three days (or as `bucket` says); `top_reasons` and `top_domains`
        of the bounced recipients; rejected verdicts are not counted. Cheap for big mailings (a member
        mailing can bring back thousands of bounces): reasons and domains come from one pass over the
        mailing's bounces, and the few rejected verdicts are looked up once in the covering index."""
        mailing = self.get_mailing(mailing_id)
        if mailing is None:
            return None
        if bucket is None:
            span = parse_iso(mailing["last_seen"]) - parse_iso(mailing["first_seen"])
            bucket = "hour" if span <= timedelta(days=3) else "day"
        width, suffix = {"hour": (13, ":00:00Z"), "day": (10, "")}[_check(bucket, ("hour", "day"), "bucket")]
        timeline: dict[str, dict[str, Any]] = {}
        counts = dict.fromkeys(STAT_KINDS, 0)
        for row in self._rows(
                f"SELECT substr(v.created_at, 1, ?) AS t, {_KIND_SQL} AS kind, count(*) AS n FROM verdicts v "
                f"WHERE v.mailing_id = ? AND v.review NOT IN {_REJECTED_SQL} GROUP BY t, kind ORDER BY t",
                [width, mailing_id]):
            point = timeline.setdefault(row["t"], {"t": row["t"] + suffix, **dict.fromkeys(STAT_KINDS, 0)})
            point[row["kind"]] += row["n"]
            counts[row["kind"]] += row["n"]
        counts["total"] = sum(counts.values())
        reasons: dict[tuple[str, str | None], int] = {}
        domains: dict[str, list[int]] = {}
        for row in self._rows(
                f"WITH {self._REJECTED_OF_MAILING} SELECT coalesce(b.reason, 'other') AS reason, b.bounce_type, b.domain, "
                "count(*) AS n FROM bounces b WHERE b.mailing_id = :mailing AND b.verdict_id NOT IN rejected "
                "GROUP BY 1, 2, 3", {"mailing": mailing_id}):
            key = (row["reason"], row["bounce_type"])
            reasons[key] = reasons.get(key, 0) + row["n"]
            total_hard = domains.setdefault(row["domain"], [0, 0])
            total_hard[0] += row["n"]
            total_hard[1] += row["n"] if row["bounce_type"] == "hard" else 0
        top_reasons = sorted(reasons.items(), key=lambda item: (-item[1], item[0][0]))[:10]
        top_domains = sorted(domains.items(), key=lambda item: (-item[1][0], item[0]))[:10]
        return {
            "mailing": mailing, "counts": counts, "bucket": bucket, "timeline": list(timeline.values()),
            "top_reasons": [{"reason": r, "bounce_type": t, "n": n} for (r, t), n in top_reasons],
            "top_domains": [{"domain": d, "n": n, "hard": hard} for d, (n, hard) in top_domains],
        }

    def failed_addresses(self, mailing_id: int, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Addresses that bounced for this mailing (latest bounce per address), whether they are dead or
        alive again, and how many failed in all (`total`); a page at a time (no limit: the CSV export).
        Rejected verdicts are excluded as in `mailing_stats`."""
        return self._rows(
            f"WITH {self._REJECTED_OF_MAILING}, failed AS (SELECT b.address, b.domain, max(b.at) AS at, b.bounce_type, "
            "b.status, b.reason, b.diagnostic, count(*) AS bounces, count(*) OVER () AS total FROM bounces b "
            "WHERE b.mailing_id = :mailing AND b.verdict_id NOT IN rejected "
            "GROUP BY b.address ORDER BY b.domain, b.address LIMIT :limit OFFSET :offset) "
            "SELECT failed.*, coalesce(a.dead, 0) AS dead, a.dead_since, a.alive_since FROM failed "
            "LEFT JOIN addresses a ON a.address = failed.address ORDER BY failed.domain, failed.address",
            {"mailing": mailing_id, "limit": -1 if limit is None else limit, "offset": offset},
        )
