"""A Znuny article (bouncer/znuny.py) -> `Mail`, so the same filters judge both paths.

What Znuny 7 gives (see ../shared/otrs-wire): no top-level Content-Type, no raw headers but
From/To/Cc/Subject/Message-ID/In-Reply-To/References, the body part as `Body`, and every other
MIME part as an attachment (the DSN as `message/delivery-status`, the returned mail as a
`message/rfc822` .eml, MDN parts under their own names). Raw headers only arrive when a
PostMaster filter copies them into article dynamic fields (znuny.ARTICLE_HEADER_FIELDS).
"""
from __future__ import annotations

from . import mime
from .mail import TEXT_CAP, Headers, Mail, Part
from .znuny import Article, Attachment, Ticket

# Znuny stores the mail's own body part as an attachment too (file-1, file-2 for HTML).
_BODY_FILENAMES = ("file-1", "file-2")


def from_article(article: Article, ticket: Ticket | None = None) -> Mail:
    """Build a Mail from an article (the ticket's fields give hints).

    At most `znuny.MAX_ATTACHMENTS` attachments are read, as `mime.MAX_PARTS` parts on the raw path;
    more are noted in `Mail.error`."""
    headers = Headers(list(article.headers))
    top = headers.get("Content-Type") or ""
    body_ctype = article.content_type.split(";", 1)[0].strip().lower()
    mail = Mail(headers=headers, source="znuny", content_type="text/plain")
    body = article.body
    if body:
        mail.parts.append(Part(content_type=body_ctype if body_ctype.startswith("text/") else "text/plain",
                               text=body[:TEXT_CAP], size=len(body)))
    for att in article.attachments:
        part = _attachment_part(att, has_body=bool(body))
        if part is not None:
            mail.parts.append(part)
    if article.attachments_sent > len(article.attachments):
        mail.error = f"{article.attachments_sent} attachments: only the first {len(article.attachments)} read"
    if top:
        main, _, rest = top.partition(";")
        mail.content_type = main.strip().lower()
        mail.params = _params(rest)
    elif len(mail.parts) > 1:
        mail.content_type = "multipart/mixed"
    mail.size = len(body or "") + sum(p.size for p in mail.parts[1:])
    # The flag is ticket-wide and stays set: it speaks for this article only when it opened the ticket.
    if ticket and str(ticket.dynamic_fields.get("MailFlags") or "").lower() == "bounce" and article.article_number == 1:
        mail.hints["znuny_bounce_flag"] = "1"
    return mail


def _attachment_part(att: Attachment, has_body: bool) -> Part | None:
    ctype, _, rest = att.content_type.partition(";")
    ctype = ctype.strip().lower()
    filename, disposition = att.filename, att.disposition
    params = _params(rest)
    if has_body and filename in _BODY_FILENAMES and ctype == "text/plain":
        return None  # the body again; `Body` already carries it
    # Only the top of an attachment is decoded, as on the raw path: images and PDFs are only sized.
    part = Part(content_type=ctype, params=params, filename=filename, disposition=disposition, size=att.size)
    if ctype in mime.MESSAGE_TYPES:
        part.message = mime.parse(att.head(mime.MAX_PARSE_BYTES + 1), depth=1)
    elif ctype in mime.HEADER_TYPES:
        part.text = mime.decode(att.head(TEXT_CAP)[:TEXT_CAP], params.get("charset"))
        part.message = mime.parse_headers_only(part.text, depth=1)
    elif ctype.startswith(("text/", "message/", "multipart/")):
        if ctype.startswith("multipart/"):  # Znuny could not split it: the raw multipart body, read as text
            part.content_type = "text/plain"
        part.text = mime.decode(att.head(TEXT_CAP)[:TEXT_CAP], params.get("charset"))
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
