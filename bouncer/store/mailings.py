"""Mailing grouping: which mailing of ours a reply belongs to, created only from a copy of our original.

One mailing is one original Message-ID: a reply is matched by the id of the original it encloses or
quotes, then by its In-Reply-To and References. Failing that, by the original's subject with every
reply, receipt, bounce and acknowledgement prefix stripped (bouncer/subjects.py; for a reply that
names the original only in its own subject, "Unzustellbar: PM 112/2026: …", that subject stripped),
within seven days of the send time. Only a mail that carries a copy of one of our originals (an
enclosed message or its quoted headers: then the original's From or Date is known) creates a
mailing; an id or a subject alone only ever matches one. An original that is a
ticket's mail ("[Ticket#…]", Znuny's hook on every agent's answer) is a conversation, never a mailing.
Machine mail that matches nothing is about "no mailing", which the press pages count on their own.
The press pages count per mailing (see read.py).
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from ..mail import address_spellings, bare_address, mail_date, message_ids
from ..subjects import has_prefix, has_ticket_hook, strip_prefixes, subject_key
from ..vocab import MAILING_ORIGINS, check
from .db import Connection, iso, parse_iso

MAILING_WINDOW = timedelta(days=7)
_BATCH = 500  # addresses per statement when added recipients' bounces are checked again


class MailingExists(ValueError):
    """A mailing with this Message-ID was registered before (by hand or API): re-registering it would
    silently overwrite its subject, time and recipients."""

    def __init__(self, mailing_id: int, message_id: str) -> None:
        super().__init__(f"mailing {mailing_id} is already registered with Message-ID {message_id}")
        self.mailing_id, self.message_id = mailing_id, message_id


@dataclass(frozen=True)
class MailingKeys:
    """What identifies the mailing a mail refers to, worked out before the write lock."""

    own_ids: list[str]
    candidates: list[str]
    subject: str | None
    subject_key: str  # '' when the subject must not be matched (none, or a conversation's)
    sent: datetime
    sent_at: str
    sent_known: bool  # the original's Date was read; else `sent` is the reply's time
    may_create: bool  # the mail carries a copy of our original (see the module's docstring)
    now: str  # the stamp for first_seen/last_seen


def mailing_keys(original_message_id: str | None, original_subject: str | None, original_date: str | None,
                 in_reply_to: str | None, references: Sequence[str], now: datetime, *,
                 quoted: bool = False, mail_subject: str | None = None) -> MailingKeys | None:
    """The keys of the mailing a reply refers to (None: it names no original at all).

    `original_*` are the verdict's (bouncer/verdict.py Original); `quoted` says they were read from a
    copy of the original the mail carries; `mail_subject` is the reply's own subject, used when the
    original's is unknown and the reply's carries a prefix before it."""
    own_ids = message_ids(original_message_id)
    candidates = list(dict.fromkeys(
        own_ids + message_ids(in_reply_to) + [m for ref in references for m in message_ids(ref)]))
    subject = original_subject.strip() if original_subject and original_subject.strip() else None
    if subject is None and has_prefix(mail_subject) and not has_ticket_hook(mail_subject):
        subject = strip_prefixes(mail_subject) or None  # "Unzustellbar: PM 112/2026: …", not a ticket's "Re: …"
    conversation = has_ticket_hook(subject)  # our agent's answer in a ticket, not a mailing
    key = "" if conversation else subject_key(subject)
    if not candidates and not key:
        return None
    date = mail_date(original_date)
    sent = date or now
    return MailingKeys(own_ids, candidates, strip_prefixes(subject) if subject else None, key, sent, iso(sent),
                       date is not None, quoted and not conversation and bool(own_ids or key), iso(now))


class Mailings(Connection):
    """Finding, creating and registering mailings."""

    def _verify(self, where: str, params: Collection[Any] = ()) -> set[str]:
        """Check bounces again (addresses.DeadAddresses._verify; the store's facade combines both)."""
        raise NotImplementedError

    def link_mailing(
        self,
        original_message_id: str | None,
        original_subject: str | None,
        original_date: str | None,
        in_reply_to: str | None = None,
        references: Sequence[str] = (),
        at: datetime | None = None,
        quoted: bool = False,
        mail_subject: str | None = None,
    ) -> int | None:
        """The mailing a reply belongs to, created (origin 'auto') only when the reply carries a copy
        of the original (`quoted`); None when it belongs to none (see the module's docstring)."""
        keys = mailing_keys(original_message_id, original_subject, original_date, in_reply_to, references,
                            at or self._clock(), quoted=quoted, mail_subject=mail_subject)
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
            # An auto mailing learns its send date from a later reply that carries one. Separate
            # statements: naming sent_at in SET rewrote its two index entries on every reply.
            db.execute("UPDATE mailings SET last_seen = ? WHERE id = ? AND last_seen < ?", [now, mailing_id, now])
            if keys.sent_known:
                db.execute("UPDATE mailings SET sent_at = ?, sent_known = 1 WHERE id = ? AND origin = 'auto' "
                           "AND (sent_known = 0 OR sent_at > ?)", [keys.sent_at, mailing_id, keys.sent_at])
            return mailing_id
        if not keys.may_create:
            return None
        mailing_id = self._insert("mailings", {
            "message_id": keys.own_ids[0] if keys.own_ids else None, "subject": keys.subject,
            "subject_key": keys.subject_key or None, "sent_at": keys.sent_at, "sent_known": int(keys.sent_known),
            "first_seen": now, "last_seen": now, "origin": "auto",
        })
        if keys.own_ids and (adopted := self._adopt_earlier_replies(db, mailing_id, keys.own_ids[0], keys.sent_at)):
            self._verify(f"v.id IN ({', '.join('?' * len(adopted))})", adopted)  # their bounces name a mailing now
        return mailing_id

    def _adopt_earlier_replies(self, db: Database, mailing_id: int, message_id: str, since: str) -> list[int]:
        """Replies recorded before their mailing was known (an out-of-office naming it only by
        In-Reply-To came first) join it once a copy of the original arrives or it is registered; so do
        replies naming it that went, by subject, to a mailing only replies made (a forged bounce may have
        made that one first). Only verdicts since `since` are read (the created_at index), so this costs
        one look at the days since sending. Returns the verdicts that joined, for the caller to check."""
        adopted = [row[0] for row in db.execute(
            "SELECT id FROM verdicts WHERE created_at >= ? AND (original_message_id = ? OR in_reply_to = ?) "
            "AND mailing_id IS NOT ? AND (mailing_id IS NULL OR mailing_id IN "
            "(SELECT id FROM mailings WHERE origin = 'auto'))",
            [since, message_id, message_id, mailing_id]).fetchall()]
        for verdict_id in adopted:
            db.execute("UPDATE verdicts SET mailing_id = ? WHERE id = ?", [mailing_id, verdict_id])
            db.execute("UPDATE bounces SET mailing_id = ? WHERE verdict_id = ?", [mailing_id, verdict_id])
        return adopted

    def _mailing_by_subject(self, key: str, sent: datetime, *, auto_only: bool = False,
                            message_id: str | None = None, unnamed_only: bool = False) -> int | None:
        """The mailing with this subject key sent closest to `sent`, within MAILING_WINDOW.

        With `auto_only`: only 'auto' mailings whose Message-ID is unknown or equals `message_id`;
        with `unnamed_only`: only registered ones without a Message-ID.
        """
        sql = "SELECT id FROM mailings WHERE subject_key = ? AND sent_at BETWEEN ? AND ?"
        params: list[Any] = [key, iso(sent - MAILING_WINDOW), iso(sent + MAILING_WINDOW)]
        if auto_only:
            sql += " AND origin = 'auto' AND (message_id IS NULL OR ? IS NULL OR message_id = ?)"
            params += [message_id, message_id]
        if unnamed_only:
            sql += " AND origin != 'auto' AND message_id IS NULL"
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
        recipients: Iterable[str] = (),
    ) -> int:
        """A mailing announced by the press office or an API; returns its id.

        Adopts the 'auto' mailing with the same Message-ID, or else one that replies already created
        for the same subject within 7 days (unless both carry different Message-IDs), so counts
        gathered before registration are not stranded; replies recorded before and naming its
        Message-ID join it. `recipients` (addresses; what is no address is skipped) become the
        mailing's known recipients, and `recipient_count` at least their number. Its bounces are
        then checked again (addresses.bounce_check): from now on they count. Raises MailingExists when
        a mailing with this Message-ID was already registered (by hand or API).
        """
        check(origin, MAILING_ORIGINS, "origin")
        ids = message_ids(message_id)
        mid = ids[0] if ids else None
        key = subject_key(subject)
        now = self._now()
        with self._write() as db:
            row = db.execute("SELECT id, origin FROM mailings WHERE message_id = ?", [mid]).fetchone() if mid else None
            if row is not None and row[1] != "auto":
                raise MailingExists(int(row[0]), str(mid))
            mailing_id = int(row[0]) if row else None
            if mailing_id is None and key:
                mailing_id = self._mailing_by_subject(key, sent_at, auto_only=True, message_id=mid)
            if mailing_id is None and key and mid:  # the Message-ID for one registered without it
                mailing_id = self._mailing_by_subject(key, sent_at, unnamed_only=True)
            if mailing_id is None:
                mailing_id = self._insert("mailings", {
                    "message_id": mid, "subject": subject.strip(), "subject_key": key or None,
                    "sent_at": iso(sent_at), "first_seen": now, "last_seen": now, "origin": origin,
                    "recipient_count": recipient_count,
                })
            else:
                # Only the Message-ID the registering user gave is ours: an adopted 'auto' mailing's own one
                # came from a bounce's enclosed original, which anyone could have invented.
                db.execute(
                    "UPDATE mailings SET subject = ?, subject_key = ?, sent_at = ?, sent_known = 1, origin = ?, "
                    "recipient_count = coalesce(?, recipient_count), message_id = ? WHERE id = ?",
                    [subject.strip(), key or None, iso(sent_at), origin, recipient_count, mid, mailing_id])
            if mid:
                self._adopt_earlier_replies(db, mailing_id, mid, iso(sent_at - MAILING_WINDOW))
            self._add_recipients(db, mailing_id, recipients, check=False)
            self._verify("v.mailing_id = ?", [mailing_id])  # registered now: all its bounces checked again
            return mailing_id

    def name_mailing(self, mailing_id: int, message_id: str) -> int:
        """Give this mailing the Message-ID a user copied from the sent mail, making it ours: a mailing only
        replies made (origin 'auto': registered by hand now) or one registered without a Message-ID. A
        mailing only replies made under that Message-ID (a second one, by subject) is merged into this
        one; replies naming it join; the bounces are checked again. Returns this mailing's id; raises
        NotFoundError for no such mailing, MailingExists when another registered mailing has that
        Message-ID, ValueError when this one has another Message-ID already or none is given."""
        ids = message_ids(message_id)
        if not ids:
            raise ValueError("no Message-ID given")
        mid = ids[0]
        with self._write() as db:
            row = db.execute("SELECT origin, message_id, sent_at FROM mailings WHERE id = ?", [mailing_id]).fetchone()
            if row is None:
                raise NotFoundError(f"no mailing {mailing_id}")
            origin, known, sent_at = row
            if origin != "auto" and known and known != mid:
                raise ValueError(f"mailing {mailing_id} is registered with Message-ID {known}")
            other = db.execute("SELECT id, origin FROM mailings WHERE message_id = ? AND id != ?",
                               [mid, mailing_id]).fetchone()
            if other is not None and other[1] != "auto":
                raise MailingExists(int(other[0]), mid)
            if other is not None:  # replies made two mailings of one: they are one, and it is ours
                db.execute("UPDATE verdicts SET mailing_id = ? WHERE mailing_id = ?", [mailing_id, other[0]])
                db.execute("UPDATE bounces SET mailing_id = ? WHERE mailing_id = ?", [mailing_id, other[0]])
                db.execute("DELETE FROM mailings WHERE id = ?", [other[0]])
            db.execute("UPDATE mailings SET message_id = ?, origin = CASE origin WHEN 'auto' THEN 'manual' "
                       "ELSE origin END, sent_known = 1 WHERE id = ?", [mid, mailing_id])
            self._adopt_earlier_replies(db, mailing_id, mid, iso(parse_iso(sent_at) - MAILING_WINDOW))
            self._verify("v.mailing_id = ?", [mailing_id])
            return mailing_id

    def replies_naming(self, mailing_id: int, message_id: str) -> int:
        """How many of the mailing's replies name this Message-ID as their original or In-Reply-To: none,
        for a Message-ID a user copied, suggests a typo."""
        ids = message_ids(message_id)
        if not ids:
            return 0
        with self._lock:
            return int(self._conn.execute(
                "SELECT count(*) FROM verdicts WHERE mailing_id = ? AND (original_message_id = ? OR in_reply_to = ?)",
                [mailing_id, ids[0], ids[0]]).fetchone()[0])

    def bounces_not_listed(self, mailing_id: int) -> int:
        """Bounces of the mailing for addresses not among its known recipients: after a list was given,
        many of them suggest the list is not complete."""
        with self._lock:
            return int(self._conn.execute(
                "SELECT count(DISTINCT address) FROM bounces WHERE mailing_id = ? AND verification = 'not_a_recipient'",
                [mailing_id]).fetchone()[0])

    def add_recipients(self, mailing_id: int, addresses: Iterable[str]) -> int:
        """More known recipients for a registered mailing (what is no address is skipped); its bounces
        are checked again. Returns how many addresses were new; raises NotFoundError for no such
        mailing and ValueError for one only replies named ('auto': register it first)."""
        with self._write() as db:
            row = db.execute("SELECT origin FROM mailings WHERE id = ?", [mailing_id]).fetchone()
            if row is None:
                raise NotFoundError(f"no mailing {mailing_id}")
            if row[0] == "auto":
                raise ValueError(f"mailing {mailing_id} is only known from replies; register it first")
            return self._add_recipients(db, mailing_id, addresses)

    def _add_recipients(self, db: Database, mailing_id: int, recipients: Iterable[str], check: bool = True) -> int:
        """Insert the recipients (inside the caller's transaction; what is no address is skipped) and raise the
        mailing's `recipient_count` to their number; returns how many were new. With `check`,
        check again the bounces they decide: all of the mailing's when it knew no recipient before (its
        `registered` ones become `recipient` or `not_a_recipient`), else only those for the added
        addresses, so an API adding a big list in batches does not re-check the whole mailing each time."""
        addresses = sorted({a for a in map(bare_address, recipients) if a})
        count = "SELECT count(*) FROM mailing_recipients WHERE mailing_id = ?"
        before = db.execute(count, [mailing_id]).fetchone()[0]
        db.conn.executemany("INSERT OR IGNORE INTO mailing_recipients (mailing_id, address) VALUES (?, ?)",
                            [(mailing_id, address) for address in addresses])
        after = db.execute(count, [mailing_id]).fetchone()[0]
        if after:
            db.execute("UPDATE mailings SET recipient_count = max(coalesce(recipient_count, 0), ?) WHERE id = ?",
                       [after, mailing_id])
        if check and after > before:
            if not before:
                self._verify("v.mailing_id = ?", [mailing_id])
            else:
                spellings = [s for address in addresses for s in address_spellings(address)]
                for start in range(0, len(spellings), _BATCH):
                    batch = spellings[start:start + _BATCH]
                    self._verify(f"v.id IN (SELECT b.verdict_id FROM bounces b WHERE b.mailing_id = ? AND b.address "
                                 f"IN ({', '.join('?' * len(batch))}))", [mailing_id, *batch])
        return int(after - before)

    def recipients_known(self, mailing_id: int) -> int:
        """How many recipients of the mailing we know (0: none, so its bounces are checked by Message-ID only)."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM mailing_recipients WHERE mailing_id = ?",
                                          [mailing_id]).fetchone()[0])
