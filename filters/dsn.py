"""RFC 3464 delivery status notifications: the structured report is proof, not a guess.

Reads every `message/delivery-status` part (also when Znuny hands it over as an
attachment) and, for MTAs that paste the fields into the text, DSN field blocks in the
body. Action failed -> bounce, delayed -> soft bounce, delivered/relayed -> a delivery
receipt ("Zugestellt:"), which is no bounce at all.
"""
from __future__ import annotations

import re

from bouncer.mail import Mail, addresses
from bouncer.verdict import Verdict

from . import _smtp

NAME = "dsn"
_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")
_BODY_DSN_RE = re.compile(r"^(?:final|original)-recipient\s*:", re.I | re.M)
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
        body = mail.body_text
        if not (_BODY_DSN_RE.search(body) and re.search(r"^action\s*:", body, re.I | re.M)):
            return None
        parts, where, confidence = [body], "DSN fields in the body text", 0.9
    recipients = [block for text in parts for block in parse_blocks(text)[1:] if _is_recipient_block(block)]
    if not recipients:
        return None
    failed = [r for r in recipients if _action(r) == "failed"]
    delayed = [r for r in recipients if _action(r) == "delayed"]
    receipts = [r for r in recipients if _action(r) in _RECEIPT_ACTIONS]
    chosen = failed or delayed
    if not chosen:
        if receipts:
            return _receipt(mail, receipts, where)
        chosen = [r for r in recipients if _status(r).startswith(("5", "4"))]
        if not chosen:
            return None
    first = chosen[0]
    status = _status(first)
    diagnostic = _diagnostic(first)
    detail = _smtp.first_status(diagnostic)
    if detail and (not status or status.endswith(".0.0")) and detail[0] == (status or detail)[0]:
        status = detail
    action = _action(first) or ("failed" if status.startswith("5") else "delayed")
    report_text = "\n".join([mail.body_text, diagnostic])
    reason = _smtp.reason_for(status or None, diagnostic or mail.body_text)
    btype = _smtp.bounce_type(status or None, reason, delayed=action == "delayed")
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


def parse_blocks(text: str) -> list[dict[str, str]]:
    """Split DSN fields into blocks (per-message first, then per-recipient), keys lower-cased."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current, last = {}, None
            continue
        if line[0] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        match = _FIELD_RE.match(line)
        if match:
            last = match.group(1).lower()
            current.setdefault(last, match.group(2).strip())
    if current:
        blocks.append(current)
    if blocks and _is_recipient_block(blocks[0]):
        blocks.insert(0, {})  # some MTAs omit the per-message block
    return blocks


def _hard(block: dict[str, str]) -> bool:
    status, diagnostic = _status(block), _diagnostic(block)
    reason = _smtp.reason_for(status or None, diagnostic)
    return _smtp.bounce_type(status or None, reason, delayed=_action(block) == "delayed") == "hard"


def _is_recipient_block(block: dict[str, str]) -> bool:
    return "final-recipient" in block or "original-recipient" in block or "action" in block


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
        kind, sep, rest = value.partition(";")
        found = addresses(rest if sep else value)
        if found and "." in found[0].split("@", 1)[1] and found[0] not in out:
            out.append(found[0])
        if key == "final-recipient" and out:
            break
    return out
