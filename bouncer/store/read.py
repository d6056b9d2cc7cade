"""The read model for the pages, the API and /metrics: listings and statistics as typed rows (rows.py).

Rejected verdicts (false positive, undone) never count in statistics. Every query here is
chosen so that big mailings stay cheap (see each method); bench/pages.py times them.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from ..vocab import CATEGORIES, EVENT_STATUSES, KINDS, OUTBOX_STATES, check, kind_sql, sql_any
from .addresses import REJECTED_SQL, dead_where
from .db import Connection, decode, iso, parse_iso
from .rows import (
    AddressRow,
    FailedAddressRow,
    MailingListRow,
    MailingRow,
    MailingStats,
    OptOutRow,
    StoreStats,
    VerdictDetail,
    VerdictListRow,
)

_KIND_SQL = kind_sql("v")
_PIVOT_SQL = ", ".join(f"coalesce(sum(c.n) FILTER (WHERE c.kind = '{k}'), 0) AS {k}" for k in KINDS)
# Written as ORs, which SQLite matches against the partial index idx_actions_outbox (m005).
_OUTBOX_SQL = sql_any("state", OUTBOX_STATES)


class ReadModel(Connection):
    """Queries for the review queue, the press pages, the API and health."""

    def stats(self) -> StoreStats:
        """Counts for /metrics and readiness: verdicts per category, events per status, outbox, last event."""
        with self._lock:
            conn = self._conn
            verdicts: dict[str, int] = dict.fromkeys(map(str, CATEGORIES), 0) | dict(conn.execute(
                "SELECT category, count(*) FROM verdicts GROUP BY category").fetchall())
            events: dict[str, int] = dict.fromkeys(map(str, EVENT_STATUSES), 0) | dict(conn.execute(
                "SELECT status, count(*) FROM events GROUP BY status").fetchall())
            outbox: dict[str, int] = dict.fromkeys(map(str, OUTBOX_STATES), 0) | dict(conn.execute(
                f"SELECT state, count(*) FROM actions WHERE {_OUTBOX_SQL} "
                "GROUP BY state").fetchall())
            last = conn.execute("SELECT received_at FROM events ORDER BY id DESC LIMIT 1").fetchone()
            version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        return {"verdicts": verdicts, "events": events, "outbox": outbox,
                "last_event_at": last[0] if last else None, "schema_version": version}


    def count_dead_addresses(self, *, mailing_id: int | None = None, since: datetime | None = None,
                             until: datetime | None = None) -> int:
        """How many addresses `dead_addresses` returns for the same filters, without fetching them."""
        where, params = dead_where(mailing_id, since, until)
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM addresses a WHERE {where}", params).fetchone()[0])

    def revived_addresses(self, *, mailing_id: int | None = None, limit: int | None = None) -> list[AddressRow]:
        """Addresses that bounced, then wrote to us as a person and are no longer dead, latest first:
        the press officer must not strike them from the distribution list. `mailing_id` keeps those
        that bounced for that mailing."""
        sql = "SELECT a.* FROM addresses a WHERE a.dead = 0 AND a.alive_since IS NOT NULL"
        params: list[Any] = []
        if mailing_id is not None:
            sql += " AND a.address IN (SELECT b.address FROM bounces b WHERE b.mailing_id = ?)"
            params.append(mailing_id)
        return cast("list[AddressRow]", self._rows(sql + " ORDER BY a.alive_since DESC, a.address LIMIT ?",
                                                    [*params, -1 if limit is None else limit]))

    # The mailing's verdicts an admin rejected, from the covering (mailing_id, ..., review) index.
    _REJECTED_OF_MAILING = ("rejected AS (SELECT id FROM verdicts "
                            f"WHERE mailing_id = :mailing AND review IN {REJECTED_SQL})")

    def mailing_stats(self, mailing_id: int, bucket: str | None = None) -> MailingStats | None:
        """The press page for one mailing; None if there is no such mailing.

        `counts` per vocab.KINDS plus total; `timeline` as [{"t", <kind>: n...}] by hour, or by day
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
        width, suffix = {"hour": (13, ":00:00Z"), "day": (10, "")}[check(bucket, ("hour", "day"), "bucket")]
        timeline: dict[str, dict[str, Any]] = {}
        counts = dict.fromkeys(KINDS, 0)
        for row in self._rows(
                f"SELECT substr(v.created_at, 1, ?) AS t, {_KIND_SQL} AS kind, count(*) AS n FROM verdicts v "
                f"WHERE v.mailing_id = ? AND v.review NOT IN {REJECTED_SQL} GROUP BY t, kind ORDER BY t",
                [width, mailing_id]):
            point = timeline.setdefault(row["t"], {"t": row["t"] + suffix, **dict.fromkeys(KINDS, 0)})
            point[row["kind"]] += row["n"]
            counts[row["kind"]] += row["n"]
        counts["total"] = sum(counts.values())
        reasons: dict[tuple[str, str | None], int] = {}
        domains: dict[str, list[int]] = {}
        for row in self._rows(
                f"WITH {self._REJECTED_OF_MAILING} "
                "SELECT coalesce(b.reason, 'other') AS reason, b.bounce_type, b.domain, "
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

    def failed_addresses(self, mailing_id: int, limit: int | None = None, offset: int = 0) -> list[FailedAddressRow]:
        """Addresses that bounced for this mailing (latest bounce per address), whether they are dead or
        alive again, and how many failed in all (`total`); a page at a time (no limit: the CSV export).
        Rejected verdicts are excluded as in `mailing_stats`."""
        return cast("list[FailedAddressRow]", self._rows(
            f"WITH {self._REJECTED_OF_MAILING}, failed AS (SELECT b.address, b.domain, max(b.at) AS at, b.bounce_type, "
            "b.status, b.reason, b.diagnostic, count(*) AS bounces, count(*) OVER () AS total FROM bounces b "
            "WHERE b.mailing_id = :mailing AND b.verdict_id NOT IN rejected "
            "GROUP BY b.address ORDER BY b.domain, b.address LIMIT :limit OFFSET :offset) "
            "SELECT failed.*, coalesce(a.dead, 0) AS dead, a.dead_since, a.alive_since FROM failed "
            "LEFT JOIN addresses a ON a.address = failed.address ORDER BY failed.domain, failed.address",
            {"mailing": mailing_id, "limit": -1 if limit is None else limit, "offset": offset},
        ))

    def opt_outs(self, mailing_id: int | None = None, limit: int | None = None, offset: int = 0) -> list[OptOutRow]:
        """Addresses that asked to be taken off the list (category `unsubscribe`), latest request first,
        one row per address, for one mailing or all; rejected verdicts excluded; a page at a time (no
        limit: the CSV export). The address is the request's sender: the one on our list."""
        where = "v.category = 'unsubscribe' AND v.review NOT IN " + REJECTED_SQL + " AND v.from_addr IS NOT NULL"
        if mailing_id is not None:
            where += " AND v.mailing_id = :mailing"
        return cast("list[OptOutRow]", self._rows(
            "SELECT lower(v.from_addr) AS address, max(v.created_at) AS at, count(*) AS requests, v.id AS verdict_id, "
            "v.mailing_id, m.subject AS mailing_subject, v.subject, v.evidence, count(*) OVER () AS total "
            f"FROM verdicts v LEFT JOIN mailings m ON m.id = v.mailing_id WHERE {where} "
            "GROUP BY lower(v.from_addr) ORDER BY at DESC, address LIMIT :limit OFFSET :offset",
            {"mailing": mailing_id, "limit": -1 if limit is None else limit, "offset": offset},
        ))

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
        source: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[VerdictListRow]:
        """The review queue: newest first, `since` inclusive, `until` exclusive, with each verdict's
        actions summarised (id, kind, planned action, mode, state, attempts, last_error) in one statement.

        `action` filters on the plan of our own ticket update (close, move, tag, restore, none),
        not on a later reopen; `source` on the path that saw the article (vocab.EVENT_SOURCES)."""
        where: list[str] = []
        params: list[Any] = []
        value: Any
        for clause, value in (("v.category = ?", category), ("v.review = ?", review),
                              ("v.mailing_id = ?", mailing_id),
                              ("v.event_id IN (SELECT id FROM events WHERE ticket_id = ?)", ticket_id),
                              ("v.event_id IN (SELECT id FROM events WHERE source = ?)", source)):
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
        return [cast(VerdictListRow, decode(row)) for row in self._rows(sql, [*params, limit, offset])]

    def get_verdict(self, verdict_id: int) -> VerdictDetail | None:
        """One verdict with its full actions (plan, previous), its event and its bounce rows."""
        row = self._one("SELECT * FROM verdicts WHERE id = ?", [verdict_id])
        if row is None:
            return None
        verdict = decode(row)
        verdict["actions"] = [decode(a) for a in self._rows("SELECT * FROM actions WHERE verdict_id = ? ORDER BY id",
                                                            [verdict_id])]
        verdict["event"] = self._one("SELECT * FROM events WHERE id = ?", [verdict["event_id"]])
        verdict["bounces"] = self._rows("SELECT * FROM bounces WHERE verdict_id = ? ORDER BY id", [verdict_id])
        return cast(VerdictDetail, verdict)

    def list_mailings(self, limit: int = 50, offset: int = 0, q: str | None = None) -> list[MailingListRow]:
        """Mailings newest first, each with its counts per vocab.KINDS and total, in one statement.

        The page of mailings is chosen first; its verdicts are grouped straight off the covering
        (mailing_id, category, bounce_type, review) index and only then pivoted per mailing,
        which is several times faster than pivoting every verdict row. `q` searches subject
        and Message-ID.
        """
        like = f"%{q.strip()}%" if q and q.strip() else None
        return cast("list[MailingListRow]", self._rows(
            "WITH page AS (SELECT * FROM mailings m WHERE (:like IS NULL OR m.subject LIKE :like "
            "OR m.message_id LIKE :like) ORDER BY m.sent_at DESC, m.id DESC LIMIT :limit OFFSET :offset), "
            f"counts AS (SELECT v.mailing_id, {_KIND_SQL} AS kind, count(*) AS n FROM verdicts v "
            f"WHERE v.mailing_id IN (SELECT id FROM page) AND v.review NOT IN {REJECTED_SQL} "
            "GROUP BY v.mailing_id, v.category, v.bounce_type) "
            f"SELECT page.*, coalesce(sum(c.n), 0) AS total, {_PIVOT_SQL} "
            "FROM page LEFT JOIN counts c ON c.mailing_id = page.id "
            "GROUP BY page.id ORDER BY page.sent_at DESC, page.id DESC",
            {"like": like, "limit": limit, "offset": offset},
        ))

    def get_mailing(self, mailing_id: int) -> MailingRow | None:
        return cast("MailingRow | None", self._one("SELECT * FROM mailings WHERE id = ?", [mailing_id]))

    def dead_addresses(
        self,
        *,
        mailing_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[AddressRow]:
        """Addresses currently dead, newest death first; `since`/`until` (inclusive/exclusive) bound
        dead_since, `mailing_id` keeps those that bounced for that mailing. No limit: the CSV export."""
        where, params = dead_where(mailing_id, since, until)
        return cast("list[AddressRow]", self._rows(f"SELECT a.* FROM addresses a WHERE {where} "
                                                    "ORDER BY a.dead_since DESC, a.address LIMIT ? OFFSET ?",
                                                    [*params, -1 if limit is None else limit, offset]))

