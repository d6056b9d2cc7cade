"""Znuny's wire format, read and written in this one module.

In: the body of the Ticket::Generic invoker on ArticleCreate (what Znuny 7 posts to the webhook,
see ../shared/otrs-wire invoker-articlecreate-*) becomes one frozen `ArticleEvent`; the answer of
REST TicketGet (rest-ticketget-*) becomes `Ticket`s with their `Article`s; the sweep and the
catch-up read TicketSearch and TicketGet answers and build invoker bodies from them (below). The rest of the
program speaks only these types and never sees Znuny's JSON shapes.
Out: the invoker's inline answer, the `OTRS_*` keys Znuny applies to the ticket (`inline_answer`).

Znuny sends ids as numbers or digit strings, article dynamic fields as `DynamicField_<Name>`
keys (invoker) or a `DynamicField` list of {Name, Value} (TicketGet), and no raw headers but
From/To/Cc/Reply-To/Subject/Message-ID/In-Reply-To/References: both spellings read the same here.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import cached_property
from typing import Any

# Attachments read per article, like mime.MAX_PARTS parts of a raw mail: a hostile article with a
# million empty ones cost 8 s and 428 MB before.
MAX_ATTACHMENTS = 200
MAX_ID = 2**63 - 1  # SQLite's INTEGER; Znuny's ids are far below
INTERNAL_CHANNEL_ID = 3  # Znuny's CommunicationChannel "Internal" (notes)
# Sender types whose articles a person wrote (an agent's reply, a customer's mail); "system" is Znuny.
PERSON_SENDER_TYPES = ("agent", "customer")
# Article fields that carry a mail header, and the header's name.
_ARTICLE_HEADERS = (
    ("From", "From"), ("To", "To"), ("Cc", "Cc"), ("ReplyTo", "Reply-To"), ("Subject", "Subject"),
    ("MessageID", "Message-ID"), ("InReplyTo", "In-Reply-To"), ("References", "References"),
)
# Article dynamic field -> the raw header it carries (docs/znuny-setup.md creates them; PostMaster
# filters copy the headers in). Names avoid auth/token/secret/passw/config: Znuny strips payload
# keys matching those.
ARTICLE_HEADER_FIELDS: dict[str, str] = {
    "AutoSubmitted": "Auto-Submitted",
    "MailPrecedence": "Precedence",
    "MailAutoReply": "X-Autoreply",
    "MailAutoRespond": "X-Autorespond",
    "MailResponseSuppress": "X-Auto-Response-Suppress",
    "MailRulesLoop": "X-MS-Exchange-Inbox-Rules-Loop",
    "MailReturnPath": "Return-Path",
    "MailFailedRecipients": "X-Failed-Recipients",
    # The sender's mail client: a sign that a person wrote the mail (bouncer.humansigns).
    "MailUserAgent": "User-Agent",
    "MailXMailer": "X-Mailer",
}


@dataclass(frozen=True)
class Attachment:
    """One MIME part Znuny split off the mail (the DSN, a returned .eml, MDN parts, the body again)."""

    filename: str | None
    content_type: str  # the full value, parameters included ("text/plain; charset=utf-8")
    disposition: str | None
    content_b64: str  # as sent; `data` decodes it when asked

    @cached_property
    def data(self) -> bytes:
        """The part's bytes; empty when the base64 is broken (a bad part must not lose the mail)."""
        return _b64(self.content_b64)

    def head(self, limit: int) -> bytes:
        """The first `limit` bytes or a little more, decoding no more base64 than that: a 20 MB
        attachment is read for its top, as raw mail is (mime.MAX_PARSE_BYTES)."""
        if len(self.content_b64) <= limit:
            return self.data
        piece = "".join(self.content_b64[: (limit // 3 + 1) * 4 + limit // 19 + 4].split())  # + CRLF per 76
        return _b64(piece[: len(piece) // 4 * 4])

    @cached_property
    def size(self) -> int:
        """Decoded size in bytes, from the base64 length (without decoding it)."""
        text = self.content_b64
        blanks = sum(text.count(ch) for ch in "\r\n\t ")  # counted, not removed: no copy of a 20 MB string
        end = len(text)
        while end and text[end - 1] in "\r\n\t ":
            end -= 1
        padding = 2 if text.endswith("==", 0, end) else 1 if text.endswith("=", 0, end) else 0
        return max(0, (len(text) - blanks) * 3 // 4 - padding)


@dataclass(frozen=True)
class Article:
    """One article: who sent it on which channel, its mail headers, body and attachments."""

    article_id: int | None
    article_number: int | None = None  # 1: the article that opened the ticket
    sender_type: str | None = None  # agent | system | customer
    channel_id: int | None = None  # CommunicationChannelID
    channel: str | None = None  # CommunicationChannel (name), when sent
    headers: tuple[tuple[str, str], ...] = ()  # from the article's fields, then from header-carrying dynamic fields
    content_type: str = "text/plain"  # the body's, parameters included
    body: str | None = None
    attachments: tuple[Attachment, ...] = ()  # the first MAX_ATTACHMENTS
    attachments_sent: int = 0  # how many the article had

    @property
    def subject(self) -> str:
        return next((value for name, value in self.headers if name == "Subject"), "")

    @property
    def is_internal(self) -> bool:
        """An internal note (agents only), not mail from outside."""
        return self.channel_id == INTERNAL_CHANNEL_ID or self.channel == "Internal"

    @property
    def by_person(self) -> bool:
        """Mail or a reply a person wrote: an agent's or a customer's article, not an internal note."""
        return self.sender_type in PERSON_SENDER_TYPES and self.channel_id != INTERNAL_CHANNEL_ID


@dataclass(frozen=True)
class Ticket:
    """A ticket as the invoker or TicketGet sends it."""

    ticket_id: int | None
    state: str | None = None
    queue: str | None = None
    dynamic_fields: Mapping[str, Any] = field(default_factory=dict)  # name -> value as sent
    # All its articles (TicketGet with AllArticles, the invoker's `Articles`); None: not sent.
    articles: tuple[Article, ...] | None = None


@dataclass(frozen=True)
class ArticleEvent:
    """One ArticleCreate: the ticket, the article that triggered it, and the state before."""

    ticket_id: int
    article_id: int
    ticket: Ticket
    article: Article
    old_state: str | None = None  # Event.OldTicketData.State: the state before this mail arrived

    @property
    def others(self) -> tuple[Article, ...] | None:
        """The ticket's other articles; None when Znuny did not send the article history."""
        if self.ticket.articles is None:
            return None
        return tuple(a for a in self.ticket.articles if a.article_id != self.article_id)


def parse_event(body: Any) -> ArticleEvent:
    """An invoker request body (parsed JSON) as an ArticleEvent; ValueError when it is not one.

    TicketID comes from Event, Ticket or Article, ArticleID from Event or Article (Znuny 7 sends
    them in Event; older invoker mappings only in the ticket).
    """
    ticket, article = _ticket_and_article(body)
    if body.get("Event") is not None and not isinstance(body.get("Event"), Mapping):
        raise ValueError("'Event' must be an object")
    event: Mapping[str, Any] = body["Event"] if isinstance(body.get("Event"), Mapping) else {}
    old: Mapping[str, Any] = event["OldTicketData"] if isinstance(event.get("OldTicketData"), Mapping) else {}
    ticket_id = _id(event.get("TicketID") or ticket.get("TicketID") or article.get("TicketID"), "TicketID")
    article_id = _id(event.get("ArticleID") or article.get("ArticleID"), "ArticleID")
    return ArticleEvent(ticket_id=ticket_id, article_id=article_id, ticket=parse_ticket(ticket),
                        article=parse_article(article), old_state=_str(old.get("State")))


def parse_request(body: Any) -> tuple[Ticket, Article]:
    """The ticket and article of an invoker request body, ids or not (a saved sample to classify)."""
    ticket, article = _ticket_and_article(body)
    return parse_ticket(ticket), parse_article(article)


def _ticket_and_article(body: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    ticket = body.get("Ticket") if isinstance(body, Mapping) else None
    if not isinstance(ticket, Mapping):
        raise ValueError("body has no 'Ticket' object")
    article = ticket.get("Article")
    if not isinstance(article, Mapping):
        raise ValueError("body has no 'Ticket.Article' object")
    return ticket, article


def parse_ticket(ticket: Mapping[str, Any]) -> Ticket:
    """A ticket object of the invoker (`Ticket`, `Articles` as the history) or of TicketGet (`Article` list)."""
    history = ticket.get("Articles")
    if not isinstance(history, list):
        history = ticket.get("Article") if isinstance(ticket.get("Article"), list) else None
    fields = {key.removeprefix("DynamicField_"): value for key, value in ticket.items()
              if key.startswith("DynamicField_")}
    fields.update(_dynamic_field_list(ticket.get("DynamicField")))
    return Ticket(ticket_id=_int_or_none(ticket.get("TicketID")), state=_str(ticket.get("State")),
                  queue=_str(ticket.get("Queue")), dynamic_fields=fields,
                  articles=None if history is None else tuple(parse_article(a) for a in history
                                                              if isinstance(a, Mapping)))


def parse_article(article: Mapping[str, Any]) -> Article:
    """An article object of the invoker or of TicketGet."""
    headers = []
    for key, name in _ARTICLE_HEADERS:
        value = article.get(key)
        if isinstance(value, str) and value.strip():
            headers.append((name, value))
    fields = {key.removeprefix("DynamicField_"): value for key, value in article.items()
              if key.startswith("DynamicField_")}
    fields.update(_dynamic_field_list(article.get("DynamicField")))
    for field_name, header in ARTICLE_HEADER_FIELDS.items():
        value = fields.get(field_name)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str) and value.strip():
            headers.append((header, value.strip()))
    attachments = article.get("Attachment")
    attachments = attachments if isinstance(attachments, list) else []
    body = article.get("Body")
    return Article(
        article_id=_int_or_none(article.get("ArticleID")), article_number=_int_or_none(article.get("ArticleNumber")),
        sender_type=_str(article.get("SenderType")), channel_id=_int_or_none(article.get("CommunicationChannelID")),
        channel=_str(article.get("CommunicationChannel")), headers=tuple(headers),
        content_type=str(article.get("ContentType") or "text/plain"), body=body if isinstance(body, str) else None,
        attachments=tuple(_attachment(a) for a in attachments[:MAX_ATTACHMENTS] if isinstance(a, Mapping)),
        attachments_sent=len(attachments))


def parse_ticket_get(body: Any) -> list[Ticket]:
    """The tickets of a REST TicketGet answer (`{"Ticket": [...]}`), articles included when asked for
    (AllArticles=1, Attachments=1, DynamicFields=1); ValueError when the answer holds none."""
    tickets = body.get("Ticket") if isinstance(body, Mapping) else None
    if not isinstance(tickets, list) or not tickets:
        raise ValueError("TicketGet answer has no 'Ticket' list")
    return [parse_ticket(t) for t in tickets if isinstance(t, Mapping)]


def state_change_for(answer: Mapping[str, Any], article_id: int) -> tuple[str, str] | None:
    """(state before, state after) of the change Znuny made to a ticket for the arrival of article
    `article_id`, from a REST TicketHistoryGet answer; None when it changed no state for it.

    Znuny's PostMaster sets a follow-up's state (a closed ticket reopens) before it creates the
    article, in the same run, so the StateUpdate closest before the article's first history entry,
    after the previous article's entries, is that change. Its Name reads `%%old%%new%%`
    (Kernel::System::Ticket::TicketStateSet). Entries come oldest first (HistoryGet orders by
    create_time, id).
    """
    tickets = answer.get("TicketHistory")
    if not isinstance(tickets, list) or not tickets or not isinstance(tickets[0], Mapping):
        raise ZnunyFormatError("TicketHistoryGet: no TicketHistory in the answer")
    lines = [line for line in tickets[0].get("History") or [] if isinstance(line, Mapping)]
    first = next((i for i, line in enumerate(lines) if _int_or_none(line.get("ArticleID")) == article_id), None)
    if first is None:
        return None
    for line in reversed(lines[:first]):
        if _int_or_none(line.get("ArticleID")):  # the previous article's entries: nothing for ours
            return None
        if line.get("HistoryType") == "StateUpdate":
            parts = str(line.get("Name") or "").split("%%")
            if len(parts) >= 3 and parts[1] and parts[2]:
                return parts[1], parts[2]
    return None


def inline_answer(*, state: str | None, queue: str | None, dynamic_fields: Mapping[str, str],
                  note: tuple[str, str] | None, history_comment: str) -> dict[str, Any]:
    """The invoker response keys Znuny applies to the ticket (Ticket::Generic's OTRS_* keys); `note` is
    (subject, body) of an internal note to add.

    TicketArticleAdd needs HistoryType/HistoryComment, else Znuny applies nothing at all (see
    otrs-wire ooo-exchange-canned-response-missing-historytype).
    """
    out: dict[str, Any] = {}
    if state:
        out["OTRS_TicketStateSet"] = state
    if queue:
        out["OTRS_TicketQueueSet"] = queue
    for name, value in dynamic_fields.items():
        out[f"OTRS_TicketDynamicFieldSet_{name}"] = value
    if note:
        out["OTRS_TicketArticleAdd"] = {
            "Subject": note[0], "Body": note[1], "ContentType": "text/plain; charset=utf-8",
            "HistoryType": "AddNote", "HistoryComment": history_comment,
        }
    return out


def _attachment(att: Mapping[str, Any]) -> Attachment:
    return Attachment(filename=str(att.get("Filename") or "") or None,
                      content_type=str(att.get("ContentType") or "application/octet-stream"),
                      disposition=str(att.get("Disposition") or "") or None, content_b64=str(att.get("Content") or ""))


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return b""


def _dynamic_field_list(value: Any) -> dict[str, Any]:
    """TicketGet's `DynamicField: [{"Name": ..., "Value": ...}]`."""
    if not isinstance(value, list):
        return {}
    return {str(f["Name"]): f.get("Value") for f in value if isinstance(f, Mapping) and f.get("Name")}


def _id(value: Any, name: str) -> int:
    number = _int_or_none(value)
    if number is None or number < 1:
        raise ValueError(f"missing or invalid {name}")
    return number


def _int_or_none(value: Any) -> int | None:
    """An id: a number or a string of ASCII digits, 0 to MAX_ID; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)  # isascii: "²" and other Unicode digits pass isdigit() but int() refuses them
    if isinstance(value, int) and 0 <= value <= MAX_ID:
        return value
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# ---- REST TicketSearch / TicketGet as raw dicts, for the sweep and the catch-up ----------------
# (bouncer/sweep.py, bouncer/catchup.py). They keep Znuny's JSON because the catch-up spools an
# invoker-shaped body built from it (`invoker_body`); `parse_event` then reads that like any other.
# Times: Znuny writes and reads `YYYY-MM-DD HH:MM:SS` in its system time zone (OTRSTimeZone,
# BOUNCER_OTRS_TIMEZONE here); `znuny_time`/`wire_time` convert.
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


def invoker_body(ticket: Mapping[str, Any], article: Mapping[str, Any],
                 articles: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ArticleCreate invoker body for `article` (otrs-wire README: Event + Ticket with `Article`
    and `Articles`), built from raw TicketGet data; `parse_event` reads it like a posted one, and the
    spool keeps it for crash recovery. `articles`: the ticket's articles the event should list
    (the invoker lists those up to this one). TicketGet's `DynamicField` lists stay as they are:
    `parse_ticket`/`parse_article` read both spellings."""
    return {"Event": {"Event": "ArticleCreate", "TicketID": ticket.get("TicketID"),
                      "ArticleID": article.get("ArticleID")},
            "Ticket": {**{k: v for k, v in ticket.items() if k != "Article"}, "Article": dict(article),
                       "Articles": [dict(a) for a in articles]}}


def znuny_time(text: Any, zone: tzinfo = UTC) -> datetime | None:
    """`2026-11-28 02:47:09` (Created, CreateTime) as an aware UTC datetime; None when not a time."""
    try:
        return datetime.strptime(str(text), WIRE_TIME).replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        return None


def wire_time(moment: datetime, zone: tzinfo = UTC) -> str:
    """A datetime as TicketSearch takes it (TicketCreateTimeNewerDate, ArticleCreateTimeNewerDate ...)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime(WIRE_TIME)


def _number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
