"""A Znuny/OTRS invoker article -> `Mail`, so the same filters judge both paths.

What Znuny 7 posts (see ../shared/otrs-wire): no top-level Content-Type, no raw
headers but From/To/Cc/Subject/Message-ID/In-Reply-To/References, the body part as
`Body`, and every other MIME part as a base64 `Attachment[]` entry (the DSN as
`message/delivery-status`, the returned mail as a `message/rfc822` .eml, MDN parts
under their own names). Raw headers only arrive when a PostMaster filter copies them
into article dynamic fields; ARTICLE_HEADER_FIELDS maps the ones our kit creates.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from . import mime
from .mail import TEXT_CAP, Headers, Mail, Part

# Article dynamic field -> the raw header it carries (docs/znuny-setup.md creates them).
# Names avoid auth/token/secret/passw/config: Znuny strips payload keys matching those.
ARTICLE_HEADER_FIELDS: dict[str, str] = {
    "AutoSubmitted": "Auto-Submitted",
    "MailPrecedence": "Precedence",
    "MailAutoReply": "X-Autoreply",
    "MailAutoRespond": "X-Autorespond",
    "MailResponseSuppress": "X-Auto-Response-Suppress",
    "MailRulesLoop": "X-MS-Exchange-Inbox-Rules-Loop",
    "MailReturnPath": "Return-Path",
    "MailFailedRecipients": "X-Failed-Recipients",
}
_ARTICLE_HEADERS = (
    ("From", "From"), ("To", "To"), ("Cc", "Cc"), ("ReplyTo", "Reply-To"), ("Subject", "Subject"),
    ("MessageID", "Message-ID"), ("InReplyTo", "In-Reply-To"), ("References", "References"),
)
# Znuny stores the mail's own body part as an attachment too (file-1, file-2 for HTML).
_BODY_FILENAMES = ("file-1", "file-2")


def from_article(article: Mapping[str, Any], ticket: Mapping[str, Any] | None = None) -> Mail:
    """Build a Mail from `Ticket.Article` of an invoker request (ticket fields give hints); never raises.

    Fields of the wrong JSON type are left out; at most `mime.MAX_PARTS` attachments are read (the
    rest is noted in `Mail.error`, as on the raw path)."""
    try:
        return _from_article(article, ticket)
    except (RecursionError, MemoryError, ValueError, TypeError, AttributeError) as exc:  # last line of defence
        return Mail(headers=Headers(), source="znuny", error=f"unreadable article: {type(exc).__name__}")


def _from_article(article: Mapping[str, Any], ticket: Mapping[str, Any] | None) -> Mail:
    headers = Headers()
    for key, name in _ARTICLE_HEADERS:
        value = article.get(key)
        if isinstance(value, str) and value.strip():
            headers.add(name, value)
    for field_name, header in ARTICLE_HEADER_FIELDS.items():
        value = article.get(f"DynamicField_{field_name}")
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str) and value.strip():
            headers.add(header, value.strip())

    top = headers.get("Content-Type") or ""
    body_ctype = str(article.get("ContentType") or "text/plain").split(";", 1)[0].strip().lower()
    mail = Mail(headers=headers, source="znuny", content_type="text/plain")
    body = article.get("Body")
    body = body if isinstance(body, str) else ""
    if body:
        mail.parts.append(Part(content_type=body_ctype if body_ctype.startswith("text/") else "text/plain",
                               text=body[:TEXT_CAP], size=len(body)))
    attachments = article.get("Attachment") or []
    attachments = attachments if isinstance(attachments, list) else []
    if len(attachments) > mime.MAX_PARTS:
        mail.error = f"{len(attachments)} attachments: only the first {mime.MAX_PARTS} read"
    for att in attachments[:mime.MAX_PARTS]:
        part = _attachment_part(att, has_body=bool(body))
        if part is not None:
            mail.parts.append(part)
    if top:
        main, _, rest = top.partition(";")
        mail.content_type = main.strip().lower()
        mail.params = _params(rest)
    elif len(mail.parts) > 1:
        mail.content_type = "multipart/mixed"
    mail.size = len(body) + sum(p.size for p in mail.parts[1:])
    # The flag is ticket-wide and stays set: it speaks for this article only when it opened the ticket.
    if ticket and str(ticket.get("DynamicField_MailFlags") or "").lower() == "bounce" and article.get("ArticleNumber") == 1:
        mail.hints["znuny_bounce_flag"] = "1"
    return mail


def _attachment_part(att: Any, has_body: bool) -> Part | None:
    if not isinstance(att, Mapping):
        return None
    ctype_full = str(att.get("ContentType") or "application/octet-stream")
    ctype, _, rest = ctype_full.partition(";")
    ctype = ctype.strip().lower()
    filename = str(att.get("Filename") or "") or None
    disposition = str(att.get("Disposition") or "") or None
    params = _params(rest)
    if has_body and filename in _BODY_FILENAMES and ctype == "text/plain":
        return None  # the body again; `Body` already carries it
    try:
        data = base64.b64decode(str(att.get("Content") or ""), validate=False)
    except (binascii.Error, ValueError):
        data = b""
    part = Part(content_type=ctype, params=params, filename=filename, disposition=disposition, size=len(data))
    if ctype in mime.MESSAGE_TYPES:
        part.message = mime.parse(data, depth=1)
    elif ctype in mime.HEADER_TYPES:
        part.text = mime.decode(data[:TEXT_CAP], params.get("charset"))
        part.message = mime.parse_headers_only(part.text, depth=1)
    elif ctype.startswith(("text/", "message/", "multipart/")):
        if ctype.startswith("multipart/"):  # Znuny could not split it: the raw multipart body, read as text
            part.content_type = "text/plain"
        part.text = mime.decode(data[:TEXT_CAP], params.get("charset"))
        if filename in _BODY_FILENAMES:
            part.disposition = "inline"
    return part


def _params(rest: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in rest.split(";"):
        key, eq, value = item.partition("=")
        if eq:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


def request_article(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(ticket, article) of an invoker request body; raises ValueError if it is not one.

    Only the envelope is checked (objects where Znuny sends objects): what the article says is
    mail content, read leniently by `from_article`."""
    if isinstance(body, Mapping) and body.get("Event") is not None and not isinstance(body.get("Event"), Mapping):
        raise ValueError("'Event' must be an object")
    ticket = body.get("Ticket") if isinstance(body, Mapping) else None
    if not isinstance(ticket, Mapping):
        raise ValueError("body has no 'Ticket' object")
    article = ticket.get("Article")
    if not isinstance(article, Mapping):
        raise ValueError("body has no 'Ticket.Article' object")
    return ticket, article
