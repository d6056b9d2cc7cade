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
    "wurde am ", "your message ", "message-id: ", "subject: ", "gesendet am: ", " de : ", "<br", "final-recipient: ", "action: ",
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
    """Every rule over mail content, by name: the classifier's detectors, the human signs, the
    subject grouping the store does, and the whole pipeline."""
    from bouncer import humansigns
    from bouncer.classify import DETECTORS, classify
    from bouncer.subjects import has_prefix, subject_key

    calls: dict[str, Callable[..., object]] = {d.name: d.detect for d in DETECTORS}
    calls["humansigns"] = humansigns.assess
    calls["subject_key"] = lambda mail: (subject_key(mail.subject), has_prefix(mail.subject))
    calls["classify"] = classify
    return calls


# ---- generated and mutated mails and payloads (Hypothesis tests and bench/fuzz.py) -------------------
CHARSETS = ("utf-8", "iso-8859-1", "windows-1252", "us-ascii", "utf-16", "iso-2022-jp", "koi8-r", "gb2312", "nope",
            "punycode", "idna", "rot13", "base64", "undefined", "unicode-escape", "utf-7", "", "\"utf-8\"", "x-\x00")
CTYPES = ("text/plain", "text/html", "multipart/mixed", "multipart/report", "multipart/alternative", "multipart/digest",
          "message/rfc822", "message/delivery-status", "message/disposition-notification", "message/feedback-report",
          "text/rfc822-headers", "message/global", "application/octet-stream", "image/png", "multipart/", "/", "")
ENCODINGS = ("7bit", "8bit", "base64", "quoted-printable", "binary", "x-uuencode", "")
REPORT_FIELDS = ("Reporting-MTA: dns; mx.example", "Final-Recipient: rfc822; user@example.org", "Action: failed",
                 "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 user unknown", "Original-Recipient: rfc822; x@y.z",
                 "Disposition: manual-action/MDN-sent-manually; displayed", "Feedback-Type: abuse", "Action: delayed",
                 "Original-Message-ID: <1@x>", "Arrival-Date: Mon, 30 Nov 2026 00:00:00 +0000")
WORDS = ("Hallo", "Undelivered Mail", "Abwesenheitsnotiz", "Automatische Antwort", "Out of Office", "Gelesen:",
         "user unknown", "Mailbox full", "ich bin bis 12.01. nicht im Büro", "=?utf-8?q?Pr=C3=BCfung?=",
         "=?nope?b?SGFsbG8=?=", "=?utf-8?b?!!!?=", "[otrs-bouncer]", "Decision: close", "\u202e", "\x00", "\ud800",
         "MAILER-DAEMON@mx.example", "<a@b>", "a@b.example", "Re: AW: Fwd:", "5.1.1", "550", "{\"notificationType\"")


def _text(rng, size: int = 80) -> str:
    pick = rng.random()
    if pick < 0.5:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 8)))
    if pick < 0.7:
        return "".join(chr(rng.choice((rng.randint(0, 0x7f), rng.randint(0x80, 0x2fff), rng.randint(0xd800, 0xdfff),
                                       rng.randint(0x10000, 0x10ffff)))) for _ in range(rng.randint(0, size)))
    if pick < 0.8:
        return run(rng.choice(UNITS), rng.choice((1_000, 20_000, LINE_BYTES)))
    return rng.choice(WORDS) * rng.randint(1, 50)


def _bytes(text: str, rng) -> bytes:
    encoding = rng.choice(("utf-8", "latin-1", "utf-16"))
    return text.encode(encoding, "surrogatepass" if encoding != "latin-1" else "replace") if encoding != "latin-1" \
        else text.encode("latin-1", "replace")


def _body(rng, encoding: str) -> bytes:
    data = _bytes(_text(rng, 400), rng)
    if encoding == "base64" and rng.random() < 0.7:
        data = base64.encodebytes(data)
        if rng.random() < 0.4:  # broken base64: cut, padded wrongly, junk inside
            data = data[: rng.randint(0, len(data))] + rng.choice((b"=", b"==x", b"!!", b"\xff", b""))
    elif encoding == "quoted-printable" and rng.random() < 0.7:
        import quopri
        data = quopri.encodestring(data) + rng.choice((b"=", b"=Z", b"=\n", b"=E", b""))
    return data


def _entity(rng, depth: int, budget: list[int]) -> bytes:
    budget[0] -= 1
    ctype = rng.choice(CTYPES)
    encoding = rng.choice(ENCODINGS)
    boundary = rng.choice(("b", "=_x", "a" * 200, "", "\"q\"", f"b{depth}", "--"))
    headers = [f"Content-Type: {ctype}; charset={rng.choice(CHARSETS)}; boundary={boundary}"
               + rng.choice(("", "; name*=nope''%41", "; name*0*=utf-8''%C3; name*1*=%BC", "; report-type=delivery-status",
                             "; report-type=disposition-notification", "; x=\"unclosed"))]
    if encoding:
        headers.append(f"Content-Transfer-Encoding: {encoding}")
    if rng.random() < 0.3:
        headers.append(f"Content-Disposition: {rng.choice(('attachment', 'inline', ''))}; "
                       f"filename*={rng.choice(CHARSETS)}''{rng.choice(('a%20b', '%ZZ', '%FF'))}")
    head = ("\n".join(headers) + "\n").encode("utf-8", "surrogatepass")
    sep = rng.choice((b"\n", b"\r\n", b""))  # a part that forgets its blank line
    if ctype.startswith("multipart/") and depth < 6 and budget[0] > 0:
        marker = boundary.strip('"').encode()
        children = [_entity(rng, depth + 1, budget) for _ in range(rng.randint(0, 4))]
        body = b"".join(b"--" + marker + b"\n" + child + b"\n" for child in children)
        if rng.random() < 0.7:
            body += b"--" + marker + b"--\n"  # else: never closed
        return head + sep + body
    if ctype in ("message/rfc822", "message/global") and depth < 6 and budget[0] > 0:
        return head + sep + generated_mail(rng, depth + 1, budget)
    if ctype.startswith("message/") and rng.random() < 0.7:
        fields = "\n".join(rng.choice(REPORT_FIELDS) for _ in range(rng.randint(0, 8)))
        return head + sep + fields.replace("\n\n", "\n").encode() + b"\n\n" + "\n".join(
            rng.choice(REPORT_FIELDS) for _ in range(rng.randint(0, 6))).encode()
    return head + sep + _body(rng, encoding)


def generated_mail(rng, depth: int = 0, budget: list[int] | None = None) -> bytes:
    """A random RFC 822 mail: any headers (8-bit, encoded words, 100 KB values, thousands of fields),
    any MIME tree (broken boundaries, bad base64/QP, invalid charsets, deep nesting)."""
    budget = budget if budget is not None else [60]
    lines = []
    for _ in range(rng.choice((0, 3, 8, 20, 3000 if rng.random() < 0.05 else 10))):
        name = rng.choice(HEADERS + ("X-Random", "Received", "Auto-Submitted", "X-Autoreply", "Content-Type",
                                      "Content-Transfer-Encoding", "From ", "", "Subject\x00"))
        lines.append(f"{name}: {_text(rng)}")
    head = "\n".join(lines).encode("utf-8", "surrogatepass") if rng.random() < 0.8 else _bytes("\n".join(lines), rng)
    return head + b"\n" + _entity(rng, depth, budget)


def mutated(data: bytes, rng) -> bytes:
    """Byte-level mutations of a real or generated mail or body: cut, flip, duplicate, splice, insert."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        at = rng.randint(0, len(data))
        if op < 0.2 and data:
            del data[at:]
        elif op < 0.4 and data:
            data[min(at, len(data) - 1)] = rng.randint(0, 255)
        elif op < 0.55:
            piece = data[at:at + rng.randint(1, 400)]
            data[at:at] = piece * rng.randint(1, 50)
        elif op < 0.7:
            data[at:at] = rng.choice((b"\n--b--\n", b"\r\n\r\n", b"=?utf-8?b?", b"\xff\xfe", b"\\ud800", b"{", b"[[[",
                                      b"\"", b"\x00", b"Content-Type: multipart/mixed; boundary=z\n\n--z\n"))
        elif op < 0.85 and data:
            end = rng.randint(at, len(data))
            del data[at:end]
        else:
            data[at:at] = run(rng.choice(UNITS), rng.choice((100, 5_000, 50_000))).encode("utf-8", "surrogatepass")
    return bytes(data)


def json_value(rng, depth: int = 0):
    """Any JSON value, of the types a wrong payload may carry."""
    pick = rng.random()
    if depth > 3 or pick < 0.55:
        return rng.choice((None, True, False, 0, -1, 2**63, 2**63 - 1, 1.5, float(10**30), "", _text(rng, 30),
                           "²", "12", "1" * 25))
    if pick < 0.8:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(("Event", "Ticket", "Article", "TicketID", "ArticleID", "Body", "x")): json_value(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


ARTICLE_FIELDS = ("From", "To", "Cc", "ReplyTo", "Subject", "MessageID", "InReplyTo", "References", "Body",
                  "ContentType", "SenderType", "CommunicationChannelID", "ArticleNumber", "Attachment",
                  "DynamicField_AutoSubmitted", "DynamicField_MailPrecedence", "DynamicField_MailReturnPath")


def generated_article(rng) -> dict:
    """A Znuny article: real-looking fields, some of the wrong JSON type, attachments of generated mail."""
    article: dict = {"SenderType": "customer", "ArticleNumber": rng.choice((1, 2, "1", None))}
    for name in ARTICLE_FIELDS:
        if rng.random() < 0.75:
            article[name] = _text(rng, 200) if rng.random() < 0.8 else json_value(rng)
    if rng.random() < 0.7:
        article["Attachment"] = [
            {"ContentType": f"{rng.choice(CTYPES)}; charset={rng.choice(CHARSETS)}",
             "Filename": rng.choice(("file-1", "status.txt", "original.eml", "", None)),
             "Content": rng.choice((base64.b64encode(generated_mail(rng)).decode(), "!!!not base64", "", 7, None)),
             "Disposition": rng.choice(("attachment", "inline", None))} if rng.random() < 0.9 else json_value(rng)
            for _ in range(rng.choice((0, 1, 2, 4, 300 if rng.random() < 0.05 else 2)))]
    return article


def generated_payload(rng, ticket_id: int, article_id: int) -> bytes:
    """A webhook body: mostly a valid envelope around a generated article, sometimes a broken envelope,
    sometimes no JSON at all."""
    pick = rng.random()
    article = generated_article(rng)
    article.update(TicketID=ticket_id, ArticleID=article_id)
    body: object = {"Event": {"Event": "ArticleCreate", "TicketID": ticket_id, "ArticleID": article_id},
                    "Ticket": {"TicketID": ticket_id, "State": rng.choice(("new", "open", 5, None)),
                               "Queue": rng.choice(("Raw", None, ["x"])), "Article": article}}
    if pick < 0.15:  # the envelope itself of a wrong type somewhere
        target = rng.choice((body, body["Event"], body["Ticket"]))
        target[rng.choice(list(target))] = json_value(rng)
    elif pick < 0.2:
        body = json_value(rng)
    raw = json.dumps(body, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    if pick > 0.93:
        raw = mutated(raw, rng)
    elif pick > 0.9:
        raw = b"[" * rng.choice((10, 2000, 100_000)) + b"]" * rng.choice((0, 10, 100_000))
    return raw


def article_mail(article: dict, ticket: dict | None = None):
    """The article adapter end to end: Znuny's JSON article (and ticket) -> znuny.Article -> Mail."""
    from bouncer.article import from_article
    from bouncer.znuny import parse_article, parse_ticket

    return from_article(parse_article(article), parse_ticket(ticket) if ticket is not None else None)
