"""Znuny's REST wire format for the sweep and the catch-up: TicketSearch and TicketGet answers, read.

Shapes follow real Znuny 7.0.19 traffic (otrs-wire captures rest-ticketsearch-open,
rest-ticketget-bounce, -lastarticle, -senderfilter). TicketGet speaks differently from the
ArticleCreate invoker: dynamic fields come as a `DynamicField` list of {Name, Value} instead
of flat `DynamicField_<Name>` keys, and the articles as a list `Article`. `invoker_body` turns
a TicketGet ticket and one of its articles into the body the invoker would have posted, so the
sweep and the catch-up go through exactly the webhook's classify -> plan -> record path.

Times: Znuny writes and reads `YYYY-MM-DD HH:MM:SS` in its system time zone (OTRSTimeZone,
UTC unless changed); `znuny_time`/`wire_time` convert, BOUNCER_OTRS_TIMEZONE names that zone.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone, tzinfo
from typing import Any

WIRE_TIME = "%Y-%m-%d %H:%M:%S"


class ZnunyFormatError(ValueError):
    """A TicketGet or TicketSearch answer that does not have the documented shape."""


def search_ticket_ids(answer: Mapping[str, Any]) -> list[int]:
    """TicketSearch's `TicketID`: a list of strings (newest first), one string for one hit, or absent
    (an empty object) for none (rest-ticketsearch-open, -title)."""
    found = answer.get("TicketID", [])
    items = [found] if isinstance(found, (str, int)) else found
    if not isinstance(items, list):
        raise ZnunyFormatError("TicketSearch: TicketID is neither a list nor a single id")
    try:
        return [int(item) for item in items]
    except (TypeError, ValueError):
        raise ZnunyFormatError("TicketSearch: a TicketID is not a number") from None


def get_ticket(answer: Mapping[str, Any], ticket_id: int) -> dict[str, Any]:
    """The one ticket of a TicketGet answer (`Ticket: [ {...} ]`)."""
    tickets = answer.get("Ticket")
    if not isinstance(tickets, list) or not tickets or not isinstance(tickets[0], dict):
        raise ZnunyFormatError(f"TicketGet: no ticket in the answer for TicketID {ticket_id}")
    return tickets[0]


def ticket_articles(ticket: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A TicketGet ticket's articles, oldest first whatever ArticleOrder was asked."""
    articles = ticket.get("Article") or []
    if isinstance(articles, dict):  # one article may come as an object
        articles = [articles]
    if not isinstance(articles, list):
        raise ZnunyFormatError("TicketGet: Article is neither a list nor an object")
    return sorted((a for a in articles if isinstance(a, dict)),
                  key=lambda a: (_number(a.get("ArticleNumber")), _number(a.get("ArticleID"))))


def flat_dynamic_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """TicketGet's `DynamicField: [{Name, Value}]` as the invoker's `DynamicField_<Name>: Value` keys."""
    out = {key: value for key, value in item.items() if key != "DynamicField"}
    fields = item.get("DynamicField")
    for entry in [fields] if isinstance(fields, dict) else fields if isinstance(fields, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get("Name"), str):
            out[f"DynamicField_{entry['Name']}"] = entry.get("Value")
    return out


def invoker_body(ticket: Mapping[str, Any], article: Mapping[str, Any],
                 articles: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ArticleCreate invoker body for `article` (otrs-wire README: Event + Ticket with `Article`
    and `Articles`), built from TicketGet data. `articles`: the ticket's articles up to and including
    this one, as the invoker would have listed them when the article came in."""
    base = flat_dynamic_fields({k: v for k, v in ticket.items() if k != "Article"})
    ticket_id, article_id = base.get("TicketID"), article.get("ArticleID")
    return {"Event": {"Event": "ArticleCreate", "TicketID": ticket_id, "ArticleID": article_id},
            "Ticket": {**base, "Article": flat_dynamic_fields(article),
                       "Articles": [flat_dynamic_fields(a) for a in articles]}}


def znuny_time(text: Any, zone: tzinfo = timezone.utc) -> datetime | None:
    """`2026-11-28 02:47:09` (Created, CreateTime) as an aware UTC datetime; None when not a time."""
    try:
        return datetime.strptime(str(text), WIRE_TIME).replace(tzinfo=zone).astimezone(timezone.utc)
    except ValueError:
        return None


def wire_time(moment: datetime, zone: tzinfo = timezone.utc) -> str:
    """A datetime as TicketSearch takes it (TicketCreateTimeNewerDate, ArticleCreateTimeNewerDate ...)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(zone).strftime(WIRE_TIME)


def _number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
