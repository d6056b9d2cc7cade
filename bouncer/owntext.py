"""What the sender typed themselves, and the subject prefixes people put on replies and forwards.

Shared reading helpers: the wording detectors look only at the own text (a quoted mail of ours
says nothing about the reply), and the human signs read the same text and prefixes.
"""
from __future__ import annotations

import re

REPLY_PREFIX_RE = re.compile(r"^\s*(?:re|aw|antw|sv|vs|r|rif|odp|ynt|res)\s*(?:\[\d{1,4}\])?\s*:", re.I)
FORWARD_PREFIX_RE = re.compile(r"^\s*(?:fwd?|wg|tr|rv|i|doorst|vs|enc)\s*:", re.I)
_QUOTE_START_RE = re.compile(
    r"^(?:>|-{2,}\s*(?:original message|ursprüngliche nachricht|weitergeleitete nachricht|forwarded message|"
    r"message d'origine|messaggio originale|mensaje original|oorspronkelijk bericht|wiadomość oryginalna)|"
    r"(?:am|on|le|il|el|op)\s.{5,120}(?:schrieb|wrote|a écrit|ha scritto|escribió|schreef)\s?.{0,40}:\s*$|"
    r"von:\s|from:\s.{0,500}$\n^(?:gesendet|sent|date|datum):)", re.I | re.M)


def own_text(text: str) -> str:
    """The part a sender typed themselves: everything above the first quote or forwarded block."""
    match = _QUOTE_START_RE.search(text)
    return text[: match.start()] if match else text


def is_reply(subject: str) -> bool:
    return bool(REPLY_PREFIX_RE.match(subject))


def is_forward(subject: str) -> bool:
    return bool(FORWARD_PREFIX_RE.match(subject))
