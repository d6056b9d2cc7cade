"""Hostile mail content shared by the tests and by bench/redos.py and bench/fuzz.py.

A rule that reads mail content must stay linear in what it reads: these lines are the
shapes that make a backtracking regex quadratic (long runs of one character class with the
one character a pattern needs missing, a keyword repeated without its continuation) and
the places a detector reads them from (every header it asks for, the body, a DSN part,
an enclosed original, HTML).
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator

LINE_BYTES = 100 * 1024  # Postfix accepts headers up to 100 KB (header_size_limit 102400)

# Runs of address characters without "@", of digits and dots (status codes), of markup, of
# encoded-word and quoting debris, and keywords of our patterns repeated without the word
# that would complete them ("account ... not found", "from: ... sent:", "exceed...quota").
UNITS: tuple[str, ...] = (
    "a", ".", "a.", "a@", "a@b", "-", "=", "=?", "5", "5.", "5.5.", "55 ", " ", "\t", "<", ">", "<a", "<script",
    "[", "[ticket#", "{\"", "\"", "\\", ":", "a:", "ä", "€", "re:", "Re: ", "AW: ", "on x ", "am ", "ich bin ",
    "i am ", "bis ", "until ", "from: ", "to: ", "> ", "account ", "domäne ", "exceed", "exceeded ", "zustellung ",
    "wurde am ", "your message ", "message-id: ", "subject: ", "<br", "final-recipient: ", "action: ",
)
# Headers the detectors and the store read.
HEADERS: tuple[str, ...] = (
    "From", "To", "Cc", "Subject", "Reply-To", "Date", "Message-ID", "In-Reply-To", "References", "Return-Path",
    "Auto-Submitted", "Precedence", "X-Autoreply", "X-Failed-Recipients", "User-Agent", "X-Mailer", "List-Id",
    "Content-Type",
)
PLACES: tuple[str, ...] = ("headers", "body", "html", "dsn", "enclosed")


def run(unit: str, size: int = LINE_BYTES) -> str:
    """`unit` repeated to `size` characters."""
    return (unit * (size // len(unit) + 1))[:size]


def raw_mail(line: str, place: str) -> bytes:
    """A mail carrying `line` in every header the detectors read, or in one body place."""
    if place == "headers":
        return ("".join(f"{name}: {line}\n" for name in HEADERS) + "\nHallo\n").encode("utf-8", "surrogateescape")
    if place == "body":
        return f"From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail\n\n{line}\n{line}\n".encode()
    if place == "html":
        return f"From: a@b.example\nSubject: x\nContent-Type: text/html\n\n<p>{line}</p>\n".encode()
    if place == "dsn":
        return ("From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail Returned to Sender\n"
                "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
                f"--b\nContent-Type: text/plain\n\n{line}\n"
                f"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; {line}\n\n"
                f"Final-Recipient: rfc822; {line}\nAction: failed\nStatus: {line}\nDiagnostic-Code: smtp; {line}\n"
                f"--b\nContent-Type: text/rfc822-headers\n\nFrom: {line}\nDate: {line}\nMessage-ID: {line}\n"
                f"Subject: {line}\n--b--\n").encode()
    if place == "enclosed":
        return ("From: postmaster@mx.example\nSubject: Returned mail\nContent-Type: multipart/mixed; boundary=b\n\n"
                f"--b\nContent-Type: text/plain\n\nThe following address failed: {line}\n"
                f"--b\nContent-Type: message/rfc822\n\nFrom: {line}\nTo: {line}\nSubject: {line}\nDate: {line}\n"
                f"Message-ID: {line}\n\n{line}\n--b--\n").encode()
    raise ValueError(place)


def article_payload(line: str, ticket_id: int = 1, article_id: int = 1) -> dict:
    """A Znuny invoker body (as in otrs-wire) carrying `line` in every article field and attachment."""
    status = base64.b64encode(f"Final-Recipient: rfc822; {line}\nAction: failed\nStatus: {line}\n".encode()).decode()
    enclosed = base64.b64encode(f"From: {line}\nSubject: {line}\nDate: {line}\n\n{line}".encode()).decode()
    article = {
        "TicketID": ticket_id, "ArticleID": article_id, "ArticleNumber": 1, "SenderType": "customer",
        "From": line, "To": line, "Cc": line, "ReplyTo": line, "Subject": line, "MessageID": line,
        "InReplyTo": line, "References": line, "Body": line, "ContentType": "text/plain; charset=utf-8",
        "DynamicField_AutoSubmitted": line, "DynamicField_MailReturnPath": line,
        "Attachment": [
            {"ContentType": "message/delivery-status", "Filename": "status.txt", "Content": status},
            {"ContentType": "message/rfc822", "Filename": "original.eml", "Content": enclosed},
        ],
    }
    return {"Event": {"Event": "ArticleCreate", "TicketID": ticket_id, "ArticleID": article_id},
            "Ticket": {"TicketID": ticket_id, "State": "new", "Queue": "Raw", "Article": article}}


def adversarial_cases(size: int = LINE_BYTES) -> Iterator[tuple[str, str, bytes]]:
    """(unit, place, raw mail) for every unit in every place."""
    for unit in UNITS:
        line = run(unit, size)
        for place in PLACES:
            yield unit, place, raw_mail(line, place)


def timed(call: Callable[[], object], clock: Callable[[], float]) -> float:
    started = clock()
    call()
    return clock() - started


def payload_bytes(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def detector_calls() -> dict[str, Callable[..., object]]:
    """Every rule over mail content, by name: the classifier's detectors, the human veto, the
    subject grouping the store does, and the whole pipeline."""
    from bouncer.classify import DETECTORS, classify
    from bouncer.subjects import subject_key
    from filters import human

    calls: dict[str, Callable[..., object]] = dict(DETECTORS)
    calls["human"] = human.assess
    calls["subject_key"] = lambda mail: subject_key(mail.subject)
    calls["classify"] = classify
    return calls
