"""Subject prefixes that replies, auto-replies, receipts and bounces put before the original subject.

Shared by the classifier (the original subject an auto-reply refers to) and the store
(grouping replies into mailings), so both strip the same prefixes.
"""
from __future__ import annotations

import re
import unicodedata

# One prefix, matched at a position (no "^"): `strip_prefixes` walks along the subject instead of
# re-cutting the string for every prefix, which was quadratic on "Re: Re: Re: ..." x 10,000.
_PREFIX = re.compile(
    r"\s*(?:\[ticket#[^\]]{0,80}\]"
    r"|(?:re|aw|wg|fw|fwd|antw|antwort|sv|tr|rv|r|rif|odp|automatische antwort|automatic reply|auto[- ]?reply"
    r"|auto[- ]?response|autoreply|auto|abwesenheitsnotiz|abwesend|out of (?:the )?office(?: autoreply)?|urlaub"
    r"|réponse automatique|risposta automatica|automatisch antwoord|respuesta automática|autoodpowiedź|frånvaro"
    r"|unzustellbar|undeliverable|nicht zustellbar|non remis|gelesen|read|nicht gelesen|not read|zugestellt"
    r"|delivered|lu|letto|gelezen|leído)(?:\s*\[\d+\]|\^\d+)?\s*:)\s*",
    re.IGNORECASE,
)
_TICKET_MARK = "[ticket#"
_TICKET_MAX = 90  # '[Ticket#' + at most 80 characters + ']', as in _PREFIX


def strip_prefixes(subject: str | None) -> str:
    """'AW: Abwesenheitsnotiz: [Ticket#1] Newsletter' -> 'Newsletter' (case kept, whitespace collapsed).

    Linear in the subject's length: prefixes and '[Ticket#...]' suffixes are skipped by moving two
    positions, never by cutting the string again.
    """
    text = unicodedata.normalize("NFKC", subject or "")
    start, end = 0, len(text)
    while True:
        prefix = _PREFIX.match(text, start, end)
        if prefix:
            start = prefix.end()
        suffix = _ticket_suffix(text, start, end)
        if not prefix and suffix == end:
            break
        end = suffix
    return " ".join(text[start:end].split())


def _ticket_suffix(text: str, start: int, end: int) -> int:
    """Where a trailing '[Ticket#...]' (and the blanks before it) begins in text[start:end], else `end`."""
    last = _skip_blanks_back(text, start, end)
    if last == start or text[last - 1] != "]":
        return end
    mark = text.rfind("[", max(start, last - _TICKET_MAX), last - 1)
    if mark < 0 or text[mark:mark + len(_TICKET_MARK)].lower() != _TICKET_MARK:
        return end
    return _skip_blanks_back(text, start, mark)


def _skip_blanks_back(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def subject_key(subject: str | None) -> str:
    """Case-folded `strip_prefixes`, for grouping mails about the same mailing."""
    return strip_prefixes(subject).casefold()
