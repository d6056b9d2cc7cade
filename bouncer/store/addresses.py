"""Dead-address rules: when an address we mail to is dead, derived from its verified bounces.

Dead from the first moment the rule held: a hard bounce about the address itself, or
`soft_threshold` soft bounces (or hard ones about us, vocab.NOT_ABOUT_THE_ADDRESS) within the
window, counting only bounces since the address last wrote as a person. The policy file's
`[dead_address]` sets the threshold, the window and whether unverified bounces count.

A bounce counts only when it is verified (`bounce_check`): anyone can send three lines of DSN-like
text naming any address, and enclose an "original" that names any Message-ID. What an outsider
cannot do is make us register a mailing, or add an address to its recipients: so a bounce counts
when it names, as its original's Message-ID, In-Reply-To or References, a mailing registered by hand
or API, and the address is among that mailing's recipients where we know them.
"""
from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from ..mail import address_spellings, message_ids
from ..vocab import BOUNCE_CHECKS, NOT_ABOUT_THE_ADDRESS, REJECTED_REVIEWS, VERIFIED_CHECKS, BounceCheck, sql_list
from .db import Connection, iso, parse_iso

REJECTED_SQL = sql_list(REJECTED_REVIEWS)
# A bounce counts only this long after the mailing's send time (and not before it): real ones come
# within a mail server's queue lifetime (5 days by default), forwards of old mail much later.
BOUNCE_WINDOW = timedelta(days=30)
VERIFIED_SQL = sql_list(VERIFIED_CHECKS)
_RANK = {check: rank for rank, check in enumerate(BOUNCE_CHECKS)}  # best first


def bounce_check(origin: str | None, mailing_message_id: str | None, names: Collection[str],
                 listed: bool | None, in_time: bool = True) -> BounceCheck:
    """Whether a bounce may count toward a dead address (vocab.BounceCheck, the first two count).

    `origin` and `mailing_message_id` are the mailing it was linked to (None: none); `names` the
    Message-IDs the bounce names for its original (its enclosed original's Message-ID, In-Reply-To,
    References, in `<...>` form); `listed` whether the failed address is among the mailing's known
    recipients (None: the recipients are not known); `in_time` whether it came within BOUNCE_WINDOW of
    the send time. A mailing created from replies ('auto') is only what a bounce claimed; a match by
    subject alone is anyone's to make."""
    if origin is None:
        return "no_mailing"
    if origin == "auto":
        return "unregistered"
    if not mailing_message_id or mailing_message_id not in names:
        return "subject_only"
    if not in_time:
        return "out_of_time"
    if listed is None:
        return "registered"
    return "recipient" if listed else "not_a_recipient"


def dead_where(mailing_id: int | None, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """The WHERE clause (on `addresses a`) and parameters of the dead-address filters."""
    # With a mailing, unary + keeps the planner off the (dead, dead_since) index: the mailing's few bounces drive.
    where = ["a.dead = 1" if mailing_id is None else "+a.dead = 1"]
    params: list[Any] = []
    for clause, value in (("a.dead_since >= ?", since and iso(since)), ("a.dead_since < ?", until and iso(until)),
                          (f"a.address IN (SELECT b.address FROM bounces b WHERE b.mailing_id = ? "
                           f"AND b.verification IN {VERIFIED_SQL})", mailing_id)):
        if value is not None:
            where.append(clause)
            params.append(value)
    return " AND ".join(where), params


class DeadAddresses(Connection):
    """The addresses table, kept in step with the bounces inside the write transaction that changes them."""

    def _verify(self, where: str, params: Collection[Any] = ()) -> set[str]:
        """Check (again) the bounces of the bounce verdicts `v` matching `where`, inside a write transaction:
        each bounce row's `verification`, the verdict's best `bounce_check`, and the addresses whose
        bounces changed, which are refreshed and returned. Run when a bounce is recorded, a mailing
        registered or given its recipients, and on opening a store with rows from before m011."""
        db = self._db
        verdicts = db.execute(
            "SELECT v.id, v.original_message_id, v.in_reply_to, v.refs, m.id, m.origin, m.message_id, m.sent_at "
            f"FROM verdicts v LEFT JOIN mailings m ON m.id = v.mailing_id WHERE v.category = 'bounce' AND {where}",
            list(params)).fetchall()
        changed: set[str] = set()
        for verdict_id, original, in_reply_to, refs, mailing_id, origin, mailing_message_id, sent_at in verdicts:
            names = {*message_ids(original), *message_ids(in_reply_to),
                     *(m for ref in json.loads(refs or "[]") for m in message_ids(ref))}
            known = mailing_id is not None and db.execute(
                "SELECT 1 FROM mailing_recipients WHERE mailing_id = ? LIMIT 1", [mailing_id]).fetchone() is not None
            sent = parse_iso(sent_at) if sent_at else None
            checks = []
            for bounce_id, address, before, at in db.execute(
                    "SELECT id, address, verification, at FROM bounces WHERE verdict_id = ?", [verdict_id]).fetchall():
                spellings = address_spellings(address)  # the list may write the domain as Unicode or xn--
                listed = known and db.execute(
                    f"SELECT 1 FROM mailing_recipients WHERE mailing_id = ? AND address IN "
                    f"({', '.join('?' * len(spellings))})", [mailing_id, *spellings]).fetchone() is not None
                in_time = sent is None or sent - timedelta(days=1) <= parse_iso(at) <= sent + BOUNCE_WINDOW
                check = bounce_check(origin, mailing_message_id, names, listed if known else None, in_time)
                if check != before:
                    db.execute("UPDATE bounces SET verification = ? WHERE id = ?", [check, bounce_id])
                    changed.add(address)
                checks.append(check)
            # A bounce without a readable address is checked as its mailing and Message-ID allow.
            best = min(checks, key=_RANK.__getitem__) if checks else bounce_check(origin, mailing_message_id, names,
                                                                                  None)
            db.execute("UPDATE verdicts SET bounce_check = ? WHERE id = ? AND bounce_check IS NOT ?",
                       [best, verdict_id, best])
        for address in sorted(changed):
            self._refresh_address(address)
        return changed

    def _refresh_address(self, address: str) -> None:
        """Recompute an address from its bounces that no admin rejected (inside a write transaction).

        Dead from the first moment the rule held: a hard bounce about the address itself, or
        `soft_threshold` soft bounces (or hard ones about us, NOT_ABOUT_THE_ADDRESS) within the window,
        counting only bounces since the address last wrote as a person (alive_since), and only verified
        ones (bounce_check) unless the policy counts all. Derived from the bounce rows rather than kept as
        a running tally, so a verdict marked false_positive simply drops out.
        """
        db = self._db
        current = db.execute("SELECT alive_since FROM addresses WHERE address = ?", [address]).fetchone()
        alive_since = (current[0] if current else None) or ""
        considered = (f"FROM bounces b JOIN verdicts v ON v.id = b.verdict_id "
                      f"WHERE b.address = ? AND v.review NOT IN {REJECTED_SQL}")
        counts_sql = "1" if self.count_unverified else f"b.verification IN {VERIFIED_SQL}"
        counted = f"{considered} AND {counts_sql}"
        # Walk the bounces since the address last lived, lazily: the first one that kills it ends the walk,
        # so an address bounced a thousand times costs no more than one bounced once.
        dead_since = None
        recent_soft: list[datetime] = []
        for at, bounce_type, reason in db.execute(
                f"SELECT b.at, b.bounce_type, b.reason {counted} AND b.at >= ? ORDER BY b.at, b.id",
                [address, alive_since]):
            if bounce_type == "hard" and reason not in NOT_ABOUT_THE_ADDRESS:
                dead_since = at
                break
            moment = parse_iso(at)
            recent_soft = [t for t in recent_soft if t > moment - self.soft_window] + [moment]
            if len(recent_soft) >= self.soft_threshold:
                dead_since = at
                break
        total, hard, unverified = db.execute(
            f"SELECT count(*) FILTER (WHERE {counts_sql}), "
            f"coalesce(sum(b.bounce_type = 'hard') FILTER (WHERE {counts_sql}), 0), "
            f"count(*) FILTER (WHERE b.verification NOT IN {VERIFIED_SQL}) {considered}", [address]).fetchone()
        # The last bounce shown is the last that counted; an address with none that counted shows its last one.
        last = db.execute(f"SELECT b.at, b.bounce_type, b.status, b.reason {considered} "
                          f"ORDER BY {counts_sql} DESC, b.at DESC, b.id DESC LIMIT 1", [address]).fetchone() \
            or (None, None, None, None)
        record: dict[str, Any] = {
            "address": address, "domain": address.rpartition("@")[2],
            "hard_count": hard, "soft_count": total - hard,
            "last_seen": last[0], "last_bounce_type": last[1], "last_status": last[2], "last_reason": last[3],
            "dead": int(dead_since is not None), "dead_since": dead_since, "unverified_count": unverified,
        }
        if current is None:
            record["first_seen"] = last[0]
        columns = ", ".join(record)
        updates = ", ".join(f"{c} = excluded.{c}" for c in record if c not in ("address", "first_seen"))
        db.execute(f"INSERT INTO addresses ({columns}) VALUES ({', '.join('?' * len(record))}) "
                   f"ON CONFLICT (address) DO UPDATE SET {updates}", list(record.values()))

