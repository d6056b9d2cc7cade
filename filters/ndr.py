"""Non-standard delivery failures: the free-text NDRs of Exim, qmail, old Sendmail, Exchange, GMX/web.de,
T-Online, Yahoo and friends, which carry no machine-readable report.

No single sign is proof (people write about undelivered mail too), so this detector
adds up independent signs: a daemon sender, a bounce subject, bounce wording in the
report, X-Failed-Recipients, DSN fields pasted into the text, an SMTP status. It needs a
bounce-specific sign plus a second one, and reports each in the evidence. A sender that is no
mail daemon (no-reply@, an antivirus gateway, a product's postmaster) counts when the bounce
wording and an enclosed original agree.
"""
from __future__ import annotations

import re

from bouncer.fields import field_address, is_recipient_block, parse_blocks
from bouncer.mail import Mail, addresses, first_address
from bouncer.owntext import is_forward
from bouncer.verdict import Verdict

from . import Detector, Trust, _smtp

NAME = "ndr"
BODY_WINDOW = 8000  # where failed recipients are looked for
WORDING_WINDOW = 2500  # bounce wording stands in the first lines of a report

_DAEMON_RE = re.compile(
    r"^(?:mailer[-_.]?daemon|post[-_.]?master|mail[-_.]?delivery[-_.]?(?:system|subsystem)?|mmdf|smtp[-_.]?gateway"
    r"|mdaemon|ndr|bounces?|e500_smtp_mail_service|postoffice|microsoftexchange[0-9a-f]{32})(?:@|$)", re.I)
# Machine senders that are no mail daemon: a bounce from them needs the wording and the original to agree.
# (searched in the local part only)
# Roles people write from (admin@, info@, security@) are not among them.
_MACHINE_SENDER_RE = re.compile(r"no[-_.]?reply|do[-_.]?not[-_.]?reply|auto[-_.]?reply|gateway|virus|scan|quarantine|"
                                r"mail[-_.]?system|notification|postmaster|mailguard|filter", re.I)
# Display names of mail gateways and servers that send NDRs under their product's name.
_PRODUCT_NAME_RE = re.compile(r"microsoft outlook|exchange|mailscanner|symantec|sophos|trend ?micro|ironport|barracuda|"
                              r"proofpoint|mimecast|kerio|mdaemon|domino|zimbra|securemail|mail ?gateway|spam ?filter|"
                              r"virus ?scan|antivirus|postfix|sendmail|qmail|exim", re.I)
_DAEMON_NAME_RE = re.compile(r"mail delivery (?:sub)?system|mailer[- ]daemon|postmaster|delivery subsystem|"
                             r"mail deliver system|ndr administrator|system administrator|e-mail interconnect", re.I)
_POSTMASTER_ONLY_RE = re.compile(r"^post[-_.]?master@", re.I)
_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|non[- ]?deliver|not (?:be )?delivered|delivery (?:status notification|failure|failed|problem|"
    r"notification|has failed|warning|error|status)|mail delivery|returned mail|returning message|failure notice|"
    r"failed delivery|delivery failure|failed mail|mail (?:failed|failure|error|not delivered|system error)|"
    r"message (?:delivery failure|delayed|not delivered|delivery has failed)|warning: (?:could not|message)|"
    r"could not send|unzustellbar|nicht zustellbar|unzustellbare|zustellungsfehler|fehlgeschlagen|"
    r"non remis|non distribuable|échec de (?:la )?remise|impossible de remettre|no se puede entregar|"
    r"onbestelbaar|niet bezorgd|non recapitabile|mancato recapito|nie dostarczono|niedostarczalne|не доставлено|"
    r"permanent delivery failure|processing error|automatically rejected|mail could not be delivered|"
    r"delivery notification|problem (?:with|delivering)|bounce(?:d)? (?:notification|mail|message)|errors from|^e$|邮件传输失败|^failure delivery|^delivery failure|"
    r"delivery delayed|zustellung verzögert|verzögerte zustellung|mail delivery deferred|"
    r"配信不能|配信エラー|配送エラー|未配達|送信エラー|エラーメール|宛先不明|退信|无法投递|投递失败|전송 실패|반송", re.I)
_BODY_RE = re.compile(
    r"could not be delivered|couldn'?t be delivered|was not delivered|delivery (?:to the following|has failed|failed)|"
    r"permanent(?:ly)? (?:error|fatal|failure)|(?:wasn'?t|was not|not) able to deliver|i'?ve given up|fatal errors?|undeliverable|unable to deliver|could not deliver|"
    r"message could not be|failed to deliver|following (?:address(?:es)?|recipients?) (?:failed|had|could)|"
    r"created automatically by mail delivery software|mail delivery software|this is the mail system at|"
    r"i'?m sorry to (?:have to )?inform you|qmail-send program|delivery status notification|"
    r"returned to (?:the )?sender|(?:message|mail|e-?mail) (?:was|has been) (?:rejected|returned)|cannot be delivered|"
    r"transcript of (?:the )?session|returning (?:the )?message|could not reach|not reach the following|"
    r"delivery (?:attempts|problem|failure)|has not yet been delivered|delivery is delayed|delayed|"
    r"will (?:continue|keep) trying|retry time|user unknown|no such user|mailbox (?:unavailable|full)|"
    r"error occurred while trying to deliver|smtp error|remote (?:host|server) (?:said|returned)|"
    r"diagnoseinformationen für administratoren|konnte nicht (?:zugestellt|übermittelt)|nicht zugestellt|"
    r"zustellung .{0,80}fehlgeschlagen|unzustellbar|n'a pas pu être remis|no se ha podido entregar|non è stato possibile|"
    r"kon niet worden bezorgd|не может быть доставлено|не доставлено|无法发送|无法送达|退信|"
    r"送信できませんでした|送信に失敗|配送できませんでした|届きませんでした|配信できませんでした|届けられませんでした|宛先不明|"
    r"did not reach (?:some or all|the following)|hat einige oder alle empfänger nicht erreicht|"
    r"(?:empfänger|recipients?(?:\(s\))?) (?:kann|können|konnten|could|cannot|can't)(?:/können)? (?:nicht|not) (?:be )?(?:erreicht|reached)|"
    r"n'a pas atteint|non ha raggiunto|heeft .{0,30}niet bereikt|nie dotarła|no llegó a|"
    r"zustellung (?:an folgende|ist) .{0,40}(?:fehlgeschlagen|verzögert)|wurde(?:n)? nicht zugestellt|"
    r"konnte(?:n)? nicht (?:zugestellt|erreicht) werden|deferred|will be reattempted|virus (?:found|detected)|"
    r"virus gefunden|nicht ausgeliefert|not been delivered")  # on lower-cased text
_DELAY_RE = re.compile(r"\bdelay(?:ed)?\b|still being retried|will (?:continue|keep) trying|not yet been delivered|"
                       r"warning: message|could not send mail for past|retry|noch nicht zugestellt|verzögert|"
                       r"\bdeferred\b|reattempted")  # lower-cased
_ORIGINAL_MARKER_RE = re.compile(
    r"^.{0,20}(?:original message|message headers follow|header of the original|copy of the message|below this line|"
    r"returned message|unsent message|original (?:mail|e-?mail)|headers of the original|ursprüngliche nachricht|"
    r"kopf der ursprünglichen|message d'origine|messaggio originale|mensaje original)|^received: from |"
    r"^content-type: message/rfc822", re.I | re.M)
# Lines that name an address but not a failed one: contact hints and quoted headers of the original.
_NOT_RECIPIENT_LINE_RE = re.compile(r"contact|assistance|for more information|^\s*(?:to|cc|from|subject|sent|date|"
                                    r"reply-to|return-path|received|envelope-from)\s*:|\bfrom\s+<")  # lower-cased lines
_ERROR_LINE_RE = re.compile(r"(?<![\d.])[45]\d\d(?![\d])|[45]\.\d{1,3}\.\d{1,3}|unknown|not exist|no such|rejected|"
                            r"failed|invalid|refused|denied|unavailable|full|quota|not found|error|unbekannt|"
                            r"permanent|could not|couldn't|undeliverable|unrouteable|unable")  # lower-cased lines
_LIST_HEAD_RE = re.compile(r"following (?:addresses|recipients?|address)|addresses had|recipients? (?:failed|could not)|"
                           r"could not be delivered to|failed addresses|fehlgeschlagene (?:adressen|empfänger)|"
                           r"folgende(?:\(r\))? empfänger|destinataires? suivants?|destinatari seguenti")
_BODY_DSN_RE = re.compile(r"^(?:final|original)-recipient[ \t]*:", re.I | re.M)


def detect(mail: Mail) -> Verdict | None:
    signs: list[str] = []
    score = 0.0
    sender = mail.from_address
    return_path = mail.header("Return-Path")
    daemon = (bool(_DAEMON_RE.match(sender)) or bool(_DAEMON_NAME_RE.search(mail.from_header))
              or "<>" in mail.from_header
              or not sender and (return_path == "<>" or bool(_DAEMON_RE.match(first_address(return_path)))))
    if daemon:
        score += 0.35
        signs.append(f"{NAME}: sender looks like a mail system: {mail.from_header[:80]}")
    subject_hit = _SUBJECT_RE.search(mail.subject)
    if subject_hit and not daemon and subject_hit.start() > _prefix_end(mail.subject):
        subject_hit = None  # "5 Einladungsbriefe unzustellbar": a person's subject, not an NDR's prefix
    if subject_hit:
        score += 0.35
        signs.append(f"{NAME}: bounce subject: {subject_hit.group(0)!r}")
    failed_header = addresses(",".join(mail.headers.get_all("X-Failed-Recipients")))
    report_sign = mail.report_type == "delivery-status" or mail.first("message/delivery-status") is not None
    machine = not daemon and (bool(_MACHINE_SENDER_RE.search(sender.partition("@")[0]))
                              or bool(_PRODUCT_NAME_RE.search(mail.from_header.partition("<")[0])))
    if not (daemon or subject_hit or failed_header or report_sign or machine):
        return None  # nothing could make it strong enough: spare the body scan (most human mail ends here)
    report = report_text(mail)[:BODY_WINDOW]
    pasted = _pasted_fields(mail.body_text[:BODY_WINDOW])
    body_hit = _BODY_RE.search(" ".join(report[:WORDING_WINDOW].lower().split()))  # reports wrap lines anywhere
    if body_hit:
        score += 0.3
        signs.append(f"{NAME}: bounce wording: {body_hit.group(0)!r}")
    if failed_header:
        score += 0.4
        signs.append(f"{NAME}: X-Failed-Recipients: {', '.join(failed_header[:3])}")
    if report_sign:
        score += 0.4
        signs.append(f"{NAME}: delivery-status report present (its recipient fields unreadable)")
    if mail.hints.get("znuny_bounce_flag"):
        score += 0.25
        signs.append(f"{NAME}: Znuny's own bounce detection flagged this new ticket (MailFlags=bounce)")
    if pasted:
        score += 0.3
        signs.append(f"{NAME}: DSN fields in the text ({len(pasted)} recipient block(s))")
    if _smtp.has_failure_code(report):
        score += 0.1
    enclosed = bool(machine and body_hit) and (
        mail.enclosed is not None or _ORIGINAL_MARKER_RE.search(mail.body_text[:BODY_WINDOW], 40) is not None)
    if enclosed:
        score += 0.5
        signs.append(f"{NAME}: machine sender {sender!r}, bounce wording and the original enclosed agree")
    specific = bool(subject_hit or body_hit or failed_header or report_sign or pasted)
    # postmaster@ is a role people write from: alone with bounce wording it is not enough.
    strong = (daemon and not _POSTMASTER_ONLY_RE.match(sender)) or bool(failed_header) or report_sign or bool(
        subject_hit and (body_hit or daemon)) or enclosed
    if not specific or not strong or score < 0.6:
        return None
    if _looks_forwarded(mail):
        return None

    original = _smtp.original_of(mail, mail.body_text)
    field_recipients = [a for block in pasted for a in _block_addresses(block)]
    recipients = failed_header or list(dict.fromkeys(field_recipients)) or find_recipients(mail, report, original.from_)
    diagnostic = _diagnostic_line(report, recipients)
    field_status = next((_smtp.first_status(b.get("status", "")) for b in pasted if b.get("status")), None)
    status = (field_status or _smtp.first_status(diagnostic) or _smtp.smtp_status_from_code(diagnostic)
              or _smtp.first_status(report) or _smtp.smtp_status_from_code(report))
    reason = _smtp.reason_for(status, diagnostic or report[:2000])
    delayed = bool(_DELAY_RE.search(mail.subject.lower())) or (
        bool(_DELAY_RE.search(report[:600].lower())) and not (status or "").startswith("5"))
    btype = _smtp.bounce_type(status, reason, delayed=delayed,
                              temporary=_smtp.temporary_wording(diagnostic or report[:1500]))
    if btype == "soft" and not delayed and any(_recipient_type(report, r) == "hard" for r in recipients[1:]):
        btype = "hard"  # one dead address among several is still a dead address
    if status:
        signs.append(f"{NAME}: status {status} ({reason})")
    if not recipients:
        score -= 0.1
    return Verdict(
        category="bounce", confidence=round(min(0.95, score), 2), evidence=tuple(signs), bounce_type=btype,
        reason=reason, recipients=tuple(recipients), status=status, diagnostic=diagnostic or None,
        original=original,
    )


def _pasted_fields(text: str) -> list[dict[str, str]]:
    """Recipient blocks of DSN fields written into the text (old MTAs do; so do people who paste them)."""
    if not _BODY_DSN_RE.search(text):
        return []
    return [b for b in parse_blocks(text) if is_recipient_block(b) and ("action" in b or "status" in b)]


def _block_addresses(block: dict[str, str]) -> list[str]:
    found = [field_address(block.get(key, "")) for key in ("original-recipient", "final-recipient")]
    return [a for a in found if a]


def _prefix_end(subject: str) -> int:
    """Where a subject's first word may start: after an optional [tag] and up to a few characters."""
    match = re.match(r"\s*(?:\[[^\]]{0,60}\]\s*)?", subject)
    return (match.end() if match else 0) + 2


def report_text(mail: Mail) -> str:
    """The report itself: the body up to where the returned original starts."""
    text = mail.body_text
    marker = _ORIGINAL_MARKER_RE.search(text, 40)
    return text[: marker.start()] if marker else text


def find_recipients(mail: Mail, report: str, sender: str | None) -> list[str]:
    """Failed addresses named in the report, ranked by how error-like their lines are (`sender`:
    the original's From, quoted back, which counts only on an error line)."""
    own = {mail.from_address, *addresses(mail.header("To")), *addresses(mail.header("Return-Path"))}
    scored: dict[str, int] = {}
    lines = report[:BODY_WINDOW].splitlines()
    listing = False  # below "the following addresses had permanent errors" the failures are listed
    for index, line in enumerate(lines):
        if not listing and _LIST_HEAD_RE.search(line.lower()):
            listing = True
        if "@" not in line:
            continue
        low = line.lower()
        found = [a for a in addresses(line) if a not in own and not _is_message_id(line, a)]
        if not found or _NOT_RECIPIENT_LINE_RE.search(low):
            continue
        weight = 1
        if _ERROR_LINE_RE.search(low):
            weight += 2
        elif _ERROR_LINE_RE.search(" ".join(lines[index + 1:index + 3]).lower()):
            weight += 1
        if line.lstrip().startswith(("<", "*", "-", "\"")) or line.startswith(("  ", "\t")):
            weight += 1
        if listing:
            weight += 2
        for address in found:
            if address == sender and weight < 3:
                continue  # our own address quoted back, unless an error line names it
            scored[address] = max(scored.get(address, 0), weight)
    if scored:
        best = max(scored.values())
        return [a for a, w in scored.items() if w == best][:20]
    return _smtp.original_recipients(mail, mail.body_text)[:5]


def _is_message_id(line: str, address: str) -> bool:
    low = line.lower()
    return "message-id" in low or f"<{address}>" in low and ("id " in low or "msgid" in low)


def _diagnostic_line(report: str, recipients: list[str]) -> str:
    lines = [ln.strip() for ln in report.splitlines() if ln.strip()]
    for index, line in enumerate(lines):
        if not any(r in line.lower() for r in recipients):
            continue
        if _smtp.has_failure_code(line):
            return line[:300]
        if index + 1 < len(lines) and _smtp.has_failure_code(lines[index + 1]):
            return lines[index + 1][:300]
    for line in lines:
        if _smtp.first_status(line) or _smtp.smtp_code(line[:4]):
            return line[:300]
    return ""


def _recipient_type(report: str, recipient: str) -> str:
    """Hard or soft for one of several recipients, from the lines that name it."""
    lines = report.splitlines()
    at = next((i for i, line in enumerate(lines) if recipient in line.lower()), None)
    if at is None:
        return "soft"
    context = " ".join(lines[at:at + 3])
    status = _smtp.first_status(context) or _smtp.smtp_status_from_code(context)
    return _smtp.bounce_type(status, _smtp.reason_for(status, context))


def _looks_forwarded(mail: Mail) -> bool:
    """A person forwarding a bounce to us ("Fwd: Undelivered ...") is a person."""
    return is_forward(mail.subject) and not mail.from_address.startswith(
        ("mailer-daemon", "postmaster"))


DETECTOR = Detector(NAME, Trust.HEADER, detect)
