"""Subject prefixes that replies, auto-replies, receipts and bounces put before the original subject.

Shared by the classifier (the original subject an auto-reply refers to) and the store
(grouping replies into mailings), so both strip the same prefixes.
"""
from __future__ import annotations

import re
import unicodedata

_PREFIX = re.compile(
    r"^\s*(?:\[ticket#[^\]]*\]"
    r"|(?:re|aw|wg|fw|fwd|antw|antwort|sv|tr|rv|r|rif|odp|automatische antwort|automatic reply|auto[- ]?reply"
    r"|auto[- ]?response|autoreply|auto|abwesenheitsnotiz|abwesend|out of (?:the )?office(?: autoreply)?|urlaub"
    r"|réponse automatique|risposta automatica|automatisch antwoord|respuesta automática|autoodpowiedź|frånvaro"
    r"|unzustellbar|undeliverable|nicht zustellbar|non remis|gelesen|read|nicht gelesen|not read|zugestellt"
    r"|delivered|lu|letto|gelezen|leído|lesebestätigung|lesebestaetigung|rückbestätigung|empfangsbestätigung|eingangsbestätigung"
    r"|return receipt|read receipt|automated response|automatyczna odpowiedź)(?:\s*\[\d+\]|\^\d+)?\s*:"
    r"|return receipt\s*\((?:displayed|angezeigt)\)\s*[-:]|(?:ticket|request) received\s*-\s*\d{1,12}\s*-"
    r"|\[automatyczna odpowiedź\])\s*",
    re.IGNORECASE,
)
_TICKET_SUFFIX = re.compile(r"\s*\[ticket#[^\]]*\]\s*$", re.IGNORECASE)


def strip_prefixes(subject: str | None) -> str:
    """'AW: Abwesenheitsnotiz: [Ticket#1] Newsletter' -> 'Newsletter' (case kept, whitespace collapsed)."""
    text = unicodedata.normalize("NFKC", subject or "")
    previous = None
    while previous != text:
        previous = text
        text = _TICKET_SUFFIX.sub("", _PREFIX.sub("", text, count=1))
    return " ".join(text.split())


def subject_key(subject: str | None) -> str:
    """Case-folded `strip_prefixes`, for grouping mails about the same mailing."""
    return strip_prefixes(subject).casefold()
