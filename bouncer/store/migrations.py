"""The schema's history: one registered function per migration, applied in order, each once.

The sqlite-utils way (as sqlite-migrate does it): a migration is a plain function taking the
`Database`, registered by the `@migration` decorator; its position is its version, recorded in
`schema_migrations`. Append only: a released migration is never edited, a change is a new one.
"""
from __future__ import annotations

import logging
import zlib
from collections.abc import Callable

from sqlite_utils import Database

from ..spool import Spool, spool_directory
from .db import Connection, iso, utcnow

Migration = Callable[[Database], None]
MIGRATIONS: list[Migration] = []

log = logging.getLogger("bouncer.store")


def migration(function: Migration) -> Migration:
    """Register `function` as the next migration."""
    MIGRATIONS.append(function)
    return function


def migrate(store: Connection) -> None:
    """Apply each registered migration not yet recorded; the check runs under the write lock, so two
    processes starting together do not both apply one."""
    with store._write() as db:
        db.table("schema_migrations").create({"version": int, "applied_at": str}, pk="version", if_not_exists=True)
    for version, function in enumerate(MIGRATIONS, start=1):
        with store._write() as db:
            if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [version]).fetchone():
                continue
            function(db)
            db.table("schema_migrations").insert({"version": version, "applied_at": iso(store.clock())})


@migration
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


@migration
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


@migration
def m003_lighter_writes(db: Database) -> None:
    """Fewer index pages written per webhook event (each is a WAL page per commit).

    The (status, received_at) index moved every event from 'accepted' to 'classified' on its
    second commit (3.2 WAL pages per event), and no query asks it: crash recovery goes by the
    payload spool. No query looks actions up by event_id (the review pages go by verdict_id).
    """
    db.execute("DROP INDEX IF EXISTS idx_events_status_received_at")
    db.execute("DROP INDEX IF EXISTS idx_actions_event_id")


@migration
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


@migration
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



@migration
def m006_runs(db: Database) -> None:
    """Sweeps and catch-up rounds (bouncer/sweep.py, bouncer/catchup.py): when, with what settings,
    what they found and did (`summary`), the catch-up's watermark (`until`: the next round looks
    from there) and a sweep's per-ticket CSV report."""
    runs = db.table("runs").create(
        {"id": int, "kind": str, "mode": str, "status": str, "started_at": str, "finished_at": str,
         "started_by": str, "params": str, "summary": str, "until": str, "report": str, "error": str},
        pk="id", not_null={"kind", "mode", "status", "started_at"})
    runs.create_index(["kind", "started_at"])


@migration
def m007_mailings_and_corrections(db: Database) -> None:
    """A mailing knows whether its send time is known (its original carried a Date) or only guessed
    from the first reply (`sent_known` 0: the pages say "sent: unknown"); a verdict an admin
    corrected keeps what it was (`corrected_from`, e.g. 'auto_reply' or 'bounce/soft'); the address
    search and the review queue's sender search find a sender's mail through an index."""
    db.execute("ALTER TABLE mailings ADD COLUMN sent_known INTEGER NOT NULL DEFAULT 1")
    db.execute("ALTER TABLE verdicts ADD COLUMN corrected_from TEXT")
    db.execute("CREATE INDEX idx_verdicts_from_addr ON verdicts (from_addr)")


@migration
def m008_inline_confirmation(db: Database) -> None:
    """Inline answers wait as 'sent' until Znuny confirms them; the worker finds the ones still
    waiting through this small index (only rows in that state are in it)."""
    db.execute("CREATE INDEX idx_actions_sent ON actions (created_at) WHERE state = 'sent'")


@migration
def m009_unlinked_machine_mail(db: Database) -> None:
    """Machine mail about no mailing (read.no_mailing_stats) is counted and listed from a small partial
    index of its own: a scan of every verdict took 50-70 ms on each mailings page with 100,000 verdicts.
    Its WHERE is the query's own text (read._UNLINKED_SQL), so SQLite can use it."""
    db.execute("CREATE INDEX idx_verdicts_unlinked ON verdicts (created_at, category, bounce_type, review) "
               "WHERE mailing_id IS NULL AND category NOT IN ('human', 'unsubscribe')")


@migration
def m010_review_notes(db: Database) -> None:
    """A note the app writes on a review is kept as a code and its arguments (`note_kind`, `note_args`
    JSON), so the pages can say it in the reader's language (`review_note` keeps the English for the
    API); a corrected verdict keeps what it was before (`before_correction` JSON), so undoing the review
    restores it; an allowlist rule added with a false positive names its decision (`verdict_id`)."""
    db.execute("ALTER TABLE verdicts ADD COLUMN note_kind TEXT")
    db.execute("ALTER TABLE verdicts ADD COLUMN note_args TEXT")
    db.execute("ALTER TABLE verdicts ADD COLUMN before_correction TEXT")
    db.execute("ALTER TABLE allowlist ADD COLUMN verdict_id INTEGER")


@migration
def m011_verified_bounces(db: Database) -> None:
    """Forged bounces must not kill addresses: each bounce row records whether it refers to a mailing
    we registered (`verification`, a vocab.BounceCheck; NULL until checked, which opening the store does,
    so rows from before this migration are checked by the same rules as new ones); a mailing may know
    its recipients (`mailing_recipients`, matched case-insensitively as mail systems do in practice);
    an address keeps how many of its bounces did not count (`unverified_count`). A verdict keeps the best
    check of its bounces (`bounce_check`), so the press pages count unverified bounces apart."""
    db.execute("ALTER TABLE bounces ADD COLUMN verification TEXT")
    db.execute("ALTER TABLE addresses ADD COLUMN unverified_count INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE verdicts ADD COLUMN bounce_check TEXT")
    db.execute("CREATE TABLE mailing_recipients (mailing_id INTEGER NOT NULL REFERENCES mailings(id), "
               "address TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY (mailing_id, address)) WITHOUT ROWID")
    db.execute("CREATE INDEX idx_verdicts_unchecked ON verdicts (id) "
               "WHERE category = 'bounce' AND bounce_check IS NULL")
    # The mailings page counts straight off this index again, now that a bounce's kind depends on its check.
    db.execute("DROP INDEX IF EXISTS idx_verdicts_mailing")
    db.execute("CREATE INDEX idx_verdicts_mailing ON verdicts "
               "(mailing_id, category, bounce_type, review, bounce_check) WHERE mailing_id IS NOT NULL")
