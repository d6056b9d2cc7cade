"""Read receipts (RFC 8098 message disposition notifications) and their Outlook/Exchange look-alikes.

The `message/disposition-notification` part is proof (`DETECTOR`, a report). Without it
(`WORDING_DETECTOR`), a receipt subject ("Gelesen:", "Lesebestätigung:", Lotus Notes' "Return
Receipt", Thunderbird's "Return Receipt (displayed)") counts only when the body says the same
("Wurde gelesen von", "Your document: ... was received by"), since a person may well start a
subject with "Gelesen". Receipts are sent by mail clients, so those templates are trusted like
headers.
"""
from __future__ import annotations

import re

from bouncer.fields import parse_blocks
from bouncer.mail import Mail, addresses
from bouncer.verdict import Original, Verdict

from . import Detector, Trust, _smtp

NAME = "mdn"
_SUBJECT_RE = re.compile(
    r"^\s*(?:gelesen|read|zugestellt|delivered|lu|letto|gelezen|leído|leido|läst|odczytane|přečteno|luettu|læst|lest"
    r"|lesebestätigung|empfangsbestätigung \(angezeigt\)|return receipt(?: \(displayed\))?|read receipt|"
    r"disposition notification|nicht gelesen|not read|deleted|gelöscht|rückbestätigung|lesebestaetigung|"
    r"confirmation de lecture|conferma di lettura|leesbevestiging|potwierdzenie (?:przeczytania|odczytu))"
    r"(?:\s*[:(-]|\s*$)", re.I)
_BODY_RE = re.compile(
    r"return receipt|read receipt|was (?:read|displayed) on|wurde am .{0,80}?gelesen|wurde (?:am .{0,40})?angezeigt|"
    r"empfangsbestätigung|lesebestätigung|was delivered to the following|wurde an folgende empfänger übermittelt|"
    r"zustellung an diese empfänger|delivery to these recipients or groups is complete|has been displayed|"
    r"message was displayed|ihre nachricht .{0,80} wurde .{0,60}gelesen|your message .{0,80} was read|"
    r"a été lu|è stato letto|is gelezen|fue leído|har lästs|wurde gelesen von|gelesen von:|"
    r"(?:your|ihr) (?:document|dokument)\s*:.{0,200}(?:was received by|wurde (?:empfangen|gelesen) von)|"
    r"was received by\s*:|erhalten am .{0,60}gelesen|was read by|wurde am .{0,40}geöffnet|"
    r"zeigt nur an,? dass die nachricht|this (?:receipt|notification) (?:only )?(?:acknowledges|indicates)", re.I | re.S)

# Receipt templates that name the original's subject on a line of their own (Lotus Notes, Tine 2.0).
_NAMED_SUBJECT_RE = re.compile(r"^[ \t]*(?:your document|ihr dokument|ihre nachricht|your message)[ \t]*:[ \t]*(\S[^\n]{0,300})$",
                               re.I | re.M)


def detect(mail: Mail) -> Verdict | None:
    """A receipt from its `message/disposition-notification` part (RFC 8098 §3)."""
    part = mail.first("message/disposition-notification", "message/global-disposition-notification")
    if part is not None or mail.report_type == "disposition-notification":
        fields: dict[str, str] = {}
        for block in parse_blocks(part.text) if part is not None else ():
            fields.update(block)  # an MDN is one block of fields; merge in case a sender splits it
        disposition = fields.get("disposition", "")
        evidence = [f"{NAME}: message/disposition-notification part" if part is not None
                    else f"{NAME}: multipart/report; report-type=disposition-notification"]
        if disposition:
            evidence.append(f"{NAME}: Disposition: {disposition[:80]}")
        original = _smtp.original_of(mail, mail.body_text)
        if fields.get("original-message-id") and not original.message_id:
            original = Original(message_id=fields["original-message-id"], subject=original.subject,
                                date=original.date, from_=original.from_)
        recipient = addresses(fields.get("final-recipient", ""))
        if "deleted" in disposition.lower() and re.search(r"reject|refus|abgelehnt|abgewiesen", mail.body_text, re.I):
            return _rejected(mail, evidence, tuple(recipient), original)
        return Verdict(category="read_receipt", confidence=0.97, evidence=tuple(evidence),
                       recipients=tuple(recipient), original=original)
    return None


def detect_wording(mail: Mail) -> Verdict | None:
    """A receipt without its report part: the client's receipt subject and body template agree."""
    if mail.first("message/disposition-notification", "message/global-disposition-notification") is not None:
        return None
    subject = _SUBJECT_RE.match(mail.subject)
    if not subject:
        return None
    body = _BODY_RE.search(" ".join(mail.body_text[:4000].split()))
    evidence = [f"{NAME}: receipt subject {subject.group(0).strip()!r}"]
    if body:
        evidence.append(f"{NAME}: receipt wording {body.group(0)[:60]!r}")
    original = _smtp.original_of(mail, mail.body_text)
    named = _NAMED_SUBJECT_RE.search(mail.body_text[:4000])
    if not original.subject and named:
        original = Original(message_id=original.message_id, subject=" ".join(named.group(1).split())[:300],
                            date=original.date, from_=original.from_)
    return Verdict(category="read_receipt", confidence=0.88 if body else 0.55, evidence=tuple(evidence),
                   original=original)


def _rejected(mail: Mail, evidence: list[str], recipients: tuple[str, ...], original: Original) -> Verdict:
    """A Sieve `reject` (RFC 5429) answers with an MDN whose disposition is 'deleted': a refusal, so a bounce."""
    text = mail.body_text[:2000]
    status = _smtp.first_status(text)
    reason = _smtp.reason_for(status, text)
    return Verdict(category="bounce", confidence=0.9,
                   evidence=tuple(evidence) + (f"{NAME}: disposition 'deleted' with a rejection notice (Sieve reject)",),
                   bounce_type=_smtp.bounce_type(status, reason), reason=reason, recipients=recipients,
                   status=status, diagnostic=" ".join(text.split())[:200] or None, original=original)


DETECTOR = Detector(NAME, Trust.REPORT, detect)
WORDING_DETECTOR = Detector("receipt_wording", Trust.HEADER, detect_wording)
