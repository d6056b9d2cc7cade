"""Abuse feedback reports (RFC 5965 ARF): a recipient's provider tells us someone pressed "spam".

That is no bounce and no reply, but the press officer must know: the address should
probably leave the list, and the provider is watching our reputation.
"""
from __future__ import annotations

import re

from bouncer.fields import parse_blocks
from bouncer.mail import Mail, addresses
from bouncer.verdict import Verdict

from . import Detector, Trust, _smtp

NAME = "arf"
_SUBJECT_RE = re.compile(r"complaint about message|abuse report|feedback report|spam report|fbl report", re.I)


def detect(mail: Mail) -> Verdict | None:
    """A complaint from its `message/feedback-report` part (RFC 5965 §3)."""
    part = mail.first("message/feedback-report")
    if part is None and mail.report_type != "feedback-report":
        return None
    fields: dict[str, str] = {}
    for block in parse_blocks(part.text if part is not None else ""):
        fields.update(block)
    kind = fields.get("feedback-type", "")
    evidence = [f"{NAME}: message/feedback-report part" if part is not None else
                f"{NAME}: multipart/report; report-type=feedback-report"]
    if kind:
        evidence.append(f"{NAME}: Feedback-Type: {kind[:40]}")
    original = _smtp.original_of(mail, mail.body_text)
    recipients = addresses(fields.get("original-rcpt-to", "")) or (
        addresses(mail.enclosed.header("To")) if mail.enclosed is not None else [])
    return Verdict(category="feedback_report", confidence=0.97, evidence=tuple(evidence),
                   recipients=tuple(recipients), reason=kind.lower() or None, original=original)


def detect_legacy(mail: Mail) -> Verdict | None:
    """Pre-ARF complaint loops (old Hotmail/AOL): a complaint subject with the mail enclosed."""
    if mail.first("message/feedback-report") is not None or mail.report_type == "feedback-report":
        return None
    if not (_SUBJECT_RE.search(mail.subject) and mail.enclosed is not None):
        return None
    return Verdict(category="feedback_report", confidence=0.75,
                   evidence=(f"{NAME}: complaint subject {mail.subject[:60]!r} with the original enclosed",),
                   recipients=tuple(addresses(mail.enclosed.header("To"))), original=_smtp.original_of(mail))


DETECTOR = Detector(NAME, Trust.REPORT, detect)
LEGACY_DETECTOR = Detector("arf_legacy", Trust.HEADER, detect_legacy)
