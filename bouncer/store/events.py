"""The event write path: an article's event, verdict, bounces, addresses, mailing and planned action in
one transaction, and the admin's review that may undo what a verdict meant for its addresses.

The webhook writes once per event (`record_event`); rows are built before the write lock is taken
(`_prepare_verdict`), so other workers wait only for the SQL. The unique (ticket_id, article_id)
lets exactly one of two deliveries of an article record and act, whatever path saw it first.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from ..mail import bare_address, valid_address
from ..spool import Spooled
from ..verdict import Verdict
from ..vocab import (
    BOUNCE_TYPES,
    CATEGORIES,
    EVENT_SOURCES,
    EVENT_STATUSES,
    MAIL_SOURCES,
    PERSON_CATEGORIES,
    REVIEWS,
    check,
    sql_list,
)
from ..vocab import kind as kind_of
from .addresses import REJECTED_SQL, DeadAddresses
from .db import ERROR_CHARS, iso, to_json
from .filters import verdict_where
from .mailings import MailingKeys, Mailings, mailing_keys
from .outbox import Outbox
from .rows import EventRow

_PERSON_SQL = sql_list(PERSON_CATEGORIES)


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
class _PreparedVerdict:
    """A verdict's rows, built before the write lock (see Store.record_event)."""

    row: dict[str, Any]
    bounced: list[str]  # bare addresses, each once
    revive: str | None  # a person's address that proves it alive
    mailing: MailingKeys | None
    now: str




# Categories whose verdict's original always comes from the copy the mail encloses or quotes (a DSN's
# message/rfc822 or headers part, an NDR's quoted mail, an ARF report's original: filters/dsn, ndr, arf).
# An auto-reply's or receipt's may be only its In-Reply-To and its own subject (classify._replied_to).
_COPY_CATEGORIES = frozenset({"bounce", "feedback_report"})


def carries_original(verdict: Verdict) -> bool:
    """Does the mail carry a copy of the original it answers (so it may create a mailing)?"""
    original = verdict.original
    if original.from_ or original.date:  # only a copy tells who sent it and when
        return True
    return verdict.category in _COPY_CATEGORIES and bool(original.message_id or original.subject)


class Events(DeadAddresses, Mailings, Outbox):
    """Recording events and verdicts, and reviewing them."""

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
        check(source, EVENT_SOURCES, "source")
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
            event_id = cursor.lastrowid or 0  # set: the row was inserted
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

    def machine_articles(self, ticket_id: int) -> set[int]:
        """Articles of a ticket we judged machine mail (and nobody marked false positive)."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT e.article_id FROM events e JOIN verdicts v ON v.event_id = e.id WHERE e.ticket_id = ? "
                f"AND v.category NOT IN {_PERSON_SQL} AND v.review NOT IN {REJECTED_SQL}", [ticket_id]).fetchall()
        return {int(row[0]) for row in rows}

    def set_event_status(self, event_id: int, status: str, note: str | None = None) -> None:
        """Move an event along its life; raises NotFoundError for an unknown id."""
        check(status, EVENT_STATUSES, "status")
        with self._write() as db:
            db.table("events").update(event_id, {"status": status, "status_note": note, "updated_at": self._now()})

    def get_event(self, event_id: int) -> EventRow | None:
        """One event, e.g. to see whether a repeated delivery was already finished."""
        return cast("EventRow | None", self._one("SELECT * FROM events WHERE id = ?", [event_id]))

    def _prepare_verdict(self, verdict: Verdict, meta: MailMeta) -> _PreparedVerdict:
        """The verdict's rows and what it means for addresses and mailings, built before the write lock.

        A bounce writes one `bounces` row per bounced recipient and refreshes those addresses
        (dead at once on a hard bounce, or after `soft_threshold` soft bounces within
        `soft_window_days`); a person writing from a dead address revives it.
        """
        check(meta.mail_source, MAIL_SOURCES, "mail_source")
        original = verdict.original  # the fields of Verdict.to_dict, without its deep copy (dataclasses.asdict)
        now_dt = self._clock()
        now = iso(now_dt)
        from_addr = bare_address(meta.from_addr)
        row = {
            "created_at": now, "category": verdict.category,
            "bounce_type": verdict.bounce_type, "reason": verdict.reason, "status": verdict.status,
            "diagnostic": verdict.diagnostic, "confidence": round(verdict.confidence, 3),
            "evidence": to_json(list(verdict.evidence)), "recipients": to_json(list(verdict.recipients)),
            "original_message_id": original.message_id, "original_subject": original.subject,
            "original_date": original.date, "original_from": original.from_,
            "return_date": verdict.return_date.isoformat() if verdict.return_date else None,
            "from_addr": from_addr or meta.from_addr,
            "from_domain": from_addr.rpartition("@")[2] if from_addr else None,
            "subject": meta.subject, "snippet": meta.snippet, "message_id": meta.message_id,
            "in_reply_to": meta.in_reply_to, "refs": to_json(list(meta.references)),
            "ticket_id": meta.ticket_id, "article_id": meta.article_id,
            "source": verdict.source, "review": "pending", "error": verdict.error,
        }
        bounced = (list(dict.fromkeys(a for a in map(bare_address, verdict.recipients) if a))
                   if verdict.category == "bounce" else [])
        revive = from_addr if verdict.category in PERSON_CATEGORIES else None
        mailing = mailing_keys(original.message_id, original.subject, original.date, meta.in_reply_to,
                               meta.references, now_dt, quoted=carries_original(verdict), mail_subject=meta.subject)
        return _PreparedVerdict(row, bounced, revive, mailing, now)

    def _record_prepared(self, db: Database, p: _PreparedVerdict, event_id: int) -> int:
        """The verdict's SQL, inside the caller's write transaction."""
        mailing_id = self._link_mailing(db, p.mailing) if p.mailing else None
        verdict_id = self._insert("verdicts", dict(p.row, event_id=event_id, mailing_id=mailing_id))
        self._insert_bounces(verdict_id, p.bounced, p.row["bounce_type"], p.row["status"], p.row["reason"],
                             p.row["diagnostic"], mailing_id, p.now)
        if p.row["category"] == "bounce":
            self._verify("v.id = ?", [verdict_id])  # checks its bounces and refreshes their addresses
        if p.revive:
            # Alive since now, dead or not yet: a bounce from before that counts only later (its mailing is
            # registered afterwards) must not kill an address that has written to us since.
            db.execute("UPDATE addresses SET dead = 0, alive_since = ? WHERE address = ?", [p.now, p.revive])
        return verdict_id

    def set_review(self, verdict_id: int, review: str, by: str, note: str | None = None) -> None:
        """An admin's judgement (`note` is the admin's own words); rejecting a bounce (false_positive/undone)
        also un-kills its addresses unless other bounces still prove them dead. Raises NotFoundError for an
        unknown id."""
        check(review, REVIEWS, "review")
        with self._write() as db:
            self._review(db, verdict_id, review, by, note)

    def undo_review(self, verdict_id: int, by: str) -> str:
        """Take back the last review of a verdict; returns what was taken back ('confirmed',
        'false_positive', 'corrected'). A correction is undone whole: the verdict's category, bounce type
        and recipients are as before it (its bounce rows too) and every address touched is recomputed.
        Raises NotFoundError for an unknown id."""
        with self._write() as db:
            row = db.execute("SELECT review, note_kind, before_correction FROM verdicts WHERE id = ?",
                             [verdict_id]).fetchone()
            if row is None:
                raise NotFoundError(f"verdict {verdict_id}")
            review, note_kind, before = row
            if note_kind == "corrected" and before:
                was = json.loads(before)
                now = kind_of(*db.execute("SELECT category, bounce_type FROM verdicts WHERE id = ?",
                                          [verdict_id]).fetchone())
                touched = self._replace_bounces(db, verdict_id, was["category"], was["bounce_type"],
                                                was["recipients"])
                db.execute(
                    "UPDATE verdicts SET category = ?, bounce_type = ?, corrected_from = ?, recipients = ?, "
                    "before_correction = ? WHERE id = ?",
                    [was["category"], was["bounce_type"], was["corrected_from"], to_json(was["recipients"]),
                     to_json(was["before"]), verdict_id])
                self._review(db, verdict_id, "pending", by, f"undid correction to {now}",
                             ("undid_correction", {"kind": now}), touched)
                return "corrected"
            self._review(db, verdict_id, "pending", by, f"undid {review}", ("undid", {"review": review}))
            return str(review)

    def _review(self, db: Database, verdict_id: int, review: str, by: str, note: str | None,
                app_note: tuple[str, dict[str, Any]] | None = None, touched: set[str] | None = None) -> None:
        """Write a review (inside a write transaction) and recompute the verdict's addresses and `touched`.
        `app_note` is a note the app writes: its kind and arguments (labels.review_note says it in words)."""
        kind, args = app_note or (None, None)
        if db.execute("UPDATE verdicts SET review = ?, reviewed_by = ?, reviewed_at = ?, review_note = ?, "
                      "note_kind = ?, note_args = ? WHERE id = ?",
                      [review, by, self._now(), note, kind, to_json(args), verdict_id]).rowcount != 1:
            raise NotFoundError(f"verdict {verdict_id}")
        db.execute("UPDATE verdicts SET bounce_check = NULL WHERE id = ? AND category != 'bounce'", [verdict_id])
        refreshed = self._verify("v.id = ?", [verdict_id])  # a corrected bounce's new rows are checked like any
        addresses = {a for (a,) in db.execute("SELECT address FROM bounces WHERE verdict_id = ?", [verdict_id])}
        for address in sorted((addresses | (touched or set())) - refreshed):
            self._refresh_address(address)

    def _replace_bounces(self, db: Database, verdict_id: int, category: str, bounce_type: str | None,
                         recipients: Sequence[str]) -> set[str]:
        """The verdict's bounce rows made anew for `category` and `recipients` (none unless a bounce);
        returns the addresses that had or now have one, for the caller to recompute."""
        status, reason, diagnostic, mailing_id, at = db.execute(
            "SELECT status, reason, diagnostic, mailing_id, created_at FROM verdicts WHERE id = ?",
            [verdict_id]).fetchone()
        touched = {a for (a,) in db.execute("SELECT address FROM bounces WHERE verdict_id = ?", [verdict_id])}
        db.execute("DELETE FROM bounces WHERE verdict_id = ?", [verdict_id])
        bounced = list(dict.fromkeys(a for a in map(bare_address, recipients) if a)) if category == "bounce" else []
        self._insert_bounces(verdict_id, bounced, bounce_type, status, reason or "other", diagnostic, mailing_id, at)
        return touched | set(bounced)

    def _insert_bounces(self, verdict_id: int, addresses: Sequence[str], bounce_type: str | None, status: str | None,
                        reason: str | None, diagnostic: str | None, mailing_id: int | None, at: str) -> None:
        """One bounce row per failed address of a verdict (inside the caller's write transaction); `_verify`
        checks them."""
        for address in addresses:
            self._insert("bounces", {
                "verdict_id": verdict_id, "address": address, "domain": address.rpartition("@")[2],
                "bounce_type": bounce_type, "status": status, "reason": reason, "diagnostic": diagnostic,
                "mailing_id": mailing_id, "at": at})

    def confirm_many(self, by: str, *, min_conf: float, limit: int = 1000, **filters: Any) -> int:
        """Confirm, in one go, up to `limit` unreviewed machine-mail decisions of at least `min_conf`
        that match the review queue's `filters` (filters.verdict_where); returns how many. A person's
        mail is never confirmed in bulk. Confirming changes no address (nothing is rejected)."""
        where, params = verdict_where(**{**filters, "review": "pending", "min_conf": min_conf, "machine_only": True})
        with self._write() as db:
            return db.execute(
                f"UPDATE verdicts SET review = 'confirmed', reviewed_by = ?, reviewed_at = ?, review_note = ?, "
                f"note_kind = 'bulk', note_args = ? "
                f"WHERE id IN (SELECT v.id FROM verdicts v WHERE {where} ORDER BY v.created_at DESC LIMIT ?)",
                [by, self._now(), f"confirmed in bulk (confidence >= {min_conf:.2f})",
                 to_json({"min_conf": min_conf}), *params, limit]).rowcount

    def correct_verdict(self, verdict_id: int, category: str, bounce_type: str | None, by: str,
                        addresses: Sequence[str] | None = None) -> None:
        """An admin says what the mail really was ("a bounce, not an out-of-office"): the verdict's
        category (and bounce type) change, `corrected_from` keeps the first judgement, the review is
        'confirmed'. `addresses` (given by the admin) replace the verdict's recipients; a bounce's
        recipients get bounce rows, a verdict that is no bounce any more loses them, and every address
        touched is recomputed: counts and the dead-address list follow at once. What the verdict was
        is kept (`before_correction`), so `undo_review` restores it. The ticket is not touched again.
        Raises NotFoundError for an unknown id, ValueError for an unknown category or an address that
        is none (mail.valid_address)."""
        check(category, CATEGORIES, "category")
        kind = bounce_type if category == "bounce" else None
        if category == "bounce":
            check(kind or "", BOUNCE_TYPES, "bounce_type")
        typed = None if addresses is None else [valid_address(a) for a in addresses]
        if typed is not None and None in typed:
            raise ValueError(f"not an address: {addresses!r}")
        with self._write() as db:
            row = db.execute("SELECT category, bounce_type, corrected_from, recipients, before_correction "
                             "FROM verdicts WHERE id = ?", [verdict_id]).fetchone()
            if row is None:
                raise NotFoundError(f"verdict {verdict_id}")
            old_category, old_type, corrected_from, recipients, before = row
            old = json.loads(recipients or "[]")
            new = old if typed is None else list(dict.fromkeys(a for a in typed if a))
            was = corrected_from or (f"bounce/{old_type or 'soft'}" if old_category == "bounce" else old_category)
            touched = self._replace_bounces(db, verdict_id, category, kind, new)
            snapshot = {"category": old_category, "bounce_type": old_type, "corrected_from": corrected_from,
                        "recipients": old, "before": json.loads(before) if before else None}
            db.execute("UPDATE verdicts SET category = ?, bounce_type = ?, corrected_from = ?, recipients = ?, "
                       "before_correction = ? WHERE id = ?",
                       [category, kind, was, to_json(new), to_json(snapshot), verdict_id])
            self._review(db, verdict_id, "confirmed", by, f"corrected from {was}",
                         ("corrected", {"was": kind_of(old_category, old_type)}), touched)
