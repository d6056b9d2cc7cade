"""Dead-address rules: when an address we mail to is dead, derived from its bounces.

Dead from the first moment the rule held: a hard bounce about the address itself, or
`soft_threshold` soft bounces (or hard ones about us, vocab.NOT_ABOUT_THE_ADDRESS) within the
window, counting only bounces since the address last wrote as a person. The policy file's
`[dead_address]` sets the threshold and the window.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ..vocab import NOT_ABOUT_THE_ADDRESS, REJECTED_REVIEWS, sql_list
from .db import Connection, iso, parse_iso

REJECTED_SQL = sql_list(REJECTED_REVIEWS)


def dead_where(mailing_id: int | None, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
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


class DeadAddresses(Connection):
    """The addresses table, kept in step with the bounces inside the write transaction that changes them."""

    def _refresh_address(self, address: str) -> None:
        """Recompute an address from its bounces that no admin rejected (inside a write transaction).

        Dead from the first moment the rule held: a hard bounce about the address itself, or
        `soft_threshold` soft bounces (or hard ones about us, NOT_ABOUT_THE_ADDRESS) within the window,
        counting only bounces since the address last wrote as a person (alive_since). Derived from the
        bounce rows rather than kept as a running tally, so a verdict marked false_positive simply drops out.
        """
        db = self._db
        current = db.execute("SELECT alive_since FROM addresses WHERE address = ?", [address]).fetchone()
        alive_since = (current[0] if current else None) or ""
        counted = (f"FROM bounces b JOIN verdicts v ON v.id = b.verdict_id "
                   f"WHERE b.address = ? AND v.review NOT IN {REJECTED_SQL}")
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
        total, hard = db.execute(f"SELECT count(*), coalesce(sum(b.bounce_type = 'hard'), 0) {counted}",
                                 [address]).fetchone()
        last = db.execute(f"SELECT b.at, b.bounce_type, b.status, b.reason {counted} "
                          "ORDER BY b.at DESC, b.id DESC LIMIT 1", [address]).fetchone() or (None, None, None, None)
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

