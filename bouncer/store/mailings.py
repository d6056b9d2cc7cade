"""Mailing grouping: which mailing of ours a reply belongs to, created when only the reply knows it.

One mailing is one original Message-ID; failing that, the same subject key within seven days of
the send date. The press pages count per mailing (see read.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from ..mail import mail_date, message_ids
from ..subjects import subject_key
from ..vocab import MAILING_ORIGINS, check
from .db import Connection, iso

MAILING_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class MailingKeys:
    """What identifies the mailing a mail refers to, worked out before the write lock."""

    own_ids: list[str]
    candidates: list[str]
    subject: str | None
    subject_key: str
    sent: datetime
    sent_at: str
    now: str  # the stamp for first_seen/last_seen


def mailing_keys(original_message_id: str | None, original_subject: str | None, original_date: str | None,
                  in_reply_to: str | None, references: Sequence[str], now: datetime) -> MailingKeys | None:
    own_ids = message_ids(original_message_id)
    candidates = list(dict.fromkeys(
        own_ids + message_ids(in_reply_to) + [m for ref in references for m in message_ids(ref)]))
    key = subject_key(original_subject)
    if not candidates and not key:
        return None
    sent = mail_date(original_date) or now
    return MailingKeys(own_ids, candidates, original_subject.strip() if original_subject else None, key,
                        sent, iso(sent), iso(now))



class Mailings(Connection):
    """Finding, creating and registering mailings."""

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
        keys = mailing_keys(original_message_id, original_subject, original_date, in_reply_to, references,
                             at or self._clock())
        if keys is None:
            return None
        with self._write() as db:
            return self._link_mailing(db, keys)

    def _link_mailing(self, db: Database, keys: MailingKeys) -> int | None:
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
        check(origin, MAILING_ORIGINS, "origin")
        ids = message_ids(message_id)
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

