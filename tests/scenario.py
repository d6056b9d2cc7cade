"""A week of mail as a press office gets it: generated RFC 822 mails and the invoker bodies Znuny posts for them.

`press_week()` builds one press release to a few hundred recipients and the replies to it in every
format the classifier knows (RFC 3464 DSNs with the original attached or only its headers, free-text
NDRs quoting it or naming it only in the subject, RFC 3834 and vendor auto-replies with and without
In-Reply-To, ticket-system acknowledgements, RFC 8098 read receipts and "Gelesen:" ones, an ARF
complaint, people's replies and an opt-out request), plus a member mailing and a second press release in the same week, plus
machine mail about no mailing of ours (an auto-reply and a bounce to an agent's ticket answer).
Each reaction carries what it must become: its category and the mailing it belongs to (None: no
mailing). `invoker_body` turns a mail into the body Znuny 7 posts for it (see ../shared/otrs-wire):
header fields, the first text part as Body, every other part a base64 Attachment, the
PostMaster-filter copies of Auto-Submitted and friends as article dynamic fields.
"""
from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid
from typing import Any

from bouncer.znuny import ARTICLE_HEADER_FIELDS

OUR_ADDRESS = "presse@gruene-example.de"
OUR_NAME = "Pressestelle Grüne Landesverband"


@dataclass(frozen=True)
class Mailing:
    """One mail we sent to many: what its replies can refer to."""

    key: str  # the scenario's name for it
    message_id: str
    subject: str
    sent: datetime
    recipients: tuple[str, ...]

    def original(self, to: str) -> EmailMessage:
        """The copy `to` received (what a DSN attaches or an NDR quotes)."""
        mail = EmailMessage()
        mail["From"] = f"{OUR_NAME} <{OUR_ADDRESS}>"
        mail["To"] = to
        mail["Subject"] = self.subject
        mail["Date"] = format_datetime(self.sent)
        mail["Message-ID"] = self.message_id
        mail.set_content(f"{self.subject}\n\nDer Landesvorstand hat heute beschlossen …\n")
        return mail


@dataclass
class Reaction:
    """A mail that came back, when, and what the pages must make of it."""

    at: datetime
    mail: EmailMessage
    category: str  # the verdict it must get
    mailing: str | None  # Mailing.key it belongs to, None: to no mailing
    address: str | None = None  # the recipient it is about (failed, away, read, wrote)
    bounce_type: str | None = None
    label: str = ""  # which format, for test ids and messages

    def raw(self) -> bytes:
        return self.mail.as_bytes(policy=policy.SMTP)


@dataclass
class Week:
    mailings: dict[str, Mailing]
    reactions: list[Reaction] = field(default_factory=list)

    def of(self, key: str | None) -> list[Reaction]:
        return [r for r in self.reactions if r.mailing == key]


BERLIN_MORNING = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)  # Monday 7 December 2026, 09:00 in Berlin
PRESS_RELEASE = "pm"
MEMBER_LETTER = "mb"
SECOND_RELEASE = "pm2"


def press_week(recipients: int = 300) -> Week:
    """The week of 7 December 2026: three mailings and every reply in its place (deterministic)."""
    pm = Mailing(PRESS_RELEASE, "<pm-112-2026.4711@presse.gruene-example.de>",
                 "PM 112/2026: Landesvorstand fordert Ausbau des Nahverkehrs", BERLIN_MORNING,
                 tuple(f"redaktion{i:03d}@{_DOMAINS[i % len(_DOMAINS)]}" for i in range(recipients)))
    mb = Mailing(MEMBER_LETTER, "<mb-2026-12.0815@mitglieder.gruene-example.de>",
                 "Mitgliederbrief Dezember: Einladung zur Jahreshauptversammlung", BERLIN_MORNING + timedelta(days=2),
                 tuple(f"mitglied{i:03d}@{_DOMAINS[(i + 3) % len(_DOMAINS)]}" for i in range(40)))
    # The same series' next press release: same prefix, another subject; must not merge with the first.
    pm2 = Mailing(SECOND_RELEASE, "<pm-113-2026.4712@presse.gruene-example.de>",
                  "PM 113/2026: Fraktion legt Haushaltsantrag vor", BERLIN_MORNING + timedelta(days=3, hours=2),
                  tuple(f"desk{i:03d}@{_DOMAINS[(i + 5) % len(_DOMAINS)]}" for i in range(30)))
    week = Week({m.key: m for m in (pm, mb, pm2)})
    add = week.reactions.append
    r = iter(pm.recipients)
    minute = timedelta(minutes=1)

    def at(m: Mailing, minutes: int) -> datetime:
        return m.sent + minutes * minute

    # --- bounces to the press release
    for i in range(12):
        to = next(r)
        add(Reaction(at(pm, 2 + i), dsn(to, pm, "5.1.1", "550 5.1.1 <%s>: Recipient address rejected: User unknown"),
                     "bounce", PRESS_RELEASE, to, "hard", "dsn-rfc822"))
    for i in range(4):
        to = next(r)
        add(Reaction(at(pm, 20 + i), dsn(to, pm, "5.1.1", "550 5.1.1 user unknown", headers_only=True),
                     "bounce", PRESS_RELEASE, to, "hard", "dsn-rfc822-headers"))
    for i in range(3):
        to = next(r)
        add(Reaction(at(pm, 30 + 60 * i), dsn(to, pm, "4.2.2", "452 4.2.2 Mailbox full", action="delayed"),
                     "bounce", PRESS_RELEASE, to, "soft", "dsn-delayed"))
    to = next(r)
    add(Reaction(at(pm, 40), exim_ndr(to, pm), "bounce", PRESS_RELEASE, to, "hard", "exim-text-quoted"))
    to = next(r)
    add(Reaction(at(pm, 45), exchange_ndr_subject_only(to, pm), "bounce", PRESS_RELEASE, to, "hard",
                 "exchange-unzustellbar-subject-only"))
    # --- auto-replies
    for i in range(6):
        to = next(r)
        add(Reaction(at(pm, 5 + 7 * i), out_of_office(to, pm, in_reply_to=True, prefix="Automatische Antwort: "),
                     "auto_reply", PRESS_RELEASE, to, label="ooo-in-reply-to"))
    for i, prefix in enumerate(("Out of Office / Abwesenheit: ", "Automatische Antwort: WG: ",
                                "Abwesenheitsnotiz: ", "Réponse automatique : ", "Automatic reply: ")):
        to = next(r)
        add(Reaction(at(pm, 70 + 9 * i), out_of_office(to, pm, in_reply_to=False, prefix=prefix),
                     "auto_reply", PRESS_RELEASE, to, label="ooo-subject-only"))
    to = next(r)
    add(Reaction(at(pm, 95), out_of_office(to, pm, in_reply_to=False, prefix="Automatische Antwort: ", quote=True),
                 "auto_reply", PRESS_RELEASE, to, label="ooo-quoted"))
    to = next(r)
    add(Reaction(at(pm, 12), acknowledgement(to, pm, "Ihre Nachricht an das Landesfunkhaus: "),
                 "auto_reply", PRESS_RELEASE, to, label="ticket-ack"))
    to = next(r)
    add(Reaction(at(pm, 14), acknowledgement(to, pm, "[Ticket#2026120710000042] Eingangsbestätigung: "),
                 "auto_reply", PRESS_RELEASE, to, label="ticket-ack-hook"))
    # --- read receipts
    for i in range(5):
        to = next(r)
        add(Reaction(at(pm, 25 + 11 * i), mdn(to, pm), "read_receipt", PRESS_RELEASE, to, label="mdn"))
    to = next(r)
    add(Reaction(at(pm, 90), gelesen(to, pm), "read_receipt", PRESS_RELEASE, to, label="gelesen-subject"))
    # --- a complaint
    to = next(r)
    add(Reaction(at(pm, 180), arf(to, pm), "feedback_report", PRESS_RELEASE, to, label="arf"))
    # --- people
    to = next(r)
    add(Reaction(at(pm, 50), reply(to, pm, "Danke, wir bringen das morgen. Gibt es ein Foto?", in_reply_to=True),
                 "human", PRESS_RELEASE, to, label="person-in-reply-to"))
    to = next(r)
    add(Reaction(at(pm, 65), reply(to, pm, "Können Sie mir die Rede als PDF schicken? Ich finde sie nicht.",
                                   in_reply_to=False, quote=True), "human", PRESS_RELEASE, to, label="person-quoted"))
    to = next(r)
    add(Reaction(at(pm, 66), reply(to, pm, "Bitte nehmen Sie mich aus Ihrem Presseverteiler.", in_reply_to=False,
                                   quote=True), "unsubscribe", PRESS_RELEASE, to, label="person-opt-out"))

    # --- the member mailing: a few of each
    m = iter(mb.recipients)
    for i in range(3):
        to = next(m)
        add(Reaction(at(mb, 3 + i), dsn(to, mb, "5.1.1", "550 5.1.1 No such user"), "bounce", MEMBER_LETTER, to,
                     "hard", "dsn-rfc822"))
    to = next(m)
    add(Reaction(at(mb, 8), out_of_office(to, mb, in_reply_to=True, prefix="Abwesend: "), "auto_reply",
                 MEMBER_LETTER, to, label="ooo-in-reply-to"))
    to = next(m)
    add(Reaction(at(mb, 9), mdn(to, mb), "read_receipt", MEMBER_LETTER, to, label="mdn"))
    to = next(m)
    add(Reaction(at(mb, 30), reply(to, mb, "Ich komme gern, mit Begleitung.", in_reply_to=True), "human",
                 MEMBER_LETTER, to, label="person-in-reply-to"))

    # --- the second press release
    p2 = iter(pm2.recipients)
    for i in range(2):
        to = next(p2)
        add(Reaction(at(pm2, 2 + i), dsn(to, pm2, "5.1.1", "550 5.1.1 unknown"), "bounce", SECOND_RELEASE, to,
                     "hard", "dsn-rfc822"))
    to = next(p2)
    add(Reaction(at(pm2, 4), out_of_office(to, pm2, in_reply_to=False, prefix="Automatische Antwort: "),
                 "auto_reply", SECOND_RELEASE, to, label="ooo-subject-only"))
    to = next(p2)
    add(Reaction(at(pm2, 6), exchange_ndr_subject_only(to, pm2), "bounce", SECOND_RELEASE, to, "hard",
                 "exchange-unzustellbar-subject-only"))

    # --- machine mail about no mailing of ours: replies to an agent's answer in a ticket
    ticket_answer = Mailing("ticket", "<1795834031.99.1@znuny.gruene-example.de>",
                            "Re: [Ticket#2026120410000017] Frage zur Mitgliedschaft", BERLIN_MORNING - timedelta(days=1),
                            ("b.kaiser@mail-example.de",))
    add(Reaction(at(pm, 300), out_of_office("b.kaiser@mail-example.de", ticket_answer, in_reply_to=True,
                                            prefix="Automatische Antwort: "),
                 "auto_reply", None, "b.kaiser@mail-example.de", label="ooo-to-ticket-answer"))
    add(Reaction(at(pm, 310), dsn("c.wolf@gone-example.de", ticket_answer, "5.1.1", "550 5.1.1 unknown"),
                 "bounce", None, "c.wolf@gone-example.de", "hard", "dsn-to-ticket-answer"))
    # An out-of-office that refers to nothing at all (a newsletter's sender's autoresponder).
    add(Reaction(at(pm, 320), bare_out_of_office("info@verein-example.de"), "auto_reply", None,
                 "info@verein-example.de", label="ooo-no-original"))
    week.reactions.sort(key=lambda item: item.at)
    return week


_DOMAINS = ("tageblatt-example.de", "rundfunk-example.de", "zeitung-example.de", "agentur-example.com",
            "portal-example.de", "funkhaus-example.de", "wochenblatt-example.de")


def _part(content_type: str, text: str) -> Message:
    """A MIME part as a receiving parser builds it (report parts are lists of header blocks)."""
    return message_from_string(f"Content-Type: {content_type}\n\n{text}", policy=policy.default)


# --- the formats ---------------------------------------------------------------------------------

def _base(sender: str, subject: str, at_: datetime | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = OUR_ADDRESS
    mail["Subject"] = subject
    mail["Date"] = format_datetime(at_ or BERLIN_MORNING)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">") or "mx.example")
    return mail


def dsn(to: str, m: Mailing, status: str, diagnostic: str, *, action: str = "failed",
        headers_only: bool = False) -> EmailMessage:
    """RFC 3464: multipart/report with the human part, the delivery-status and the original (or its headers)."""
    domain = to.rpartition("@")[2]
    mail = _base(f"Mail Delivery System <MAILER-DAEMON@mx.{domain}>",
                 "Delayed Mail (still being retried)" if action == "delayed" else "Undelivered Mail Returned to Sender")
    mail["Auto-Submitted"] = "auto-replied"
    mail.set_content("This is the mail system.\n\nI'm sorry to have to inform you that your message could not\n"
                     "be delivered to one or more recipients.\n")
    mail.make_mixed()
    mail.replace_header("Content-Type", 'multipart/report; report-type="delivery-status"')
    status_part = _part("message/delivery-status", f"Reporting-MTA: dns; mx.{domain}\n\nFinal-Recipient: rfc822; {to}\n"
                            f"Original-Recipient: rfc822; {to}\nAction: {action}\nStatus: {status}\n"
                            f"Diagnostic-Code: smtp; {diagnostic.replace('%s', to)}\n")
    mail.attach(status_part)
    original = m.original(to)
    if headers_only:
        part = _part("text/rfc822-headers", original.as_bytes(policy=policy.SMTP).split(b"\r\n\r\n", 1)[0]
                     .decode("ascii").replace("\r\n", "\n") + "\n")
        mail.attach(part)
    else:
        part = EmailMessage()
        part.set_content(original)
        mail.attach(part)
    return mail


def exim_ndr(to: str, m: Mailing) -> EmailMessage:
    """Exim's plain-text failure notice: X-Failed-Recipients and the original quoted below the report."""
    mail = _base("Mail Delivery System <Mailer-Daemon@mx.exim-example.net>",
                 "Mail delivery failed: returning message to sender")
    mail["X-Failed-Recipients"] = to
    mail["Auto-Submitted"] = "auto-replied"
    original = m.original(to).as_string()
    mail.set_content("This message was created automatically by mail delivery software.\n\n"
                     "A message that you sent could not be delivered to one or more of its\n"
                     f"recipients. This is a permanent error. The following address(es) failed:\n\n  {to}\n"
                     "    SMTP error from remote mail server after RCPT TO:<" + to + ">:\n"
                     "    550 5.1.1 No such user here\n\n"
                     "------ This is a copy of the message, including all the headers. ------\n\n" + original)
    return mail


def exchange_ndr_subject_only(to: str, m: Mailing) -> EmailMessage:
    """Exchange's German text NDR: the original only named in the subject, no ids, no quote."""
    mail = _base("Microsoft Outlook <postmaster@" + to.rpartition("@")[2] + ">", "Unzustellbar: " + m.subject)
    mail.set_content("Die Nachricht konnte an folgende Empfänger nicht zugestellt werden:\n\n"
                     f"{to}\nDie E-Mail-Adresse wurde nicht gefunden.\n\n"
                     f"Diagnoseinformationen für Administratoren:\nGenerierender Server: mx.example\n{to}\n"
                     "Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'\n")
    return mail


def out_of_office(to: str, m: Mailing, *, in_reply_to: bool, prefix: str, quote: bool = False) -> EmailMessage:
    """An out-of-office: RFC 3834 headers (with In-Reply-To), or only its wording and subject (without)."""
    mail = _base(to, prefix + m.subject, m.sent + timedelta(minutes=1))
    if in_reply_to or quote:  # a server rule that quotes the original marks its answer (RFC 3834)
        mail["Auto-Submitted"] = "auto-replied"
    if in_reply_to:
        mail["In-Reply-To"] = m.message_id
        mail["References"] = m.message_id
    text = ("Vielen Dank für Ihre Nachricht. Ich bin bis zum 14.12.2026 nicht im Büro und lese meine E-Mails "
            "nicht. In dringenden Fällen wenden Sie sich bitte an die Zentrale.\n")
    if quote:
        text += (f"\n-----Ursprüngliche Nachricht-----\nVon: {OUR_NAME} <{OUR_ADDRESS}>\n"
                 f"Gesendet: {format_datetime(m.sent)}\nAn: {to}\nBetreff: {m.subject}\n\n"
                 "Der Landesvorstand hat heute beschlossen …\n")
    mail.set_content(text)
    return mail


def bare_out_of_office(sender: str) -> EmailMessage:
    mail = _base(sender, "Automatische Antwort: Ihre Nachricht")
    mail["Auto-Submitted"] = "auto-replied"
    mail.set_content("Ich bin bis zum 14.12.2026 nicht im Büro. Ihre Nachricht wird nicht weitergeleitet.\n")
    return mail


def acknowledgement(to: str, m: Mailing, prefix: str) -> EmailMessage:
    """A ticket system's receipt for our mail (the editorial desk's Zammad/OTRS)."""
    mail = _base(f"Redaktion <{to}>", prefix + m.subject, m.sent + timedelta(minutes=2))
    mail["Auto-Submitted"] = "auto-replied"
    mail["In-Reply-To"] = m.message_id
    mail.set_content("Ihre Nachricht ist bei uns eingegangen und wird unter der oben genannten Nummer "
                     "bearbeitet. Dies ist eine automatisch erstellte Nachricht.\n")
    return mail


def mdn(to: str, m: Mailing) -> EmailMessage:
    """RFC 8098 disposition notification with the original's id."""
    mail = _base(to, "Gelesen: " + m.subject, m.sent + timedelta(minutes=5))
    mail.set_content(f"Ihre Nachricht an {to} wurde gelesen.\n")
    mail.make_mixed()
    mail.replace_header("Content-Type", 'multipart/report; report-type="disposition-notification"')
    part = _part("message/disposition-notification", f"Reporting-UA: mail.example; Thunderbird\nFinal-Recipient: rfc822; {to}\n"
                     f"Original-Message-ID: {m.message_id}\n"
                     "Disposition: manual-action/MDN-sent-manually; displayed\n")
    mail.attach(part)
    return mail


def gelesen(to: str, m: Mailing) -> EmailMessage:
    """Outlook's receipt: "Gelesen:" and the original's subject, no report part."""
    mail = _base(to, "Gelesen: " + m.subject, m.sent + timedelta(minutes=5))
    mail["In-Reply-To"] = m.message_id
    mail.set_content(f"Ihre Nachricht\n\n  An: {to}\n  Betreff: {m.subject}\n  Gesendet: {format_datetime(m.sent)}\n\n"
                     f"wurde am {format_datetime(m.sent + timedelta(hours=1))} gelesen.\n")
    return mail


def arf(to: str, m: Mailing) -> EmailMessage:
    """RFC 5965 feedback report (a recipient pressed "spam") with the original attached."""
    mail = _base("Feedback Loop <fbl@mail-provider-example.com>", "FW: " + m.subject)
    mail.set_content("This is an email abuse report for an email message received from IP 192.0.2.10.\n")
    mail.make_mixed()
    mail.replace_header("Content-Type", 'multipart/report; report-type="feedback-report"')
    part = _part("message/feedback-report", "Feedback-Type: abuse\nUser-Agent: FBL/1.0\nVersion: 1\n"
                     f"Original-Mail-From: <{OUR_ADDRESS}>\nOriginal-Rcpt-To: <{to}>\n")
    mail.attach(part)
    original = EmailMessage()
    original.set_content(m.original(to))
    mail.attach(original)
    return mail


def reply(to: str, m: Mailing, text: str, *, in_reply_to: bool, quote: bool = False) -> EmailMessage:
    """A person's answer from a mail client."""
    mail = _base(f"Petra Lang <{to}>", ("Re: " if in_reply_to else "AW: ") + m.subject, m.sent + timedelta(hours=1))
    mail["User-Agent"] = "Mozilla Thunderbird"
    if in_reply_to:
        mail["In-Reply-To"] = m.message_id
        mail["References"] = m.message_id
    body = f"Hallo,\n\n{text}\n\nViele Grüße\nPetra Lang\n"
    if quote:
        body += f"\nAm {format_datetime(m.sent)} schrieb {OUR_NAME}:\n> {m.subject}\n> Der Landesvorstand hat …\n"
    mail.set_content(body)
    return mail


# --- as Znuny posts it -------------------------------------------------------------------------------

def invoker_body(raw: bytes, ticket_id: int, article_id: int) -> dict[str, Any]:
    """The ArticleCreate invoker request Znuny 7 sends for this mail (a new ticket, its first article)."""
    mail = message_from_bytes(raw, policy=policy.default)
    leaves = list(_leaves(mail))
    body_part = next((p for p in leaves if p.get_content_type() == "text/plain"), None)
    body = body_part.get_content() if body_part is not None else ""
    attachments = []
    for number, part in enumerate(leaves, start=1):
        if part is body_part:
            continue
        content = part.as_bytes(policy=policy.SMTP).split(b"\r\n\r\n", 1)[1] if part.is_multipart() or \
            part.get_content_maintype() == "message" else part.get_payload(decode=True) or b""
        attachments.append({"ContentType": part.get("Content-Type", "text/plain"), "Filename": f"file-{number + 1}",
                            "Disposition": "attachment" if part.get_content_maintype() == "message" else "inline",
                            "Content": base64.b64encode(content).decode("ascii"), "FileID": str(number)})
    article: dict[str, Any] = {
        "TicketID": str(ticket_id), "ArticleID": str(article_id), "ArticleNumber": 1, "SenderType": "customer",
        "CommunicationChannelID": 1, "From": str(mail["From"] or ""), "To": str(mail["To"] or ""),
        "Subject": str(mail["Subject"] or ""), "MessageID": str(mail["Message-ID"] or ""),
        "InReplyTo": str(mail["In-Reply-To"] or ""), "References": str(mail["References"] or ""),
        "Body": body, "ContentType": "text/plain; charset=utf-8", "Attachment": attachments,
    }
    for field_name, header in ARTICLE_HEADER_FIELDS.items():
        if mail[header]:
            article[f"DynamicField_{field_name}"] = str(mail[header])
    return {"Event": {"Event": "ArticleCreate", "TicketID": ticket_id, "ArticleID": article_id},
            "Ticket": {"TicketID": ticket_id, "TicketNumber": f"20261207{ticket_id:08d}", "State": "new",
                       "Queue": "Postmaster", "Article": article}}


def _leaves(mail: Message) -> Iterator[Message]:
    """The parts Znuny stores: leaves of the multipart tree; an enclosed message stays one part."""
    if mail.is_multipart() and mail.get_content_maintype() == "multipart":
        for part in mail.get_payload():
            yield from _leaves(part)
    else:
        yield mail
