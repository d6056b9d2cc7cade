"""Shared reading of delivery reports: status codes, reasons, hard vs soft, failed recipients, the original.

Not a detector: `dsn` and `ndr` both use it, so a DSN and a free-text NDR that say
the same thing get the same reason and the same hard/soft answer.
"""
from __future__ import annotations

import email.errors
import email.header
import re

from bouncer.mail import Mail, addresses, first_address
from bouncer.verdict import Original
from bouncer.vocab import BounceType

# No look-behind at the start: a pattern that starts with a character class is scanned fast,
# so "not preceded by a digit or dot" is checked in `_standalone` instead.
_STATUS_RE = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_CODE_RE = re.compile(r"([45][0-5]\d)(?:[ ,;-]|$)", re.M)

# Reason by enhanced status code (RFC 3463), most specific first; text can refine below.
_STATUS_REASONS: tuple[tuple[str, str], ...] = (
    ("5.1.1", "user_unknown"), ("5.1.0", "user_unknown"), ("5.1.6", "user_unknown"), ("5.1.10", "user_unknown"),
    ("5.1.3", "user_unknown"), ("5.1.2", "domain_not_found"), ("5.4.4", "domain_not_found"),
    ("4.4.4", "domain_not_found"), ("5.2.2", "mailbox_full"), ("4.2.2", "mailbox_full"),
    ("5.2.1", "mailbox_disabled"), ("4.2.1", "mailbox_disabled"), ("5.2.3", "message_too_large"),
    ("5.3.4", "message_too_large"), ("4.4.7", "expired"), ("5.4.7", "expired"),
    ("5.7.1", "rejected_policy"), ("5.7.0", "rejected_policy"),
)

# Reason by wording (lower-cased text), checked in order; German and other languages included.
_TEXT_REASONS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern)) for reason, pattern in (
        ("rejected_policy", r"greylist"),
        ("mailbox_full", r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|exceed)|exceeded (?:the )?(?:storage|quota)"
                         r"|mailbox size limit|insufficient (?:system )?storage|disk quota|mail ?box space not enough"
                         r"|postfach (?:ist )?(?:voll|überfüllt)|speicherplatz|speicherkapazität|boîte (?:aux lettres )?pleine"
                         r"|casella (?:di posta )?piena|user is over|account is full|full mailbox|mail ?folder is full|mailbox exceeds|mailbox quota|quota violation|exceed\S{0,20} (?:\S{1,40} )?quota|not enough (?:disk )?space|storage (?:space )?(?:full|limit)"),
        ("spam_blocked", r"spam|blacklist|blocklist|block ?list|black ?listed|rbl|spamhaus|reputation|junk mail|dnsbl"
                         r"|virus|malware|content (?:rejected|filter)|listed at"),
        ("domain_not_found", r"host or domain name not found|domain (?:name )?not found|unrouteable|unroutable"
                             r"|no mx (?:record|host)|name service error|host (?:name )?not found|host unknown|unknown host"
                             r"|nameserver error|domain (?:does not|doesn't) exist|no such domain|dns (?:lookup )?(?:failure|error)"
                             r"|unable to resolve|could not be resolved|no route to host|domäne .{0,80}nicht gefunden"),
        ("mailbox_disabled", r"account (?:has been |is )?(?:disabled|suspended|deactivated|inactive|expired|locked)"
                             r"|mailbox (?:is |has been )?(?:disabled|inactive|suspended|deactivated|closed)|inactive (?:user|account)"
                             r"|no longer (?:active|in use|valid|available)|has moved|deaktiviert|gesperrt"),
        ("user_unknown", r"user unknown|unknown user|no such (?:user|recipient|mailbox|address|account)|does not exist|doesn'?t exist"
                         r"|not exist|invalid (?:recipient|mailbox|address|user)"
                         r"|recipient not found|unknown recipient|user not found|mailbox not found|mailbox unavailable"
                         r"|address not found|not (?:a )?valid (?:mailbox|recipient)|no mailbox|unknown (?:local part|address|mailbox)"
                         r"|not listed|user doesn'?t have|recipientnotfound|unbekannt|existiert nicht"
                         r"|n'existe pas|inconnu|non esiste|sconosciuto|desconocido|no existe|not our customer|bad destination"
                         r"|undeliverable address|no account|account .{0,80}not found|not a known user|unrouteable address"),
        ("message_too_large", r"message (?:size|length) exceeds|too (?:big|large)|message size|size limit|exceeds (?:the )?(?:maximum|size)"),
        ("expired", r"retry time|retry timeout|time(?:d)? ?out|delivery time expired|message expired|has not been delivered|"
                    r"could not be delivered (?:for|within)|giving up|deferred|delayed|still being retried|cannot send message for"
                    r"|could not send mail for past|will (?:continue|keep) trying|delivery attempts will continue|noch nicht zugestellt"),
        ("quota", r"rate limit|too many (?:connections|messages|recipients)|sending quota|try again later|exceeded .{0,80}limit"),
        ("rejected_policy", r"relay(?:ing)? (?:access )?(?:denied|not permitted)|not permitted|policy|authenticat|access denied"
                            r"|administrative prohibition|rejected|refused|not allowed|denied|ptr|reverse dns|spf|dkim|dmarc"
                            r"|unauthenticated|prohibited|blocked"),
    )
)


def _standalone(text: str, match: re.Match[str]) -> bool:
    return match.start() == 0 or text[match.start() - 1] not in "0123456789."


def first_status(text: str) -> str | None:
    """The first failure status code (4.x.x or 5.x.x) in text; 2.x.x success codes in SMTP transcripts are skipped."""
    for match in _STATUS_RE.finditer(text):
        if match.group(1) != "2" and _standalone(text, match):
            return ".".join(match.groups())
    return None


def smtp_code(text: str) -> str | None:
    """The first bare SMTP failure reply code (4xx/5xx) in text."""
    for match in _SMTP_CODE_RE.finditer(text):
        if _standalone(text, match):
            return match.group(1)
    return None


def has_failure_code(text: str) -> bool:
    return first_status(text) is not None or smtp_code(text) is not None


def reason_for(status: str | None, text: str) -> str:
    """A reason from the status code first (precise), then from the wording.

    Quota wording wins over any status class: servers answer a full mailbox with 5.2.2,
    5.7.0 or 5.0.0 alike ("552 5.2.2 Mailbox Full", "maildir over quota").
    """
    if status and _text_reason(text) == "mailbox_full" and not status.startswith("5.1."):
        return "mailbox_full"
    if status:
        for prefix, reason in _STATUS_REASONS:
            if status == prefix:
                if reason == "rejected_policy":  # 5.7.x covers spam blocks and policy: let the text decide
                    return _text_reason(text) if _text_reason(text) in ("spam_blocked", "rejected_policy") else reason
                return reason
    reason = _text_reason(text)
    if reason == "other" and status:
        reason = {"1": "user_unknown", "7": "rejected_policy"}.get(status.split(".")[1], "other")
    if reason == "other" and re.search(r"(?<![\d.])[45]52(?![\d.])", text):
        reason = "mailbox_full"  # RFC 5321: 552/452 is exceeded storage allocation
    return reason


def _text_reason(text: str) -> str:
    low = " ".join(text.lower().split())  # reports wrap lines anywhere
    for reason, pattern in _TEXT_REASONS:
        if pattern.search(low):
            return reason
    return "other"


def bounce_type(status: str | None, reason: str, delayed: bool = False, temporary: bool = False) -> BounceType:
    """Soft when the failure is temporary (4.x.x, delayed, `temporary` wording) or the mailbox is only full:
    the address may recover. Everything else is hard.

    `temporary`: the report says the failure is transient (`temporary_wording`); that outranks a
    5.x.x status, which servers also send when they give up after retrying a host that was down.
    """
    if delayed or temporary or reason == "mailbox_full" or (status or "").startswith("4"):
        return "soft"
    if not status and reason == "quota":
        return "soft"
    return "hard"


# Wording that says delivery failed for now, not for good (lower-cased, whitespace collapsed).
# Exim's "retry time not reached ... after a long failure period" / "all hosts ... have been failing"
# mean a host is down, not that the address is dead.
_TEMPORARY_RE = re.compile(
    r"\bdeferred\b|will be (?:re-?attempted|retried|tried again)|re-?attempted later|temporar(?:y|ily) "
    r"(?:error|failure|problem|unavailable|rejected|deferred|local problem)|this is a temporary|"
    r"all hosts (?:for '?[^ ]{1,80}'? )?have been failing|have been failing for a long time|retry time not reached|"
    r"zustellung (?:wurde )?verzögert|verzögerte zustellung|noch nicht zugestellt|wird (?:später )?erneut versucht|"
    r"vorübergehende?r? (?:fehler|problem)|still being retried|will (?:continue|keep) trying|not yet been delivered|"
    r"delivery (?:is |has been )?delayed|greylist")


def temporary_wording(text: str) -> bool:
    """Whether a report says its failure is temporary ('deferred', 'will be reattempted later', 'Zustellung verzögert')."""
    return bool(text) and _TEMPORARY_RE.search(" ".join(text[:4000].lower().split())) is not None


def smtp_status_from_code(text: str) -> str | None:
    """A DSN-like status from a bare SMTP reply code (550 -> 5.0.0) when no enhanced code is given."""
    code = smtp_code(text)
    return f"{code[0]}.0.0" if code else None


# ---- the original message -------------------------------------------------------------------
# Field names of a quoted header block as mail clients and NDR generators write them above a quoted or
# returned mail (Outlook/Exchange, Thunderbird, Apple Mail, Lotus Notes, webmailers), lower-case, by
# language, with the field each stands for. Only `subject`, `date`, `from` and `message-id` are read;
# the others are known so that a value ends where the next field begins ("Betreff: X Gesendet am: Y").
_QUOTED_FIELDS: dict[str, str] = {
    # RFC 5322 names, as English clients print them
    "message-id": "message-id", "subject": "subject", "date": "date", "from": "from", "sent": "date",
    "sent on": "date", "to": "to", "cc": "cc", "bcc": "bcc", "reply-to": "other", "reply to": "other",
    "sender": "other", "sent by": "other", "importance": "other", "attachments": "other",
    # German: Outlook (Von/Gesendet/An/Cc/Betreff), Exchange NDRs (Gesendet am), Thunderbird (Datum),
    # Apple Mail (Kopie, Antwort an), Lotus Notes (Gesendet von, Kopie, Blindkopie)
    "betreff": "subject", "datum": "date", "von": "from", "absender": "from", "gesendet": "date",
    "gesendet am": "date", "an": "to", "empfänger": "to", "kopie": "cc", "kopie (cc)": "cc", "blindkopie": "bcc",
    "antwort an": "other", "gesendet von": "other", "wichtigkeit": "other", "anlagen": "other",
    # French (Outlook writes a space before the colon: "De :", "Envoyé :", "À :", "Objet :")
    "de": "from", "envoyé": "date", "envoyé le": "date", "à": "to", "objet": "subject",
    # Italian
    "da": "from", "inviato": "date", "inviato il": "date", "a": "to", "oggetto": "subject", "data": "date",
    # Dutch
    "van": "from", "verzonden": "date", "verzonden op": "date", "aan": "to", "onderwerp": "subject",
    # Spanish and Portuguese
    "enviado": "date", "enviado el": "date", "enviada em": "date", "enviado em": "date", "fecha": "date",
    "para": "to", "asunto": "subject", "assunto": "subject",
    # Polish, Swedish, Danish and Norwegian
    "od": "from", "wysłano": "date", "do": "to", "temat": "subject", "från": "from", "skickat": "date",
    "till": "to", "ämne": "subject", "fra": "from", "sendt": "date", "til": "to", "emne": "subject", "dato": "date",
}
# Longest names first, so "Gesendet am:" is not read as "Gesendet" with the value "am: ...".
_FIELD_NAMES = "|".join(re.escape(name) for name in sorted(_QUOTED_FIELDS, key=len, reverse=True))
# A field at the start of a line once quoting ("> ") and indentation are stripped; the colon may follow a
# space (French).
_FIELD_START_RE = re.compile(rf"({_FIELD_NAMES})[ \t]?:", re.I)
# The next field on the same line (Outlook's header block flattened to one line by an HTML-to-text step).
# Names of one letter ("A:", "À:") end a value only at a line start: "Plan A: neu" is a subject.
_FIELD_INLINE_RE = re.compile(rf"[ \t](?!(?:a|à)[ \t]?:)({_FIELD_NAMES})[ \t]?:", re.I)


def quoted_headers(text: str) -> dict[str, str]:
    """The first value of each field in quoted header blocks of `text`, by RFC 5322 name ('subject', 'date',
    'from', 'to', 'cc', 'bcc', 'message-id'), whitespace collapsed and RFC 2047 words decoded.

    A field begins at a known name (see `_QUOTED_FIELDS`: 'Betreff:', 'Gesendet am:', 'Objet :' …) at the
    start of a line and ends at the next known name, at the line end, or after indented continuation lines.
    Reads the first 20,000 characters; linear in them.
    """
    found: dict[str, str] = {}
    name: str | None = None
    parts: list[str] = []

    def close() -> None:
        if name is not None and name != "other":
            value = decode_words(" ".join(" ".join(parts).split()))
            if value:
                found.setdefault(name, value)

    for line in text[:20000].splitlines():
        stripped = line.lstrip(" \t>")
        start = _FIELD_START_RE.match(stripped)
        if start is None:
            if name is not None and line[:1] in (" ", "\t") and line.strip():
                parts.append(line)  # an indented continuation line
                continue
            close()
            name = None
            continue
        close()
        begin, name = start.end(), _QUOTED_FIELDS[start.group(1).lower()]
        for following in _FIELD_INLINE_RE.finditer(stripped, begin):
            parts = [stripped[begin:following.start()]]
            close()
            begin, name = following.end(), _QUOTED_FIELDS[following.group(1).lower()]
        parts = [stripped[begin:]]
    close()
    return found


def original_of(mail: Mail, report_text: str = "") -> Original:
    """Headers of the returned mail: an enclosed message/rfc822 or header part, else quoted header lines."""
    enclosed = mail.enclosed
    if enclosed is not None and (enclosed.message_id or enclosed.subject):
        return Original(message_id=enclosed.message_id or None, subject=decode_words(enclosed.subject) or None,
                        date=enclosed.header("Date") or None, from_=enclosed.from_address or None)
    found = quoted_headers(report_text)
    if "message-id" not in found and "subject" not in found:
        return Original()
    return Original(message_id=found.get("message-id"), subject=found.get("subject"),
                    date=found.get("date"), from_=first_address(found.get("from", "")) or None)


def decode_words(value: str) -> str:
    """RFC 2047 encoded words left in quoted or enclosed headers ('=?utf-8?q?Pr=C3=BCfung?=')."""
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError, email.errors.MessageError):
        return value


def original_recipients(mail: Mail, report_text: str) -> list[str]:
    enclosed = mail.enclosed
    if enclosed is not None:
        return addresses(enclosed.header("To"))
    match = re.search(r"^[ \t>]*to[ \t]*:[ \t]*(.+)$", report_text, re.I | re.M)
    return addresses(match.group(1)) if match else []
