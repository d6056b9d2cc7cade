"""The review queue's filters as SQL, shared by its listing (read.py) and its bulk confirm (events.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ..vocab import PERSON_CATEGORIES, sql_list
from .db import iso

# A person's mail nobody reviewed and we did nothing to: most of the queue, and nothing to check there.
QUIET_SQL = ("(v.category = 'human' AND v.review = 'pending' AND NOT EXISTS (SELECT 1 FROM actions a "
             "WHERE a.verdict_id = v.id AND a.state != 'skipped'))")


def verdict_where(*, category: str | None = None, review: str | None = None, min_conf: float | None = None,
                  max_conf: float | None = None, since: datetime | None = None, until: datetime | None = None,
                  action: str | None = None, action_state: str | None = None, mailing_id: int | None = None,
                  ticket_id: int | None = None, source: str | None = None, q: str | None = None,
                  hide_quiet: bool = False, machine_only: bool = False) -> tuple[str, list[Any]]:
    """The WHERE clause (on `verdicts v`, '' for none) and parameters of the review queue's filters."""
    where: list[str] = []
    params: list[Any] = []
    value: Any
    for clause, value in (("v.category = ?", category), ("v.review = ?", review),
                          ("v.mailing_id = ?", mailing_id),
                          ("v.event_id IN (SELECT id FROM events WHERE ticket_id = ?)", ticket_id),
                          ("v.event_id IN (SELECT id FROM events WHERE source = ?)", source),
                          ("v.confidence >= ?", min_conf), ("v.confidence <= ?", max_conf),
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
    if q and q.strip():
        text = q.strip()
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        terms = ["v.from_addr LIKE ? ESCAPE '\\'", "v.subject LIKE ? ESCAPE '\\'"]
        params += [like, like]
        if text.isdigit():
            terms.append("v.ticket_id = ?")
            params.append(int(text))
        where.append("(" + " OR ".join(terms) + ")")
    if hide_quiet:
        where.append("NOT " + QUIET_SQL)
    if machine_only:
        where.append(f"v.category NOT IN {sql_list(PERSON_CATEGORIES)}")
    return " AND ".join(where), params
