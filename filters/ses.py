"""Amazon SES/SNS notifications: JSON in the body, with the verdict already spelled out.

SES reports bounces, complaints and deliveries as an SNS JSON document rather than
a DSN; reading its fields is exact, so no wording heuristics are needed.
"""
from __future__ import annotations

import json
import re
from typing import Any

from bouncer.mail import Mail
from bouncer.verdict import Original, Verdict

from . import Detector, Trust, _smtp

NAME = "ses"
_START_RE = re.compile(r"\{\s*\"(?:notificationType|eventType|Type|Message)\"")


def detect(mail: Mail) -> Verdict | None:
    text = mail.body_text
    start = _START_RE.search(text)
    if start is None:
        return None
    doc = _load(text[start.start():])
    if isinstance(doc, dict) and isinstance(doc.get("Message"), str):  # SNS envelope around the SES event
        doc = _load(doc["Message"])
    if not isinstance(doc, dict):
        return None
    kind = str(doc.get("notificationType") or doc.get("eventType") or "").lower()
    mail_obj: dict[str, Any] = doc["mail"] if isinstance(doc.get("mail"), dict) else {}
    original = _original(mail_obj)
    if kind == "bounce" and isinstance(doc.get("bounce"), dict):
        bounce = doc["bounce"]
        people = [r for r in bounce.get("bouncedRecipients") or [] if isinstance(r, dict)]
        first = people[0] if people else {}
        status = _smtp.first_status(str(first.get("status") or ""))
        diagnostic = str(first.get("diagnosticCode") or "") or None
        transient = str(bounce.get("bounceType", "")).lower() == "transient"
        reason = _smtp.reason_for(status, diagnostic or str(bounce.get("bounceSubType") or ""))
        return Verdict(
            category="bounce", confidence=0.97,
            evidence=(f"{NAME}: SES notificationType Bounce, bounceType {bounce.get('bounceType')}",),
            bounce_type="soft" if transient else _smtp.bounce_type(status, reason),
            reason=reason, recipients=tuple(str(r.get("emailAddress", "")).lower() for r in people if r.get("emailAddress")),
            status=status, diagnostic=diagnostic, original=original)
    if kind == "complaint":
        people = (doc.get("complaint") or {}).get("complainedRecipients") or []
        return Verdict(category="feedback_report", confidence=0.95, evidence=(f"{NAME}: SES notificationType Complaint",),
                       recipients=tuple(str(r.get("emailAddress", "")).lower() for r in people if isinstance(r, dict)),
                       original=original)
    if kind == "delivery":
        return Verdict(category="read_receipt", confidence=0.9, evidence=(f"{NAME}: SES notificationType Delivery",),
                       original=original)
    return None


def _load(text: str) -> Any:
    try:
        return json.JSONDecoder(strict=False).raw_decode(text)[0]  # SNS wraps long lines inside strings
    except ValueError:
        return None


def _original(mail_obj: dict[str, Any]) -> Original:
    common: dict[str, Any] = mail_obj["commonHeaders"] if isinstance(mail_obj.get("commonHeaders"), dict) else {}
    message_id = common.get("messageId") or mail_obj.get("messageId")
    return Original(message_id=str(message_id) if message_id else None, subject=common.get("subject"),
                    date=common.get("date") or mail_obj.get("timestamp"),
                    from_=(common.get("from") or [None])[0] if isinstance(common.get("from"), list) else None)


DETECTOR = Detector(NAME, Trust.REPORT, detect)
