"""Signs that a person wrote the mail: the veto behind the rule above all.

Not a detector: it never names a category. It answers how strongly a mail looks written by
a person, and why, and the pipeline (`bouncer.classify`) weighs that against each finding by
the finding's trust: wording gives way to any sign, headers to strong signs, and a
machine-readable report only when a person wraps it (a reply or a forward).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .mail import Mail
from .owntext import is_forward, is_reply, own_text

NAME = "human"
_MAILER_RE = re.compile(r"thunderbird|apple mail|iphone|outlook|k-9|roundcube|evolution|mutt|kmail|sogo|webmail", re.I)
# A request or question put to the reader about the matter at hand; responders state, people ask.
# One pattern per leading word: a literal lead is found by a fast scan (lower-cased text).
_REQUEST_PATTERNS = tuple(re.compile(p) for p in (
    *(rf"{verb} sie (?:mir|uns)\b" for verb in ("schicken", "senden", "leiten", "geben")),
    r"können sie (?:mir|uns|bitte)\b", r"könnten sie\b", r"würden sie\b", r"trotzdem\b", r"could you\b",
    r"would you (?:please|mind)", r"can you (?:please|send|tell)", r"please (?:still |do )?send me", r"let me know\b",
))
# An absence announced ahead ("ab morgen", "next week"): responders speak of the absence they are in.
_AHEAD_PATTERNS = tuple(re.compile(p) for p in (
    r"ab morgen\b", r"ab übermorgen\b", r"ab nächste[rnm]? woche", r"nächste woche\b", r"from tomorrow\b",
    r"next week\b", r"starting tomorrow\b",
))
# A salutation naming the reader ("Hallo Frau Brandtner,"): a responder does not know whom it answers.
_NAMED_SALUTATION_RE = re.compile(r"(?:hallo|liebe[rs]?|sehr geehrte[rs]?|guten (?:tag|morgen)|hi|hello|dear)\s+"
                                  r"(?:frau|herr|ms\.?|mr\.?|mrs\.?|dr\.?)\s+[A-ZÄÖÜ][\w-]{1,40}", re.I)
_QUESTION_RE = re.compile(r"[a-zäöüß]{3}\?")  # a word ending in a question mark, looked for only where a '?' is
OWN_TEXT_WINDOW = 6000


@dataclass(frozen=True)
class HumanSigns:
    """How strongly a mail looks written by a person (0 nothing seen, 1 clearly a person), and why."""

    strength: float
    evidence: tuple[str, ...]
    wraps: bool = False  # a reply or forward: a report inside it is quoted by a person, not sent to us
    personal: float = 0.0  # the strength without the subject prefix: what the text, client and headers show
    telling: float = 0.0  # the strength without prefix and quote structure, which auto-replies share with people


NONE = HumanSigns(0.0, ())


def _asks(text: str) -> str:
    """The request or question the text puts to the reader, or ''."""
    at = text.find("?")
    while at != -1:
        question = _QUESTION_RE.match(text, max(0, at - 3), at + 1)
        if question:
            return question.group(0)
        at = text.find("?", at + 1)
    return next((m.group(0) for m in (p.search(text) for p in _REQUEST_PATTERNS) if m), "")


def assess(mail: Mail) -> HumanSigns:
    """Read the person's signs of one mail: reply/forward prefix, typed text above a quote, a
    mail client, a request put to the reader, list headers. Pure; never raises."""
    evidence: list[str] = []
    strength = 0.0
    wraps = False
    if is_forward(mail.subject):
        strength += 0.7
        wraps = True
        evidence.append(f"{NAME}: forwarded by a person (subject {mail.subject[:40]!r})")
    elif is_reply(mail.subject):
        strength += 0.5
        wraps = True
        evidence.append(f"{NAME}: a reply (subject starts {mail.subject[:12]!r}), "
                        "auto-replies put their own prefix first")
    prefix = strength
    body = mail.body_text[:OWN_TEXT_WINDOW]
    mine = own_text(body)
    quoted = len(mine) < len(body.strip()) - 20
    structure = strength
    if quoted and len(mine.strip()) > 40:
        strength += 0.2
        structure += 0.2
        evidence.append(f"{NAME}: {len(mine.strip())} characters typed above a quote")
    if len(mine) > 1500:
        strength += 0.2
        evidence.append(f"{NAME}: long personal text ({len(mine)} characters)")
    asked = _asks(mine[:1500].lower())
    if asked:
        strength += 0.2
        evidence.append(f"{NAME}: asks the reader something ({asked!r})")
    head = mine[:1500]
    ahead = next((m.group(0) for m in (p.search(head.lower()) for p in _AHEAD_PATTERNS) if m), "")
    if ahead:
        strength += 0.2
        evidence.append(f"{NAME}: announces an absence ahead ({ahead!r})")
    salutation = _NAMED_SALUTATION_RE.match(head.lstrip())
    if salutation:
        strength += 0.2
        evidence.append(f"{NAME}: greets the reader by name ({salutation.group(0)[:40]!r})")
    if mail.header("List-Id") or mail.header("List-Unsubscribe") or mail.header("Precedence").lower() == "list":
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
    return HumanSigns(round(min(1.0, strength), 2), tuple(evidence), wraps, round(min(1.0, strength - prefix), 2),
                      round(min(1.0, strength - structure), 2))
