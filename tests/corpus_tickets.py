"""Open tickets for the fake Znuny, built from the dev corpus as Znuny posted it (corpus/znuny-dev).

Each znuny-dev body is what Znuny's invoker sent for one mail that opened a ticket; here it
becomes that ticket as TicketGet returns it (DynamicField lists, an `Article` list), with its
own TicketID, spread over the association's queues and the last weeks. Some tickets get a
conversation: a person's mail and an agent's answer before the machine mail, or a person's
mail after it, so tests can check that such tickets are never closed.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from corpus import ZNUNY_DEV, ZNUNY_DEV_TSV, category_of, manifest

QUEUES = ("LV", "Geschäftsstelle", "Presse", "Vorstand", "Mitglieder", "Verwaltung")
MACHINE_LABELS = ("bounce_hard", "bounce_soft", "auto_reply", "read_receipt", "feedback_report", "other_auto")
FIRST_TICKET_ID = 1000
WIRE_TIME = "%Y-%m-%d %H:%M:%S"
# Not REST TicketGet fields: the invoker's expanded data (TicketDeepGet) and its article list.
_INVOKER_ONLY = ("Article", "Articles", "OwnerData", "ResponsibleData", "CreateByData", "QueueData", "TypeData",
                 "PriorityData", "ServiceData", "SLAData", "CustomerUser", "CustomerCompany")


@dataclass(frozen=True)
class Built:
    """A ticket for the fake and what a test knows about it."""

    ticket: dict[str, Any]
    label: str  # the corpus label of its newest mail
    has_person: bool  # the conversation holds a person's message (a human mail or an agent's answer)
    story: str  # single | answered | person-after


def rest_dynamic_fields(item: dict[str, Any]) -> dict[str, Any]:
    """Invoker's flat DynamicField_<Name> keys -> TicketGet's DynamicField list."""
    out = {k: v for k, v in item.items() if not k.startswith("DynamicField_")}
    out["DynamicField"] = [{"Name": k.removeprefix("DynamicField_"), "Value": v}
                           for k, v in item.items() if k.startswith("DynamicField_")]
    return out


STRIDE = 7  # the manifest is sorted by source; a stride coprime to its length mixes sources and labels


def corpus_rows(count: int, *, start: int = 0) -> list[dict[str, str]]:
    """`count` manifest rows, every source and label mixed (cycling through all when asked for more)."""
    rows = manifest(ZNUNY_DEV_TSV)
    return [rows[(start + i * STRIDE) % len(rows)] for i in range(count)]


def _article(body: dict[str, Any], article_id: int, ticket_id: int, number: int, when: datetime) -> dict[str, Any]:
    article = rest_dynamic_fields(copy.deepcopy(body["Ticket"]["Article"]))
    article.update(ArticleID=article_id, TicketID=ticket_id, ArticleNumber=number,
                   CreateTime=when.strftime(WIRE_TIME), ChangeTime=when.strftime(WIRE_TIME))
    return article


def _agent_answer(article_id: int, ticket_id: int, number: int, when: datetime) -> dict[str, Any]:
    return {"ArticleID": article_id, "TicketID": ticket_id, "ArticleNumber": number, "SenderType": "agent",
            "SenderTypeID": "1", "CommunicationChannelID": 1, "IsVisibleForCustomer": 1,
            "From": "Geschäftsstelle <info@verband.example>", "To": "mitglied@example.org",
            "Subject": "Re: Ihre Anfrage", "Body": "Guten Tag,\nwir kümmern uns darum.\nIhre Geschäftsstelle\n",
            "ContentType": "text/plain; charset=utf-8", "MimeType": "text/plain",
            "CreateTime": when.strftime(WIRE_TIME),
            "MessageID": f"<answer-{article_id}@verband.example>", "DynamicField": [], "Attachment": []}


def build_tickets(count: int, *, now: datetime | None = None, start: int = 0,
                  first_id: int = FIRST_TICKET_ID) -> list[Built]:
    """`count` open tickets. Every 7th machine mail comes after a person's mail and an agent's answer
    ("answered"); every 11th ticket has a person's mail after a machine mail ("person-after")."""
    now = now or datetime.now(UTC)
    rows = corpus_rows(count, start=start)
    humans = [r for r in manifest(ZNUNY_DEV_TSV) if r["label"] == "human"]
    bodies: dict[str, dict[str, Any]] = {}

    def body(path: str) -> dict[str, Any]:
        if path not in bodies:
            bodies[path] = json.loads((ZNUNY_DEV / path).read_text(encoding="utf-8"))
        return bodies[path]

    built = []
    article_id = first_id * 10
    for i, row in enumerate(rows):
        ticket_id = first_id + i
        created = now - timedelta(days=60 - (i * 59) // max(count, 1), minutes=i)
        main = body(row["path"])
        ticket = rest_dynamic_fields({k: v for k, v in copy.deepcopy(main["Ticket"]).items() if k not in _INVOKER_ONLY})
        ticket.update(TicketID=ticket_id, TicketNumber=f"2026{ticket_id:012d}", Queue=QUEUES[i % len(QUEUES)],
                      QueueID=10 + i % len(QUEUES), State="open" if i % 3 else "new",
                      StateType="open" if i % 3 else "new", Created=created.strftime(WIRE_TIME),
                      Title=str(main["Ticket"].get("Title") or "")[:200])
        machine = row["label"] in MACHINE_LABELS
        story = "single"
        articles: list[dict[str, Any]] = []
        if machine and i % 7 == 3:
            story = "answered"
            person = body(humans[i % len(humans)]["path"])
            articles.append(_article(person, article_id, ticket_id, 1, created))
            articles.append(_agent_answer(article_id + 1, ticket_id, 2, created + timedelta(hours=1)))
            article_id += 2
        articles.append(_article(main, article_id, ticket_id, len(articles) + 1, created + timedelta(hours=2)))
        article_id += 1
        label = row["label"]
        if machine and i % 11 == 5 and story == "single":
            story = "person-after"
            person = body(humans[(i * 3) % len(humans)]["path"])
            articles.append(_article(person, article_id, ticket_id, 2, created + timedelta(hours=3)))
            article_id += 1
            label = "human"
        for article in articles:  # the first article opened the ticket: the bounce flag speaks for it only
            article["TicketID"] = ticket_id
        ticket["Article"] = articles
        built.append(Built(ticket, label, story != "single" or category_of(row["label"]) == "human", story))
    return built
