"""Signs that a person wrote the mail: the veto behind the rule above all.

Not a detector of its own category: it returns how strongly the mail looks written by
a person, and why. The pipeline lets that overrule verdicts that rest on wording
alone; it cannot overrule a structural report (a DSN is a DSN).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bouncer.mail import Mail

NAME = "human"
REPLY_PREFIX_RE = re.compile(r"^\s*(?:re|aw|antw|sv|vs|r|rif|odp|ynt|res)\s*(?:\[\d+\])?\s*:", re.I)
FORWARD_PREFIX_RE = re.compile(r"^\s*(?:fwd?|wg|tr|rv|i|doorst|vs|enc)\s*:", re.I)
_QUOTE_START_RE = re.compile(
    r"^(?:>|-{2,}\s*(?:original message|ursprüngliche nachricht|weitergeleitete nachricht|forwarded message|"
    r"message d'origine|messaggio originale|mensaje original)|(?:am|on|le|il|el|op)\s.{5,120}(?:schrieb|wrote|a écrit|"
    r"ha scritto|escribió|schreef)\s?.{0,40}:\s*$|von:\s|from:\s.{0,500}$\n^(?:gesendet|sent|date|datum):)", re.I | re.M)
_MAILER_RE = re.compile(r"thunderbird|apple mail|iphone|outlook|k-9|roundcube|evolution|mutt|kmail|sogo|webmail", re.I)


@dataclass(frozen=True)
class HumanSigns:
    strength: float  # 0: nothing personal seen, 1: clearly a person
    evidence: tuple[str, ...]


def own_text(text: str) -> str:
    """The part a sender typed themselves: everything above the first quote or forwarded block."""
    match = _QUOTE_START_RE.search(text)
    return text[: match.start()] if match else text


def assess(mail: Mail) -> HumanSigns:
    evidence: list[str] = []
    strength = 0.0
    if FORWARD_PREFIX_RE.match(mail.subject):
        strength += 0.7
        evidence.append(f"{NAME}: forwarded by a person (subject {mail.subject[:40]!r})")
    elif REPLY_PREFIX_RE.match(mail.subject):
        strength += 0.5
        evidence.append(f"{NAME}: a reply (subject starts {mail.subject[:12]!r}), auto-replies put their own prefix first")
    mine = own_text(mail.body_text)
    quoted = len(mine) < len(mail.body_text.strip()) - 20
    if quoted and len(mine.strip()) > 40:
        strength += 0.2
        evidence.append(f"{NAME}: {len(mine.strip())} characters typed above a quote")
    if len(mine) > 1500:
        strength += 0.2
        evidence.append(f"{NAME}: long personal text ({len(mine)} characters)")
    if mail.header("List-Id") or mail.header("List-Unsubscribe") or mail.header("Precedence").lower() in ("bulk", "list"):
        strength += 0.3
        evidence.append(f"{NAME}: list or newsletter mail (List-Id/List-Unsubscribe/Precedence), not a reply to us")
    agent = mail.header("User-Agent")
    if _MAILER_RE.search(agent):
        # Responders run on the server; a desktop or phone client's User-Agent means someone typed it.
        strength += 0.3
        evidence.append(f"{NAME}: sent with a mail client (User-Agent {agent[:40]})")
    elif _MAILER_RE.search(mail.header("X-Mailer")):
        strength += 0.1  # Outlook's client-side rules reply with an X-Mailer too
        evidence.append(f"{NAME}: X-Mailer of a mail client ({mail.header('X-Mailer')[:40]})")
    return HumanSigns(min(1.0, strength), tuple(evidence))
