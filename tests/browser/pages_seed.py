"""Data for the page tests: real Znuny invoker captures, and variants of them for our own mailings.

Each variant is a captured invoker body (../shared/otrs-wire) with a few strings replaced
in the article and inside its base64 attachments: the failed recipient, the Message-ID
and subject of the returned original, the sender. So every mail still takes the real way
(article adapter, classifier, policy, store) and looks to the pages as a real reaction to
a press release would. `seed_history` feeds a batch through a second `Service` on the same
database with its own clock, to spread reactions over hours like a real mailing.

Also the users, config and https test client the page and API tests share.
"""
from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Iterable

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from bouncer.config import Config
from bouncer.policy import Policy
from bouncer.service import Service
from bouncer.spool import Spool, spool_directory
from bouncer.store import Store
from bouncer.web.auth import User, write_users
from bouncer.znuny import parse_event
from clock import Clock

# What the wire captures carry where our variants put their own values.
EXIM_RECIPIENT = "nobody@example.net"
EXIM_ORIGINAL_ID = "<not-from-znuny-0001@helpdesk.example>"
EXIM_ORIGINAL_SUBJECT = "Subject: Your order"
MDN_ORIGINAL_ID = "<1795834031.495284.436522945@znuny.localhost>"
MDN_RECIPIENT = "bob@example.org"
MDN_NAME = "Bob Builder"
MDN_ORIGINAL_SUBJECT = "Subject: Re: [Ticket#2026112810000021] Question about invoice 4711"

PRESS_RELEASE = ("<pm-2026-047@presse.gruene-example.de>",
                 "Pressemitteilung: Landesparteitag beschließt Klimaschutzplan für Städte")
MEMBER_MAILING = ("<mb-2026-11@mitglieder.gruene-example.de>", "Mitgliederbrief November: Einladung zur Kreisversammlung")
# Written by a stranger: must stay text on every page (escaping and CSP are tested with it).
XSS_SUBJECT = '<script>document.title="pwned"</script>"><img src=x onerror=alert(1)>'
XSS_BODY = '"><img src=x onerror=alert(2)> <script>alert(3)</script> Grüße aus Köln'
T0 = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
SENT = T0 - timedelta(minutes=4)  # when "we" sent both mailings
EXIM_ORIGINAL_DATE = "Date: Sat, 28 Nov 2026 10:09:58 +0100"
MDN_ORIGINAL_DATE = "Date: Sat, 28 Nov 2026 09:10:02 +0100"


def capture(wire_dir: Path, scenario: str) -> dict[str, Any]:
    """The invoker request body of one capture, e.g. 'bounce-exim-unknown-msgid-newticket'."""
    data = json.loads((wire_dir / f"invoker-articlecreate-{scenario}.json").read_text(encoding="utf-8"))
    return data["body_json"]


def variant(body: dict[str, Any], *, ticket_id: int, article_id: int, replace: dict[str, str],
            fields: dict[str, str] | None = None) -> dict[str, Any]:
    """A copy of `body` as another article: ids set, `replace` applied to text and attachments,
    `fields` set on the article (Subject, From, InReplyTo ...)."""
    body = copy.deepcopy(body)
    body["Event"].update(TicketID=ticket_id, ArticleID=article_id)
    body["Event"].pop("OldTicketData", None)
    ticket, article = body["Ticket"], body["Ticket"]["Article"]
    ticket["TicketID"] = ticket_id
    article.update(TicketID=str(ticket_id), ArticleID=str(article_id), ArticleNumber="1",
                   MessageID=f"<variant-{ticket_id}-{article_id}@mx.example.org>")
    for key in ("Body", "Subject", "From", "InReplyTo", "References"):
        if isinstance(article.get(key), str):
            article[key] = _replace(article[key], replace)
    for attachment in article.get("Attachment") or []:
        text = base64.b64decode(attachment["Content"]).decode("utf-8")
        attachment["Content"] = base64.b64encode(_replace(text, replace).encode("utf-8")).decode("ascii")
    article.update(fields or {})
    ticket.pop("Articles", None)  # the article history of the captured ticket is not this one's
    return body


def _replace(text: str, replace: dict[str, str]) -> str:
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def _subject_header(subject: str) -> str:
    return "Subject: " + Header(subject, "utf-8").encode()


def _date_header(moment: datetime) -> str:
    return "Date: " + format_datetime(moment)


@dataclass
class Mails:
    """Builds variant bodies with fresh article ids; tickets are the fake Znuny's, so acting works."""

    wire_dir: Path
    next_article: int = 1000

    def _ids(self, ticket_id: int) -> dict[str, int]:
        self.next_article += 1
        return {"ticket_id": ticket_id, "article_id": self.next_article}

    def bounce(self, recipient: str, mailing: tuple[str, str], *, hard: bool = True) -> dict[str, Any]:
        message_id, subject = mailing
        replace = {EXIM_RECIPIENT: recipient, EXIM_ORIGINAL_ID: message_id,
                   EXIM_ORIGINAL_SUBJECT: _subject_header(subject), EXIM_ORIGINAL_DATE: _date_header(SENT),
                   "mx.example.net": "mx." + recipient.rpartition("@")[2]}
        if not hard:
            replace.update({"550 5.1.1 No such user": "452 4.2.2 Mailbox full, try again later",
                            "Status: 5.1.1": "Status: 4.2.2", "Action: failed": "Action: delayed",
                            "This is a permanent error.": "This is a temporary error."})
        return variant(capture(self.wire_dir, "bounce-exim-unknown-msgid-newticket"), **self._ids(5),
                       replace=replace)

    def auto_reply(self, name: str, sender: str, mailing: tuple[str, str]) -> dict[str, Any]:
        return variant(capture(self.wire_dir, "ooo-vacation-generic-newticket"), **self._ids(4),
                       replace={"carol@example.net": sender, "Carol": name},
                       fields={"InReplyTo": mailing[0], "References": mailing[0],
                               "Subject": f"Abwesend: {mailing[1]}",
                               "Body": "Ich bin bis zum 2. Dezember nicht im Büro. Ihre Mail wird nicht weitergeleitet."})

    def read_receipt(self, name: str, recipient: str, mailing: tuple[str, str]) -> dict[str, Any]:
        return variant(capture(self.wire_dir, "read-receipt-mdn-followup"), **self._ids(3),
                       replace={MDN_ORIGINAL_ID: mailing[0], MDN_RECIPIENT: recipient, MDN_NAME: name,
                                MDN_ORIGINAL_SUBJECT: _subject_header(mailing[1]),
                                MDN_ORIGINAL_DATE: _date_header(SENT)},
                       fields={"Subject": f"Gelesen: {mailing[1]}"})

    def human(self, sender: str, mailing: tuple[str, str] | None, *, subject: str | None = None,
              text: str | None = None) -> dict[str, Any]:
        fields: dict[str, str] = {"From": sender}
        if mailing is not None:
            fields.update(InReplyTo=mailing[0], References=mailing[0], Subject=f"Re: {mailing[1]}")
        if subject is not None:
            fields["Subject"] = subject
        if text is not None:
            fields["Body"] = text
        return variant(capture(self.wire_dir, "human-reply-followup"), **self._ids(3), replace={},
                       fields=fields)


def press_release_reactions(mails: Mails) -> list[tuple[timedelta, dict[str, Any]]]:
    """A day and a half of reactions to the press release: (time after sending, invoker body)."""
    pr, hour = PRESS_RELEASE, timedelta(hours=1)
    hard = ["redaktion@tageblatt-example.de", "m.mueller@lokalzeitung-example.de", "info@radio-example.de",
            "politik@wochenblatt-example.de", "j.schulz@freenet-example.de", "desk@agentur-example.com"]
    reactions: list[tuple[timedelta, dict[str, Any]]] = []
    reactions += [(timedelta(minutes=2 + 3 * i), mails.bounce(address, pr)) for i, address in enumerate(hard)]
    # Three soft bounces of one full mailbox within the window: dead as well.
    reactions += [(n * 5 * hour, mails.bounce("s.krause@posteo-example.de", pr, hard=False)) for n in (1, 2, 3)]
    reactions += [(2 * hour, mails.bounce("nachrichten@sender-example.de", pr, hard=False))]
    ooo = [("Anna Becker", "a.becker@zeitung-example.de"), ("Chefredaktion", "chefredaktion@magazin-example.de"),
           ("Klaus Wagner", "k.wagner@tv-example.de"), ("Pressestelle", "presse@verband-example.org"),
           ("Lena Hoffmann", "l.hoffmann@portal-example.de")]
    reactions += [(timedelta(minutes=5) + i * 2 * hour, mails.auto_reply(name, address, pr))
                  for i, (name, address) in enumerate(ooo)]
    readers = [("Tim Richter", "t.richter@blatt-example.de"), ("Online-Redaktion", "online@news-example.de"),
               ("Frieda Klein", "f.klein@funk-example.de")]
    reactions += [(timedelta(minutes=40 + 50 * i), mails.read_receipt(name, address, pr))
                  for i, (name, address) in enumerate(readers)]
    reactions += [(7 * hour, mails.human("Petra Lang <p.lang@zeitung-example.de>", pr,
                                         text="Danke, wir bringen das morgen auf Seite 3. Gibt es ein Foto?"))]
    # A journalist asks to be taken off the list: an opt-out request, listed with the address to remove.
    reactions += [(9 * hour, mails.human("Jonas Albers <j.albers@stadtblatt-example.de>", pr,
                                         text="Guten Tag, bitte streichen Sie mich aus dem Presseverteiler, "
                                              "ich habe die Redaktion gewechselt. Danke!"))]
    # Someone whose address bounced hard writes to us in person afterwards: alive again.
    reactions += [(30 * hour, mails.human("Redaktion <redaktion@tageblatt-example.de>", pr,
                                          text="Unser Postfach war umgezogen, bitte weiter an diese Adresse."))]
    return reactions


def member_mailing_reactions(mails: Mails) -> list[tuple[timedelta, dict[str, Any]]]:
    mb, hour = MEMBER_MAILING, timedelta(hours=1)
    return [
        (hour, mails.bounce("ortsverband.sued@mail-example.de", mb)),
        (2 * hour, mails.auto_reply("Hanna Vogel", "h.vogel@mail-example.de", mb)),
        (3 * hour, mails.read_receipt("Günter Weber", "g.weber@mail-example.de", mb)),
        # A stranger's subject and text, both carrying markup: must render as text everywhere.
        (4 * hour, mails.bounce("xss@mail-example.de", ("<xss-mailing@gruene-example.de>", XSS_SUBJECT))),
        (5 * hour, mails.human("Neugier <neugier@mail-example.de>", None, subject=XSS_SUBJECT, text=XSS_BODY)),
    ]


def seed_history(config: Config, reactions: Iterable[tuple[timedelta, dict[str, Any]]], start: datetime = T0) -> int:
    """Process `reactions` at their own times, through a Service of their own on the app's database.

    Without OTRS credentials their ticket updates stay in the outbox (callback mode), where the
    app's worker picks them up like any other. Returns how many were processed.
    """
    clock = Clock(start)
    policy = Policy.load(config.policy_path)
    done = 0
    with Store(config.db_path, clock=clock, soft_threshold=policy.dead_soft_bounces,
               soft_window_days=policy.dead_window_days) as store:
        service = Service(config, store, policy, None, Spool(spool_directory(config.db_path), clock))
        for offset, body in sorted(reactions, key=lambda item: item[0]):
            clock.now = start + offset
            outcome = service.process(parse_event(body), json.dumps(body).encode())
            done += outcome.status == "processed"
    return done


# --- the app under test ------------------------------------------------------------------------

ADMIN = ("admin", "Admin-Passwort-42")
PRESS = ("presse", "Presse-Passwort-42")
WEBHOOK = ("webhook", "hook-secret-42")


def write_test_users(path: Path) -> None:
    """One admin, one press officer; a cheap hash keeps the many test logins fast."""
    write_users(path, {name: User(name, role, generate_password_hash(password, method="pbkdf2:sha256:1000"))
                       for (name, password), role in ((ADMIN, "admin"), (PRESS, "press"))})


def page_config(tmp_path: Path, otrs: Any | None = None) -> Config:
    """A config on a fresh SQLite file; `otrs` a FakeZnuny to act on (callback mode), else dry-run."""
    users = tmp_path / "users.toml"
    write_test_users(users)
    # The seeded mailings have fixed dates (T0): a long retention keeps the outbox worker's purge
    # from blanking their subjects when the tests run long after T0.
    values: dict[str, Any] = {"db_path": str(tmp_path / "data" / "bouncer.sqlite"), "users_file": str(users),
                              "webhook_user": WEBHOOK[0], "webhook_password": WEBHOOK[1], "log_json": False,
                              "mode": "callback" if otrs else "dry-run", "retention_days": 36_500}
    if otrs is not None:
        values.update(otrs_url=otrs.base_url, otrs_user=otrs.user, otrs_password=otrs.password)
    return Config(**values).validated()


PRESS_RELEASE_RECIPIENTS = 412


def seed_mailings(config: Config, wire_dir: Path) -> int:
    """The press release (registered by hand with its recipient count, as the press officer does)
    and the member mailing (found from the replies only), with a day and a half of reactions."""
    with Store(config.db_path, clock=Clock(SENT)) as store:
        store.register_mailing(PRESS_RELEASE[1], SENT, PRESS_RELEASE[0], PRESS_RELEASE_RECIPIENTS)
    mails = Mails(wire_dir)
    return seed_history(config, press_release_reactions(mails) + member_mailing_reactions(mails))


def wire_captures(wire_dir: Path) -> list[tuple[str, bytes]]:
    """(path, raw body) of every invoker capture, as Znuny posted them."""
    found = []
    for path in sorted(wire_dir.glob("invoker-articlecreate-*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found.append((data["path"], data["body_raw"].encode("utf-8")))
    return found


def drain_outbox(app: Any) -> int:
    """Run the outbox until nothing is due, as the worker thread would; returns actions done."""
    total = 0
    while done := app.extensions["bouncer_worker"].run_once():
        total += done
    return total


# --- Flask test client ---------------------------------------------------------------------------

BASE = "https://bouncer.example.org"


class HttpsClient(FlaskClient):
    """As behind the TLS proxy in production: every request over https."""

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("base_url", BASE)
        return super().open(*args, **kwargs)


def https_client(app: Flask) -> FlaskClient:
    """An https client that sends the Referer a browser sends on same-site forms (CSRF checks it on https)."""
    client = HttpsClient(app, app.response_class, use_cookies=True)
    client.environ_base["HTTP_REFERER"] = f"{BASE}/"
    return client


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def log_in(client: FlaskClient, user: tuple[str, str], next_path: str = "") -> str:
    """Log in through the form; returns where the login redirected to."""
    page = client.get("/login")
    answer = client.post("/login" + (f"?next={next_path}" if next_path else ""),
                         data={"csrf_token": csrf_token(page.text), "username": user[0], "password": user[1]})
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def seed_week(config: Config, week: Any, first_ticket: int = 5000) -> list[tuple[Any, int, int]]:
    """Process the generated press week (tests/scenario.py) as Znuny posts it, each mail at its own
    time; returns (reaction, ticket_id, article_id) so tests can find each one's verdict."""
    from scenario import invoker_body

    seeded = []
    reactions = [(r.at - T0, invoker_body(r.raw(), first_ticket + i, 50_000 + i))
                 for i, r in enumerate(week.reactions)]
    seed_history(config, reactions)
    for i, reaction in enumerate(week.reactions):
        seeded.append((reaction, first_ticket + i, 50_000 + i))
    return seeded
