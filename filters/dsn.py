"""RFC 3464 delivery status notifications: the structured report is proof, not a guess.

Reads every `message/delivery-status` part (also when Znuny hands it over as an
attachment). Action failed -> bounce, delayed -> soft bounce, delivered/relayed -> a delivery
receipt ("Zugestellt:"), which is no bounce at all. A recipient block without Action and
Status (some gateways give Final-Recipient and Diagnostic-Code only) is read from its
Diagnostic-Code. DSN fields pasted into a body's text are no report part: people paste them
too, so `ndr` reads those as one sign among others.
"""
from __future__ import annotations

from bouncer.fields import field_address, is_recipient_block, parse_blocks
from bouncer.mail import Mail, addresses
from bouncer.verdict import Verdict

from . import Detector, Trust, _smtp

NAME = "dsn"
_RECEIPT_ACTIONS = ("delivered", "relayed", "expanded")


def detect(mail: Mail) -> Verdict | None:
    parts = _status_parts(mail)
    where = "message/delivery-status part"
    confidence = 0.98
    if (not parts and mail.report_type == "delivery-status" and (enclosed := mail.enclosed) is not None
            and _status_parts(enclosed)):
        # A gateway that wraps the real DSN in a message/rfc822 while itself claiming to be a DSN.
        mail, parts, where = enclosed, _status_parts(enclosed), "delivery-status report wrapped by a gateway"
    if not parts:
        return None
    recipients = [block for text in parts for block in parse_blocks(text)[1:] if is_recipient_block(block)]
    if not recipients:
        return None
    failed = [r for r in recipients if _action(r) == "failed"]
    delayed = [r for r in recipients if _action(r) == "delayed"]
    receipts = [r for r in recipients if _action(r) in _RECEIPT_ACTIONS]
    chosen = failed or delayed
    if not chosen:
        if receipts:
            return _receipt(mail, receipts, where)
        chosen = [r for r in recipients if _status(r).startswith(("5", "4"))] or [
            r for r in recipients if not _action(r) and _smtp.has_failure_code(_diagnostic(r))]
        if not chosen:
            return None
    first = chosen[0]
    status = _status(first)
    diagnostic = _diagnostic(first)
    detail = _smtp.first_status(diagnostic)
    if detail and (not status or status.endswith(".0.0")) and detail[0] == (status or detail)[0]:
        status = detail
    if not status:  # Final-Recipient and Diagnostic-Code only: the SMTP reply says it
        status = _smtp.smtp_status_from_code(diagnostic) or ""
    action = _action(first) or ("delayed" if status.startswith("4") else "failed")
    report_text = "\n".join([mail.body_text, diagnostic])
    reason = _smtp.reason_for(status or None, diagnostic or mail.body_text)
    btype = _smtp.bounce_type(status or None, reason, delayed=action == "delayed",
                              temporary=_smtp.temporary_wording(diagnostic))
    if btype == "soft" and any(_hard(r) for r in chosen[1:]):
        btype = "hard"  # one dead address among several is still a dead address
    addrs = tuple(dict.fromkeys(a for r in chosen for a in _addresses(r)))
    evidence = [f"{NAME}: {where}", f"{NAME}: Action: {action}" + (f", Status: {status}" if status else "")]
    if diagnostic:
        evidence.append(f"{NAME}: Diagnostic-Code: {diagnostic[:160]}")
    if mail.report_type == "delivery-status":
        evidence.insert(0, f"{NAME}: Content-Type multipart/report; report-type=delivery-status")
    return Verdict(
        category="bounce", confidence=confidence, evidence=tuple(evidence), bounce_type=btype, reason=reason,
        recipients=addrs, status=status or None, diagnostic=diagnostic or None,
        original=_smtp.original_of(mail, report_text),
    )


def _status_parts(mail: Mail) -> list[str]:
    return [p.text for p in mail.find("message/delivery-status", "message/global-delivery-status") if p.text.strip()]


def _receipt(mail: Mail, receipts: list[dict[str, str]], where: str) -> Verdict:
    action = _action(receipts[0])
    return Verdict(
        category="read_receipt", confidence=0.95,
        evidence=(f"{NAME}: {where}", f"{NAME}: Action: {action} (a delivery receipt, not a failure)"),
        recipients=tuple(dict.fromkeys(a for r in receipts for a in _addresses(r))), status=_status(receipts[0]) or None,
        original=_smtp.original_of(mail, mail.body_text),
    )


def _hard(block: dict[str, str]) -> bool:
    status, diagnostic = _status(block), _diagnostic(block)
    reason = _smtp.reason_for(status or None, diagnostic)
    return _smtp.bounce_type(status or None, reason, delayed=_action(block) == "delayed",
                             temporary=_smtp.temporary_wording(diagnostic)) == "hard"


def _action(block: dict[str, str]) -> str:
    return block.get("action", "").split()[0].lower().strip(";") if block.get("action", "").split() else ""


def _status(block: dict[str, str]) -> str:
    return _smtp.first_status(block.get("status", "")) or ""


def _diagnostic(block: dict[str, str]) -> str:
    value = block.get("diagnostic-code", "")
    kind, sep, rest = value.partition(";")
    return (rest if sep and len(kind) < 12 else value).strip()


def _addresses(block: dict[str, str]) -> list[str]:
    """The address we sent to (Original-Recipient) and where delivery failed (Final-Recipient).

    They differ when the mail was forwarded: the first is the one on our distribution list,
    the second is what the receiving side knows. Both failed, so both are reported.
    """
    out = []
    for key in ("original-recipient", "final-recipient", "x-actual-recipient"):
        value = block.get(key, "")
        found = field_address(value)
        if not found and value:  # not an address as written (a pipe, a comment): the address inside it
            found = next((a for a in addresses(value.partition(";")[2] or value) if "." in a.split("@", 1)[1]), None)
        if found and found not in out:
            out.append(found)
        if key == "final-recipient" and out:
            break
    return out


DETECTOR = Detector(NAME, Trust.REPORT, detect)
