"""The classifier's evidence lines in the reader's language.

Detectors write evidence as `<detector>: <finding>` in English, with header names, values and
quoted mail text verbatim (filters/*.py). The pages show the detector as a word and the finding
translated where its wording is one the detectors use; header names (Action, Status,
Diagnostic-Code, Auto-Submitted …, as the RFCs name them) and everything quoted from the mail
stay as they are. A finding no pattern knows is shown unchanged, never hidden.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from flask import g
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from .labels import label

DETECTORS: dict[str, LazyString] = {
    "dsn": _l("Delivery report (DSN)"),
    "ndr": _l("Bounce text"),
    "autoreply": _l("Auto-reply headers"),
    "lexicon": _l("Wording"),
    "mdn": _l("Read receipt (MDN)"),
    "arf": _l("Complaint (ARF)"),
    "ses": _l("Amazon SES"),
    "human": _l("Signs of a person"),
    "allowlist": _l("Allowlist"),
    "parser": _l("Parser"),
}
_KINDS = {"out-of-office": _l("out-of-office subject %(x)s"), "acknowledgement": _l("acknowledgement subject %(x)s"),
          "challenge/quarantine": _l("sender-check or quarantine subject %(x)s")}


def _kind_subject(m: re.Match[str]) -> str:
    text = str(_KINDS[m["kind"]]) % {"x": m["x"]}
    return text + (" " + str(_l("(weak alone)")) if m["weak"] else "")


# (finding pattern, how to say it); groups named in the pattern are the values put in.
_FINDINGS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = tuple(
    (re.compile(pattern), say) for pattern, say in (
        (r"^message/(?P<x>[\w-]+) part$", lambda m: str(_l("report part message/%(x)s")) % m.groupdict()),
        (r"^(?:Content-Type )?multipart/report; report-type=(?P<x>[\w-]+)$",
         lambda m: str(_l("report format multipart/report (%(x)s)")) % m.groupdict()),
        (r"^Action: (?P<a>\S+) \(a delivery receipt, not a failure\)$",
         lambda m: str(_l("Action: %(a)s (a delivery receipt, not a failure)")) % m.groupdict()),
        (r"^auto-reply wording (?P<x>.+)$", lambda m: str(_l("auto-reply wording %(x)s")) % m.groupdict()),
        (r"^(?P<kind>out-of-office|acknowledgement|challenge/quarantine) subject (?P<x>.+?)(?P<weak> \(weak alone\))?$",
         _kind_subject),
        (r"^answers no mail \(no In-Reply-To/References\): weaker$",
         lambda m: str(_l("answers no mail (no In-Reply-To/References): weaker"))),
        (r"^Exchange inbox rule reply \((?P<x>.+)\)$",
         lambda m: str(_l("reply of an Exchange inbox rule (%(x)s)")) % m.groupdict()),
        (r"^Reply-To is an autoreply address$", lambda m: str(_l("Reply-To is an autoreply address"))),
        (r"^sender looks like a mail system: (?P<x>.+)$",
         lambda m: str(_l("sender looks like a mail system: %(x)s")) % m.groupdict()),
        (r"^bounce subject: (?P<x>.+)$", lambda m: str(_l("bounce subject: %(x)s")) % m.groupdict()),
        (r"^bounce wording: (?P<x>.+)$", lambda m: str(_l("bounce wording: %(x)s")) % m.groupdict()),
        (r"^status (?P<s>\S+) \((?P<r>\w+)\)$", lambda m: f"Status {m['s']} ({label('reason', m['r'])})"),
        (r"^delivery-status report present \(its recipient fields unreadable\)$",
         lambda m: str(_l("delivery report present (its recipient fields unreadable)"))),
        (r"^Znuny's own bounce detection flagged this new ticket \(MailFlags=bounce\)$",
         lambda m: str(_l("Znuny's own bounce detection flagged this new ticket (MailFlags=bounce)"))),
        (r"^receipt subject (?P<x>.+)$", lambda m: str(_l("receipt subject %(x)s")) % m.groupdict()),
        (r"^receipt wording (?P<x>.+)$", lambda m: str(_l("receipt wording %(x)s")) % m.groupdict()),
        (r"^complaint subject (?P<x>.+) with the original enclosed$",
         lambda m: str(_l("complaint subject %(x)s with the original enclosed")) % m.groupdict()),
        (r"^forwarded by a person \(subject (?P<x>.+)\)$",
         lambda m: str(_l("forwarded by a person (subject %(x)s)")) % m.groupdict()),
        (r"^a reply \(subject starts (?P<x>.+)\), auto-replies put their own prefix first$",
         lambda m: str(_l("a reply (subject starts %(x)s); auto-replies put their own prefix first")) % m.groupdict()),
        (r"^(?P<n>\d+) characters typed above a quote$",
         lambda m: str(_l("%(n)s characters typed above a quote")) % m.groupdict()),
        (r"^long personal text \((?P<n>\d+) characters\)$",
         lambda m: str(_l("long personal text (%(n)s characters)")) % m.groupdict()),
        (r"^list or newsletter mail \((?P<x>.+)\), not a reply to us$",
         lambda m: str(_l("list or newsletter mail (%(x)s), not a reply to us")) % m.groupdict()),
        (r"^sent with a mail client \((?P<x>.+)\)$",
         lambda m: str(_l("sent with a mail client (%(x)s)")) % m.groupdict()),
        (r"^X-Mailer of a mail client \((?P<x>.+)\)$",
         lambda m: str(_l("X-Mailer of a mail client (%(x)s)")) % m.groupdict()),
        (r"^detector failed \((?P<x>.+)\)$", lambda m: str(_l("detector failed (%(x)s)")) % m.groupdict()),
    ))
_LINE = re.compile(r"^(?P<over>overruled )?(?P<name>[a-z]+): (?P<rest>.*)$", re.S)


def evidence_text(line: str) -> str:
    """One evidence line as the reader sees it: 'Wortlaut: Betreff einer Abwesenheitsnotiz 'Abwesend'' (German).

    Kept per request in `g`: the review queue shows the same few dozen lines many times.
    """
    cache: dict[str, str] = g.setdefault("bouncer_evidence", {})
    if line not in cache:
        cache[line] = _say(line)
    return cache[line]


def _say(line: str) -> str:
    if line == "no machine signal found":
        return str(_l("no sign of machine mail found"))
    match = _LINE.match(line)
    if match is None or match["name"] not in DETECTORS:
        return line
    rest = match["rest"]
    for pattern, say in _FINDINGS:
        found = pattern.match(rest)
        if found:
            rest = say(found)
            break
    text = f"{DETECTORS[match['name']]}: {rest}"
    return str(_l("overruled: %(x)s", x=text)) if match["over"] else text
