"""The read model for the pages, the API and /metrics: listings and statistics as typed rows (rows.py).

A verdict an admin rejected (false positive, undone) counts as the person's mail it was ("human"),
in every count, never as machine mail and never toward a dead address. Machine mail about no mailing
of ours has a bucket of its own (`no_mailing_stats`). Every query here is chosen so that big
mailings stay cheap (see each method); bench/pages.py times them.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from ..vocab import (
    BOUNCE_CHECKS,
    CATEGORIES,
    COUNTED_KINDS,
    EVENT_STATUSES,
    OUTBOX_STATES,
    PERSON_CATEGORIES,
    check,
    kind_sql,
    sql_any,
    sql_list,
)
from .addresses import REJECTED_SQL, VERIFIED_SQL, dead_where
from .db import Connection, decode, iso, parse_iso
from .filters import verdict_where
from .rows import (
    AddressHistory,
    AddressRow,
    FailedAddressRow,
    HistoryRow,
    MailingListRow,
    MailingPeople,
    MailingRow,
    MailingStats,
    NoMailingStats,
    OptOutRow,
    PersonRow,
    StoreStats,
    VerdictDetail,
    VerdictListRow,
)

_KIND_SQL = kind_sql("v")
# The kind a verdict counts as on the press pages: a rejected one is the person's mail it was, a bounce
# none of whose bounces is verified (addresses.bounce_check) is 'unverified'.
_COUNTED_KIND_SQL = (f"CASE WHEN v.review IN {REJECTED_SQL} THEN 'human' WHEN v.category = 'bounce' "
                     f"AND v.bounce_check NOT IN {VERIFIED_SQL} THEN 'unverified' ELSE {_KIND_SQL} END")
# A bounce's check as a rank (best first, vocab.BOUNCE_CHECKS), and back: an address's best check.
_CHECK_RANK_SQL = "CASE b.verification " + " ".join(
    f"WHEN '{c}' THEN {rank}" for rank, c in enumerate(BOUNCE_CHECKS)) + f" ELSE {len(BOUNCE_CHECKS)} END"
_CHECK_OF_RANK_SQL = "CASE failed.check_rank " + " ".join(
    f"WHEN {rank} THEN '{c}'" for rank, c in enumerate(BOUNCE_CHECKS)) + " END"
_MACHINE_SQL = f"v.category NOT IN {sql_list(PERSON_CATEGORIES)}"
# Exactly the WHERE of the partial index idx_verdicts_unlinked (m009), so SQLite may use it.
_UNLINKED_SQL = "v.mailing_id IS NULL AND v.category NOT IN ('human', 'unsubscribe')"
_PIVOT_SQL = ", ".join(f"coalesce(sum(c.n) FILTER (WHERE c.kind = '{k}'), 0) AS {k}" for k in COUNTED_KINDS)
# Written as ORs, which SQLite matches against the partial index idx_actions_outbox (m005).
_OUTBOX_SQL = sql_any("state", OUTBOX_STATES)


NO_ADDRESS = "no_address"  # the reason row of bounces without a readable failed address


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

    def revived_addresses(self, *, mailing_id: int | None = None, since: datetime | None = None,
                          until: datetime | None = None, limit: int | None = None) -> list[AddressRow]:
        """Addresses that bounced, then wrote to us as a person and are no longer dead, latest first:
        the press officer must not strike them from the distribution list. `mailing_id` keeps those
        that bounced for that mailing; `since`/`until` (inclusive/exclusive) bound when they wrote."""
        sql = "SELECT a.* FROM addresses a WHERE a.dead = 0 AND a.alive_since IS NOT NULL"
        params: list[Any] = []
        for clause, value in (("a.address IN (SELECT b.address FROM bounces b WHERE b.mailing_id = ?)", mailing_id),
                              ("a.alive_since >= ?", since and iso(since)),
                              ("a.alive_since < ?", until and iso(until))):
            if value is not None:
                sql += " AND " + clause
                params.append(value)
        return cast("list[AddressRow]", self._rows(sql + " ORDER BY a.alive_since DESC, a.address LIMIT ?",
                                                    [*params, -1 if limit is None else limit]))

    # The mailing's verdicts an admin rejected, from the covering (mailing_id, ..., review) index.
    _REJECTED_OF_MAILING = ("rejected AS (SELECT id FROM verdicts "
                            f"WHERE mailing_id = :mailing AND review IN {REJECTED_SQL})")

    def mailing_stats(self, mailing_id: int, bucket: str | None = None) -> MailingStats | None:
        """The press page for one mailing; None if there is no such mailing.

        `counts` per vocab.COUNTED_KINDS plus total; `timeline` as [{"t", <kind>: n...}] by hour, or day
        when replies span more than three days (or as `bucket` says); `top_reasons` and `top_domains`
        of the bounced recipients whose bounce is verified (addresses.bounce_check), bounces without a
        readable address as reason NO_ADDRESS; a rejected verdict counts as a person's mail. Cheap for
        big mailings (a member mailing can bring back thousands of bounces): reasons and domains come
        from one pass over the mailing's bounces, and the few rejected verdicts are looked up once in
        the covering index."""
        mailing = self.get_mailing(mailing_id)
        if mailing is None:
            return None
        if bucket is None:
            span = parse_iso(mailing["last_seen"]) - parse_iso(mailing["first_seen"])
            bucket = "hour" if span <= timedelta(days=3) else "day"
        width, suffix = {"hour": (13, ":00:00Z"), "day": (10, "")}[check(bucket, ("hour", "day"), "bucket")]
        timeline: dict[str, dict[str, Any]] = {}
        counts = dict.fromkeys(COUNTED_KINDS, 0)
        for row in self._rows(
                f"SELECT substr(v.created_at, 1, ?) AS t, {_COUNTED_KIND_SQL} AS kind, count(*) AS n FROM verdicts v "
                "WHERE v.mailing_id = ? GROUP BY t, kind ORDER BY t", [width, mailing_id]):
            point = timeline.setdefault(row["t"], {"t": row["t"] + suffix, **dict.fromkeys(COUNTED_KINDS, 0)})
            point[row["kind"]] += row["n"]
            counts[row["kind"]] += row["n"]
        counts["total"] = sum(counts.values())
        reasons: dict[tuple[str, str | None], int] = {}
        domains: dict[str, list[int]] = {}
        for row in self._rows(
                f"WITH {self._REJECTED_OF_MAILING} "
                "SELECT coalesce(b.reason, 'other') AS reason, b.bounce_type, b.domain, count(*) AS n, "
                "count(DISTINCT b.address) AS addresses FROM bounces b WHERE b.mailing_id = :mailing "
                f"AND b.verdict_id NOT IN rejected AND b.verification IN {VERIFIED_SQL} GROUP BY 1, 2, 3",
                {"mailing": mailing_id}):
            key = (row["reason"], row["bounce_type"])  # the reasons table counts addresses, the domains one mails
            reasons[key] = reasons.get(key, 0) + row["addresses"]
            total_hard = domains.setdefault(row["domain"], [0, 0])
            total_hard[0] += row["n"]
            total_hard[1] += row["n"] if row["bounce_type"] == "hard" else 0
        without = self._rows(  # bounces whose failed address nobody could read: a row of their own
            f"SELECT v.bounce_type, count(*) AS n FROM verdicts v WHERE v.mailing_id = ? AND v.category = 'bounce' "
            f"AND v.review NOT IN {REJECTED_SQL} AND v.bounce_check IN {VERIFIED_SQL} "
            "AND NOT EXISTS (SELECT 1 FROM bounces b WHERE b.verdict_id = v.id) "
            "GROUP BY v.bounce_type", [mailing_id])
        for row in without:
            key = (NO_ADDRESS, row["bounce_type"])
            reasons[key] = reasons.get(key, 0) + row["n"]
        top_reasons = sorted(reasons.items(), key=lambda item: (-item[1], item[0][0]))[:10]
        top_domains = sorted(domains.items(), key=lambda item: (-item[1][0], item[0]))[:10]
        return {
            "mailing": mailing, "counts": counts, "bucket": bucket, "timeline": list(timeline.values()),
            "top_reasons": [{"reason": r, "bounce_type": t, "n": n} for (r, t), n in top_reasons],
            "top_domains": [{"domain": d, "n": n, "hard": hard} for d, (n, hard) in top_domains],
        }

    def no_mailing_stats(self, limit: int = 100, offset: int = 0) -> NoMailingStats:
        """Machine mail about no mailing of ours (a bounce of an agent's answer, an out-of-office to a
        ticket reply, a bounce naming nothing): counts per kind and the latest, newest first.

        Counted and listed from the partial index idx_verdicts_unlinked (m009), which holds only these."""
        counts = dict.fromkeys(COUNTED_KINDS, 0)  # its bounces are unverified by nature, and kept by type here
        for row in self._rows(
                f"SELECT {_KIND_SQL} AS kind, count(*) AS n FROM verdicts v INDEXED BY idx_verdicts_unlinked "
                f"WHERE {_UNLINKED_SQL} AND v.review NOT IN {REJECTED_SQL} GROUP BY kind"):
            counts[row["kind"]] += row["n"]
        counts["total"] = sum(counts.values())
        latest = self._rows(
            "SELECT v.id, v.created_at, v.category, v.bounce_type, v.from_addr, v.subject, v.recipients, "
            f"v.ticket_id, v.return_date FROM verdicts v INDEXED BY idx_verdicts_unlinked WHERE {_UNLINKED_SQL} "
            f"AND v.review NOT IN {REJECTED_SQL} ORDER BY v.created_at DESC, v.id DESC LIMIT ? OFFSET ?",
            [limit, offset])
        return {"counts": counts, "latest": [cast(Any, decode(row)) for row in latest]}

    def failed_addresses(self, mailing_id: int, limit: int | None = None, offset: int = 0) -> list[FailedAddressRow]:
        """Addresses that bounced for this mailing, each with one bounce shown (its latest verified one, else
        its latest), whether they are dead or alive again, whether any of their bounces for it is verified
        (`verified`, addresses.bounce_check: the best `check`), how many failed in all (`total`) and how
        many of them verified (`total_verified`); a page at a time (no limit: the CSV export). Rejected
        verdicts are excluded as in `mailing_stats`."""
        verified = f"(b.verification IN {VERIFIED_SQL})"
        return cast("list[FailedAddressRow]", self._rows(
            f"WITH {self._REJECTED_OF_MAILING}, ranked AS (SELECT b.address, b.domain, b.at, b.bounce_type, b.status, "
            "b.reason, b.diagnostic, count(*) OVER per_address AS bounces, "
            f"max({verified}) OVER per_address AS verified, min({_CHECK_RANK_SQL}) OVER per_address AS check_rank, "
            f"row_number() OVER (PARTITION BY b.address ORDER BY {verified} DESC, b.at DESC, b.id DESC) AS nth "
            "FROM bounces b WHERE b.mailing_id = :mailing AND b.verdict_id NOT IN rejected "
            "WINDOW per_address AS (PARTITION BY b.address)), "
            "failed AS (SELECT ranked.*, count(*) OVER () AS total, sum(verified) OVER () AS total_verified "
            "FROM ranked WHERE nth = 1 ORDER BY domain, address LIMIT :limit OFFSET :offset) "
            f"SELECT failed.address, failed.domain, failed.at, failed.bounce_type, failed.status, failed.reason, "
            "failed.diagnostic, failed.bounces, failed.total, failed.verified, failed.total_verified, "
            f"{_CHECK_OF_RANK_SQL} AS \"check\", coalesce(a.dead, 0) AS dead, a.dead_since, a.alive_since FROM failed "
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
        q: str | None = None,
        hide_quiet: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[VerdictListRow]:
        """The review queue: newest first, `since` inclusive, `until` exclusive, with each verdict's
        actions summarised (id, kind, planned action, mode, state, attempts, last_error) in one statement.

        `action` filters on the plan of our own ticket update (close, move, tag, restore, none),
        not on a later reopen; `source` on the path that saw the article (vocab.EVENT_SOURCES); `q`
        searches sender and subject (a part of them) and, when it is a number, the ticket id;
        `hide_quiet` leaves out a person's mail nobody reviewed and we did nothing to."""
        where, params = verdict_where(category=category, review=review, min_conf=min_conf, max_conf=max_conf,
                                      since=since, until=until, action=action, action_state=action_state,
                                      mailing_id=mailing_id, ticket_id=ticket_id, source=source, q=q,
                                      hide_quiet=hide_quiet)
        sql = (
            "SELECT v.*, (SELECT json_group_array(json_object('id', a.id, 'kind', a.kind, "
            "'action', json_extract(a.plan, '$.action'), 'mode', a.mode, 'state', a.state, "
            "'attempts', a.attempts, 'last_error', a.last_error)) "
            "FROM actions a WHERE a.verdict_id = v.id) AS actions, "
            "(SELECT e.source FROM events e WHERE e.id = v.event_id) AS event_source FROM verdicts v"
            + (" WHERE " + where if where else "")
            + " ORDER BY v.created_at DESC, v.id DESC LIMIT ? OFFSET ?"
        )
        return [cast(VerdictListRow, decode(row)) for row in self._rows(sql, [*params, limit, offset])]

    def any_verdicts(self, **filters: Any) -> bool:
        """Does `list_verdicts` find anything for these filters? (Stops at the first: cheap where a count is not.)"""
        where, params = verdict_where(**filters)
        with self._lock:
            return self._conn.execute("SELECT 1 FROM verdicts v" + (" WHERE " + where if where else "") + " LIMIT 1",
                                      params).fetchone() is not None

    def count_verdicts(self, **filters: Any) -> int:
        """How many verdicts `list_verdicts` finds for the same filters (verdict_where's arguments)."""
        where, params = verdict_where(**filters)
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM verdicts v" + (" WHERE " + where if where else ""),
                                          params).fetchone()[0])

    def mailing_people(self, mailing_id: int, limit: int = 200) -> MailingPeople:
        """Who answered a mailing, for the press officer: the people who wrote in person (a false positive
        too: it was a person's mail), who is away and until when, and who read it; each list newest first
        (the totals are the mailing's counts). Served by the mailing index (mailing_id, category, …)."""
        columns = ("SELECT v.id AS verdict_id, v.from_addr AS address, v.created_at AS at, v.ticket_id, "
                   "v.return_date, v.subject FROM verdicts v WHERE v.mailing_id = ? AND ")

        def people(condition: str) -> list[PersonRow]:
            return cast("list[PersonRow]", self._rows(
                f"SELECT * FROM ({columns}{condition}) ORDER BY at DESC, verdict_id DESC LIMIT ?", [mailing_id, limit]))

        rejected = f"v.review IN {REJECTED_SQL}"
        return {"wrote": cast("list[PersonRow]", self._rows(
                    f"SELECT * FROM ({columns}v.category = 'human' UNION ALL {columns}{_MACHINE_SQL} AND {rejected}) "
                    "ORDER BY at DESC, verdict_id DESC LIMIT ?", [mailing_id, mailing_id, limit])),
                "away": people(f"v.category = 'auto_reply' AND v.review NOT IN {REJECTED_SQL}"),
                "read": people(f"v.category = 'read_receipt' AND v.review NOT IN {REJECTED_SQL}")}

    def address_history(self, address: str, limit: int = 200) -> AddressHistory:
        """Everything we know of one address, newest first: its dead-address row (dead since, alive again
        since) and every bounce, auto-reply, receipt and personal mail from or about it, with the mailing
        it answered. Bounces through the (address, at) index, mail from it through the from_addr index."""
        key = address.strip().lower()
        row = self._one("SELECT * FROM addresses WHERE address = ?", [key])
        events = self._rows(
            "SELECT * FROM (SELECT v.id AS verdict_id, b.at, 'bounce' AS category, b.bounce_type, b.status, b.reason, "
            "v.return_date, v.ticket_id, v.review, b.mailing_id, m.subject AS mailing_subject, b.verification "
            "FROM bounces b JOIN verdicts v ON v.id = b.verdict_id LEFT JOIN mailings m ON m.id = b.mailing_id "
            "WHERE b.address = :a UNION ALL "
            "SELECT v.id, v.created_at, v.category, v.bounce_type, v.status, v.reason, v.return_date, v.ticket_id, "
            "v.review, v.mailing_id, m.subject, NULL FROM verdicts v LEFT JOIN mailings m ON m.id = v.mailing_id "
            "WHERE v.from_addr = :a AND v.category != 'bounce') ORDER BY at DESC, verdict_id DESC LIMIT :limit",
            {"a": key, "limit": limit})
        return {"address": key, "row": cast("AddressRow | None", row), "events": cast("list[HistoryRow]", events)}

    def find_addresses(self, part: str, limit: int = 20) -> list[str]:
        """Addresses we know (bounced, or wrote to us) that contain `part`, for a search that is not exact."""
        like = "%" + part.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._rows("SELECT address FROM addresses WHERE address LIKE ? ESCAPE '\\' "
                          "UNION SELECT DISTINCT from_addr FROM verdicts WHERE from_addr LIKE ? ESCAPE '\\' "
                          "ORDER BY 1 LIMIT ?", [like, like, limit])
        return [r["address"] for r in rows]

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
        """Mailings newest first, each with its counts per vocab.COUNTED_KINDS and total (a rejected verdict as a
        person's mail), in one statement.

        The page of mailings is chosen first; its verdicts are grouped straight off the covering
        (mailing_id, category, bounce_type, review) index and only then pivoted per mailing,
        which is several times faster than pivoting every verdict row. `q` searches subject
        and Message-ID.
        """
        like = f"%{q.strip()}%" if q and q.strip() else None
        return cast("list[MailingListRow]", self._rows(
            "WITH page AS (SELECT * FROM mailings m WHERE (:like IS NULL OR m.subject LIKE :like "
            "OR m.message_id LIKE :like) ORDER BY m.sent_at DESC, m.id DESC LIMIT :limit OFFSET :offset), "
            f"counts AS (SELECT v.mailing_id, {_COUNTED_KIND_SQL} AS kind, count(*) AS n FROM verdicts v "
            "WHERE v.mailing_id IN (SELECT id FROM page) "
            "GROUP BY v.mailing_id, v.category, v.bounce_type, v.review IN " + REJECTED_SQL + ", kind) "
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

