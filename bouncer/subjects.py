"""Subject prefixes that replies, auto-replies, receipts, bounces and acknowledgements put before the original subject.

Shared by the classifier (the original subject an auto-reply refers to) and the store
(grouping replies into mailings), so both strip the same prefixes. Prefixes nest
("AW: Automatische Antwort: Unzustellbar: …"), come in the languages the classifier knows
(German first; English, French, Italian, Dutch, Spanish, Polish, Swedish, Finnish,
Portuguese), may be combined ("Out of Office / Abwesenheit:"), may carry a counter
("RE[2]:", "Re^3:"), a space before the colon ("Lu :") or a gateway's tag ("[EXTERN]",
"[Ticket#2026…]"), and a ticket system's receipt names itself ("Ihre Nachricht an das
Landesfunkhaus:").
"""
from __future__ import annotations

import re
import unicodedata

_WORDS = (
    # replies and forwards
    r"re|aw|wg|fw|fwd|antw|antwort|sv|vs|tr|rv|r|rif|odp|res|enc|doorst|ynt|отв|ha"
    # out-of-office and auto-replies
    r"|automatische antwort|automatic reply|auto[- ]?reply|auto[- ]?response|auto[- ]?antwort|autoreply|auto"
    r"|abwesenheitsnotiz|abwesenheitsmeldung|abwesenheit|abwesend|out of (?:the )?office(?: autoreply)?|ooo|urlaub"
    r"|réponse automatique|risposta automatica|automatisch antwoord|afwezigheidsbericht|respuesta automática"
    r"|autoodpowiedź|odpowiedź automatyczna|frånvaro|automatiskt svar|automaattinen vastaus|resposta automática"
    # bounces and delay warnings
    r"|unzustellbar|nicht zustellbar|undeliverable|undelivered|non remis|non recapitabile|onbestelbaar"
    r"|no se puede entregar|zustellung verzögert|verzögert|delayed|delivery delayed|failure notice"
    # read and delivery receipts
    r"|gelesen|read|nicht gelesen|not read|zugestellt|delivered|lu|non lu|letto|gelezen|leído|läst|przeczytane"
    # acknowledgements
    r"|eingangsbestätigung|empfangsbestätigung|lesebestätigung|lesebestaetigung|rückbestätigung|bestätigung"
    r"|return receipt|read receipt|received|acknowledg(?:e?ment)?|automated response|automatyczna odpowiedź"
    r"|accusé de réception|ontvangstbevestiging"
)
# One prefix, matched at a position (no "^"): `strip_prefixes` walks along the subject instead of
# re-cutting the string for every prefix, which was quadratic on "Re: Re: Re: ..." x 10,000.
_PREFIX = re.compile(
    r"\s*(?:\[[^\]]{1,60}\]"  # [Ticket#2026…], [EXTERN], [SPAM], [Automatyczna odpowiedź] …
    rf"|(?:{_WORDS})(?:\s*\[\d+\]|\^\d+)?(?:\s*/\s*(?:{_WORDS}))*\s*:"
    # "Ihre Nachricht an das Landesfunkhaus:", "Your message to Redaktion:"
    r"|(?:ihre (?:nachricht|e-?mail|mail|anfrage)|your (?:message|e-?mail|request)) (?:an|to) [^:]{1,60}:"
    # Thunderbird's "Return Receipt (displayed) - …", ticket systems' "Ticket Received - 286614 - …"
    r"|(?:return receipt|empfangsbestätigung|lesebestätigung)\s*\((?:displayed|angezeigt)\)\s*[-:]"
    r"|(?:ticket|request) received\s*-\s*\d{1,12}\s*-"
    r")\s*",
    re.IGNORECASE,
)
_TICKET_MARK = "[ticket#"
_TICKET_MAX = 90  # '[Ticket#' and up to 80 characters before the ']'
_TICKET_HOOK = re.compile(r"\[ticket#", re.IGNORECASE)


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


def has_prefix(subject: str | None) -> bool:
    """Does the subject carry a reply, receipt, bounce or acknowledgement prefix (so it names another mail)?"""
    text = " ".join(unicodedata.normalize("NFKC", subject or "").split())
    return bool(text) and strip_prefixes(text) != text[:_ticket_suffix(text, 0, len(text))].strip()


def has_ticket_hook(subject: str | None) -> bool:
    """A ticket system's number in the subject ("[Ticket#2026…]"): mail in a ticket's conversation."""
    return bool(subject) and bool(_TICKET_HOOK.search(subject or ""))
