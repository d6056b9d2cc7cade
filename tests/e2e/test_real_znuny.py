"""otrs-bouncer against a real Znuny 7.0.19: kit installed as an admin would, mail through the PostMaster.

Each test feeds real mail with Maint::PostMaster::Read and reads every ticket's end state from
Znuny's own database: no person's ticket changes state or queue, every machine ticket ends as the
policy says for its verdict, and no ticket grows by more than our one note.
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import real_znuny
import requests
from real_znuny import Bouncer, Fed, Kit, StartBouncer, Ticket, Znuny, wait_for
from werkzeug.security import generate_password_hash

from bouncer.store import Store
from bouncer.web.auth import User, write_users
from corpus import DEV, DEV_TSV, FIXTURES, REPO, manifest

DEFAULT_QUEUE = "Raw"  # where Znuny's PostMaster puts new mail
CLASSIFICATION = "MailClassification"
DRAIN_SECONDS = 240.0
# The built-in policy (bouncer/policy_default.toml), per label, when the verdict is that label at full confidence.
CLOSED = ("closed successful", DEFAULT_QUEUE)
LABEL_OUTCOME = {"bounce_hard": CLOSED, "auto_reply": CLOSED, "read_receipt": CLOSED, "feedback_report": ("new", "Junk"),
                 "bounce_soft": ("new", DEFAULT_QUEUE), "other_auto": None, "human": ("new", DEFAULT_QUEUE)}
CORPUS_QUOTA = {"human": 40, "bounce_hard": 16, "bounce_soft": 10}  # the other labels: all of them


@dataclass(frozen=True)
class Mail:
    label: str
    name: str
    path: Path


def fixture_mails() -> list[Mail]:
    return [Mail(p.parent.name, f"fixtures/{p.parent.name}/{p.name}", p) for p in sorted(FIXTURES.glob("*/*.eml"))]


def corpus_mails() -> list[Mail]:
    """A spread over the dev corpus: every label, evenly over the sources, at least 40 human."""
    by_label: dict[str, list[dict[str, str]]] = {}
    for row in manifest(DEV_TSV):
        by_label.setdefault(row["label"], []).append(row)
    picked = []
    for label, rows in sorted(by_label.items()):
        rows.sort(key=lambda r: r["path"])
        count = min(CORPUS_QUOTA.get(label, len(rows)), len(rows))
        paths = [rows[int(i * len(rows) / count)]["path"] for i in range(count)]
        picked += [Mail(label, f"dev/{path}", DEV / path) for path in paths]
    return picked


@dataclass
class Row:
    """One fed mail: what the bouncer decided and where its ticket ended."""

    mail: Mail
    fed: Fed
    ticket: Ticket | None
    decision: dict[str, object] | None

    @property
    def plan(self) -> dict[str, object]:
        return json.loads(str(self.decision["plan"])) if self.decision and self.decision["plan"] else {}

    def policy_problems(self, mode: str, agent: str) -> list[str]:
        """What differs between the ticket in Znuny and the bouncer's plan for it; [] when it ended as planned."""
        if self.ticket is None or self.decision is None:
            return ["no ticket" if self.ticket is None else "no event recorded by the bouncer"]
        plan, problems = self.plan, []
        want_state = plan.get("state") or "new"
        want_queue = plan.get("queue") or DEFAULT_QUEUE
        if (self.ticket.state, self.ticket.queue) != (want_state, want_queue):
            problems.append(f"ticket is {self.ticket.state}/{self.ticket.queue}, plan says {want_state}/{want_queue}")
        want_field = (plan.get("dynamic_fields") or {}).get(CLASSIFICATION, "")
        if self.ticket.fields.get(CLASSIFICATION, "") != want_field:
            problems.append(f"{CLASSIFICATION}={self.ticket.fields.get(CLASSIFICATION)!r}, plan says {want_field!r}")
        notes = self.ticket.notes()
        want_notes = 1 if plan.get("note") else 0
        if len(notes) != want_notes or len(self.ticket.articles) != 1 + want_notes:
            problems.append(f"{len(self.ticket.articles)} articles ({len(notes)} notes), plan says {want_notes} note")
        author = "root@localhost" if mode == "inline" else agent  # inline answers are applied as UserID 1
        if notes and notes[0].create_by != author:
            problems.append(f"note by {notes[0].create_by}, expected {author}")
        return problems

    def label_outcome(self) -> bool:
        """Did the ticket end as the policy says for the mail's label (i.e. classified right and sure enough)?"""
        want = LABEL_OUTCOME.get(self.mail.label)
        if self.ticket is None:
            return False
        if want is None:  # other_auto: any machine verdict is right
            return self.decision is not None and self.decision["category"] not in (None, "human")
        if self.mail.label == "human":  # untouched: no note, no tag
            return (self.ticket.state, self.ticket.queue, len(self.ticket.articles)) == (*want, 1)
        return (self.ticket.state, self.ticket.queue) == want and self.ticket.fields.get(CLASSIFICATION, "") != ""


def run_mails(znuny: Znuny, server: Bouncer, mails: list[Mail]) -> list[Row]:
    allow_fixture_domains(server, mails)
    fed = znuny.feed((m.path for m in mails), processes=2)
    if server.mode == "callback":
        wait_for(lambda: server.unfinished_actions() == 0, DRAIN_SECONDS, "the outbox to drain", step=1.0)
    return rows_for(znuny, server, mails, fed)


def rows_for(znuny: Znuny, server: Bouncer, mails: list[Mail], fed: list[Fed]) -> list[Row]:
    """Each fed mail with its ticket as Znuny has it now and the bouncer's decision for it."""
    tickets = znuny.tickets(f.ticket_id for f in fed if f.ticket_id)
    decisions = {key: dict(row) for key, row in server.decisions().items()}
    return [Row(mail, f, tickets.get(f.ticket_id) if f.ticket_id else None,
                decisions.get((f.ticket_id, f.article_id))) for mail, f in zip(mails, fed, strict=True)]


def unplanned(rows: Iterable[Row], mode: str, agent: str) -> dict[str, list[str]]:
    """Mail whose ticket did not end as the bouncer planned, with what differs."""
    return {row.mail.name: problems for row in rows if (problems := row.policy_problems(mode, agent))}


def allow_fixture_domains(server: Bouncer, mails: Iterable[Mail]) -> None:
    """Fixtures that need a domain on the allowlist (sidecar `allowlist`) get it, as an admin would add it."""
    domains = set()
    for mail in mails:
        sidecar = mail.path.with_suffix(".expect.json")
        if sidecar.is_file() and (domain := json.loads(sidecar.read_text(encoding="utf-8")).get("allowlist")):
            domains.add(domain)
    if domains:
        store = Store(server.db_path)
        try:
            for domain in sorted(domains):
                store.add_allow("domain", domain, note="fixture precondition", by="e2e")
        finally:
            store.close()


def table(rows: Iterable[Row], mode: str, agent: str) -> str:
    fed, planned, label_ok = Counter(), Counter(), Counter()
    for row in rows:
        fed[row.mail.label] += 1
        planned[row.mail.label] += not row.policy_problems(mode, agent)
        label_ok[row.mail.label] += row.label_outcome()
    lines = [f"{mode}: label | fed | ended as the plan for its verdict | ended as the policy says for the label",
             *(f"{mode}: {label} | {fed[label]} | {planned[label]} | {label_ok[label]}" for label in sorted(fed)),
             f"{mode}: all | {sum(fed.values())} | {sum(planned.values())} | {sum(label_ok.values())}"]
    return "\n".join(lines)


def test_the_kit_installs_as_a_znuny_package_and_goes_away_again(znuny: Znuny, kit: Kit) -> None:
    print(f"kit install (build, Admin::Package::Install, Admin::OTRSBouncer::Setup): {kit.install_seconds:.1f}s")
    assert znuny.console("Admin::Package::List").count("OTRSBouncer") >= 1
    fields = {r[0] for r in znuny.sql("select name from dynamic_field where valid_id = 1")}
    assert {"MailClassification", "MailFlags", "AutoSubmitted", "MailResponseSuppress", "MailRulesLoop"} <= fields
    filters = {r[0] for r in znuny.sql("select distinct f_name from postmaster_filter")}
    assert {"OTRSBouncer-CopyAutoSubmitted", "OTRSBouncer-CopyRulesLoop", "OTRSBouncer-FlagBounce"} <= filters
    headers = znuny.console("Admin::Config::Read", "--setting-name", "PostmasterX-Header")
    assert all(f"- {h}\n" in headers for h in ("X-Auto-Response-Suppress", "X-MS-Exchange-Inbox-Rules-Loop",
                                                "X-Failed-Recipients", "X-Autoreply", "X-Autorespond"))
    [[config]] = znuny.sql("select replace(config, chr(10), ' ') from gi_webservice_config where name = 'BounceWebhook'")
    assert "CHANGE-ME" not in config and kit.webhook_password in config and "RequestRetry" in config

    znuny.kit_script("--remove")
    assert not znuny.sql("select 1 from gi_webservice_config where name = 'BounceWebhook'")
    assert not znuny.sql("select 1 from postmaster_filter where f_name like 'OTRSBouncer-%'")
    assert not znuny.sql("select 1 from dynamic_field where name in ('MailClassification', 'AutoSubmitted')")
    assert "X-MS-Exchange-Inbox-Rules-Loop" not in znuny.console("Admin::Config::Read", "--setting-name",
                                                                 "PostmasterX-Header")
    again = znuny.install_kit(f"http://127.0.0.1:{real_znuny.free_port()}")
    assert again.agent == kit.agent and znuny.sql("select 1 from gi_webservice_config where name = 'BounceWebhook'")


def test_mails_arriving_while_our_service_is_down_are_retried_by_znuny(
        znuny: Znuny, kit: Kit, start_bouncer: StartBouncer) -> None:
    """The kit's default: Znuny's RequestRetry reschedules a failed call and its daemon makes it later."""
    znuny.followup_detection(on=False)
    znuny.forget_scheduled_calls()
    server = start_bouncer("inline", "--retry-interval-start", "3", "--retry-interval-factor", "1")
    server.stop()
    mails = [m for m in machine_and_people() if m.label in ("auto_reply", "human")][:4]
    fed = znuny.feed(m.path for m in mails)
    assert znuny.scheduled_tasks() >= len(mails), "each failed call waits in Znuny's scheduler"
    untouched = znuny.tickets(f.ticket_id for f in fed)
    assert all(t.state == "new" and len(t.articles) == 1 for t in untouched.values())

    server.start()
    znuny.daemon("start")
    try:
        wait_for(lambda: all(key in server.decisions() for key in ((f.ticket_id, f.article_id) for f in fed)),
                 300, "Znuny's daemon to deliver the missed calls", step=1.0)
        wait_for(lambda: znuny.scheduled_tasks() == 0, 120, "the scheduler to finish", step=1.0)
    finally:
        znuny.daemon("stop")
    rows = rows_for(znuny, server, mails, fed)
    assert unplanned(rows, "inline", kit.agent) == {}
    assert any(r.ticket.state == "closed successful" for r in rows if r.mail.label == "auto_reply")


@pytest.mark.parametrize("mode", ["inline", "callback"])
def test_the_asynchronous_invoker_reaches_us_through_znunys_daemon(
        znuny: Znuny, kit: Kit, start_bouncer: StartBouncer, mode: str) -> None:
    """--asynchronous: the mail import does not wait; Znuny's daemon makes each call soon after, and the
    tickets end as the policy says, in either mode (an inline answer is applied by the daemon's task)."""
    znuny.followup_detection(on=False)
    znuny.forget_scheduled_calls()
    server = start_bouncer(mode, "--asynchronous")
    mails = [m for m in machine_and_people() if m.label in ("auto_reply", "bounce_hard", "human")][:8]
    allow_fixture_domains(server, mails)
    fed = znuny.feed(m.path for m in mails)
    assert server.decisions() == {}, "the import did not call us itself"
    assert znuny.scheduled_tasks() >= len(mails), "each call waits for the daemon"
    znuny.daemon("start")
    try:
        wait_for(lambda: all(key in server.decisions() for key in ((f.ticket_id, f.article_id) for f in fed)),
                 300, "Znuny's daemon to make the calls", step=1.0)
        wait_for(lambda: znuny.scheduled_tasks() == 0, 120, "the scheduler to finish", step=1.0)
        if mode == "callback":
            wait_for(lambda: server.unfinished_actions() == 0, DRAIN_SECONDS, "the outbox to drain", step=1.0)
        else:  # the daemon's task applies our answer after the call: wait for the planned closes to show
            wait_for(lambda: unplanned(rows_for(znuny, server, mails, fed), mode, kit.agent) == {}, 120,
                     "the daemon to apply our answers", step=1.0)
    finally:
        znuny.daemon("stop")
    rows = rows_for(znuny, server, mails, fed)
    assert unplanned(rows, mode, kit.agent) == {}
    assert any(r.ticket.state == "closed successful" for r in rows if r.mail.label == "auto_reply")
    assert all((r.ticket.state, r.ticket.queue) == ("new", DEFAULT_QUEUE) for r in rows if r.mail.label == "human")


def test_without_retries_mails_arriving_while_our_service_is_down_are_missed(
        znuny: Znuny, kit: Kit, start_bouncer: StartBouncer) -> None:
    """--no-retry: Znuny logs the failed call and never makes it again (the sweep must catch up)."""
    znuny.followup_detection(on=False)
    znuny.forget_scheduled_calls()
    server = start_bouncer("inline", "--no-retry")
    server.stop()
    fed = znuny.feed([FIXTURES / "auto_reply" / "exchange-out-of-office-en-until-january-12.eml"])
    server.start()
    assert znuny.scheduled_tasks() == 0
    ticket = znuny.tickets([fed[0].ticket_id])[fed[0].ticket_id]
    assert (ticket.state, len(ticket.articles)) == ("new", 1)
    assert server.decisions() == {}


@pytest.mark.parametrize("mode", ["inline", "callback"])
def test_every_fixture_and_a_corpus_spread_end_as_the_policy_says(znuny: Znuny, kit: Kit,
                                                                  start_bouncer: StartBouncer, mode: str) -> None:
    znuny.followup_detection(on=False)  # one mail, one ticket: each end state is this mail's doing
    server = start_bouncer(mode)
    started = time.monotonic()
    rows = run_mails(znuny, server, fixture_mails() + corpus_mails())
    print(f"\n{mode}: {len(rows)} mails in {time.monotonic() - started:.0f}s\n{table(rows, mode, kit.agent)}")

    assert all(row.fed.exit_code == 0 and row.ticket is not None for row in rows), "every mail imported"
    if mode == "inline":  # each inline answer confirmed by the echo of our note
        wait_for(lambda: not server.rows("select 1 from actions where state = 'sent'"), 120,
                 "Znuny to confirm every inline answer", step=1.0)
        assert server.rows("select count(*) from actions where state = 'unconfirmed'")[0][0] == 0
    assert unplanned(rows, mode, kit.agent) == {}
    people = [row for row in rows if row.mail.label == "human"]
    assert len(people) >= 60
    # The rule above all: no person's ticket changes state or queue (a doubtful one may be tagged).
    assert [row.mail.name for row in people if (row.ticket.state, row.ticket.queue) != ("new", DEFAULT_QUEUE)] == []


def machine_and_people() -> list[Mail]:
    """A small burst: a few of each machine label and some people."""
    mails = fixture_mails()
    pick = {"bounce_hard": 4, "auto_reply": 4, "read_receipt": 2, "feedback_report": 1, "bounce_soft": 2, "human": 4}
    chosen: list[Mail] = []
    for label, count in pick.items():
        chosen += [m for m in mails if m.label == label][:count]
    return chosen


def admin_session(server: Bouncer, user: tuple[str, str]) -> requests.Session:
    """A logged-in page session, as the admin's browser has it."""
    session = requests.Session()
    page = session.get(server.url + "/login", timeout=30)
    answer = session.post(server.url + "/login", data={"csrf_token": csrf_token(page.text), "username": user[0],
                                                       "password": user[1]}, timeout=30, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:500]
    return session


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def bouncer_with_page_user(start_bouncer: StartBouncer, tmp_path: Path, user: tuple[str, str], role: str) -> Bouncer:
    """A bouncer in callback mode whose users file holds this one page user."""
    users = tmp_path / "users.toml"
    write_users(users, {user[0]: User(user[0], role, generate_password_hash(user[1]))})
    return start_bouncer("callback", BOUNCER_USERS_FILE=str(users))


def test_a_false_positive_marked_on_the_review_page_reopens_the_ticket_in_znuny(
        znuny: Znuny, kit: Kit, start_bouncer: StartBouncer, tmp_path: Path) -> None:
    znuny.followup_detection(on=False)
    admin = ("press-admin", "e2e-admin-pw-1")
    server = bouncer_with_page_user(start_bouncer, tmp_path, admin, "admin")
    ooo = FIXTURES / "auto_reply" / "exchange-out-of-office-en-until-january-12.eml"
    [fed] = znuny.feed([ooo])
    wait_for(lambda: server.unfinished_actions() == 0, DRAIN_SECONDS, "the close to reach Znuny", step=1.0)
    assert znuny.tickets([fed.ticket_id])[fed.ticket_id].state == "closed successful"
    verdict_id = server.decisions()[(fed.ticket_id, fed.article_id)]["verdict_id"]

    session = admin_session(server, admin)
    page = session.get(f"{server.url}/admin/review/{verdict_id}", timeout=30)
    answer = session.post(f"{server.url}/admin/review/{verdict_id}/false-positive", timeout=30,
                          data={"csrf_token": csrf_token(page.text), "note": "my colleague wrote this",
                                "allow": "none"})
    assert answer.status_code in (200, 302)
    wait_for(lambda: server.unfinished_actions() == 0, DRAIN_SECONDS, "the reopen to reach Znuny", step=1.0)

    ticket = znuny.tickets([fed.ticket_id])[fed.ticket_id]
    assert (ticket.state, ticket.queue, ticket.fields.get(CLASSIFICATION, "")) == ("new", DEFAULT_QUEUE, "")
    notes = ticket.notes()
    assert len(notes) == 2 and all(n.create_by == kit.agent for n in notes)
    assert "false positive" in notes[1].subject and "my colleague wrote this" in notes[1].body


def test_apache_stopped_during_a_burst_in_callback_mode_delays_but_loses_nothing(
        znuny: Znuny, kit: Kit, start_bouncer: StartBouncer) -> None:
    znuny.followup_detection(on=False)
    server = start_bouncer("callback")
    burst = machine_and_people()
    allow_fixture_domains(server, burst)
    half = len(burst) // 2
    rows_fed = znuny.feed(m.path for m in burst[:half])
    znuny.apache("stop")  # REST answers nothing now; the invoker (PostMaster -> bouncer) still works
    try:
        rows_fed += znuny.feed(m.path for m in burst[half:])
        wait_for(lambda: server.rows("select count(*) from actions where attempts > 0 and last_error is not null")
                 [0][0] > 0, 60, "an outbox attempt to fail", step=0.5)
    finally:
        znuny.apache("start")
    wait_for(lambda: server.unfinished_actions() == 0, DRAIN_SECONDS, "the outbox to catch up", step=1.0)

    rows = rows_for(znuny, server, burst, rows_fed)
    assert unplanned(rows, "callback", kit.agent) == {}
    assert server.rows("select count(*) from actions where state = 'done' and attempts > 1")[0][0] > 0, \
        "some updates were retried after the outage"
    assert all(r.ticket.state == "new" for r in rows if r.mail.label == "human")


def person_mail(n: int) -> bytes:
    return (f"From: Petra Beispiel <petra.beispiel@example.org>\r\nTo: mitglieder@gruene-lv.example\r\n"
            f"Subject: Frage zu meinem Mitgliedsbeitrag {n}\r\nMessage-ID: <frage-{n}-{time.time_ns()}@example.org>\r\n"
            f"Date: Mon, 30 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Guten Tag,\r\nich habe eine Frage zu meinem Beitrag. Wann wird er abgebucht?\r\n\r\n"
            f"Viele Grüße\r\nPetra\r\n"
            ).encode()


def out_of_office_answer(ticket: Ticket, original: bytes) -> bytes:
    """The person's Exchange out-of-office answering the agent's reply: [Ticket#…] and References."""
    message_id = re.search(rb"Message-ID: (<[^>]+>)", original).group(1).decode()
    return (f"From: Petra Beispiel <petra.beispiel@example.org>\r\nTo: mitglieder@gruene-lv.example\r\n"
            f"Subject: Automatische Antwort: RE: [Ticket#{ticket.number}] Frage zu meinem Mitgliedsbeitrag\r\n"
            f"Message-ID: <ooo-{time.time_ns()}@example.org>\r\n"
            f"In-Reply-To: {message_id}\r\nReferences: {message_id}\r\n"
            f"Date: Mon, 30 Nov 2026 10:00:00 +0100\r\nAuto-Submitted: auto-replied\r\n"
            f"X-Auto-Response-Suppress: All\r\n"
            f"X-MS-Exchange-Inbox-Rules-Loop: petra.beispiel@example.org\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Ich bin bis zum 12.01.2027 nicht im Büro und habe nur eingeschränkt Zugriff auf meine E-Mails.\r\n"
            ).encode()


@pytest.mark.parametrize("mode", ["inline", "callback"])
def test_an_out_of_office_answering_a_closed_ticket_leaves_it_closed(
        znuny: Znuny, kit: Kit, start_bouncer: StartBouncer, mode: str) -> None:
    """Follow-up detection on: Znuny reopens the ticket before ArticleCreate; we put the state back."""
    znuny.followup_detection(on=True)
    server = start_bouncer(mode)
    question = person_mail(1 if mode == "inline" else 2)
    [asked] = znuny.feed([question])
    ticket = znuny.tickets([asked.ticket_id])[asked.ticket_id]
    znuny.rest(f"/Ticket/{ticket.id}", {  # the agent answers by mail and closes
        "Ticket": {"State": "closed successful"},
        "Article": {"CommunicationChannel": "Email", "SenderType": "agent", "IsVisibleForCustomer": 1,
                    "From": "mitglieder@gruene-lv.example", "To": "petra.beispiel@example.org",
                    "Subject": f"RE: [Ticket#{ticket.number}] Frage zu meinem Mitgliedsbeitrag",
                    "Body": "Liebe Petra, der Beitrag wird am 1. Januar abgebucht.",
                    "ContentType": "text/plain; charset=utf8",
                    "HistoryType": "SendAnswer", "HistoryComment": "answered"}}, method="PATCH")
    assert znuny.tickets([ticket.id])[ticket.id].state == "closed successful"

    [ooo] = znuny.feed([out_of_office_answer(ticket, question)])
    assert ooo.ticket_id == ticket.id, "Znuny's follow-up detection appended the answer to the person's ticket"
    if mode == "callback":
        wait_for(lambda: server.unfinished_actions() == 0, DRAIN_SECONDS, "the outbox to drain", step=1.0)
    end = znuny.tickets([ticket.id])[ticket.id]
    history = znuny.history(ticket.id)
    articles = [(a.sender_type, a.channel, a.create_by) for a in end.articles]
    print(f"\n{mode} follow-up: ticket {end.number} ends {end.state}/{end.queue}, {CLASSIFICATION}="
          f"{end.fields.get(CLASSIFICATION)!r}, articles {articles}")
    assert (end.state, end.queue) == ("closed successful", DEFAULT_QUEUE)
    assert ("StateUpdate", "%%closed successful%%open%%") in [(h[0], h[1]) for h in history], \
        "Znuny did reopen it on the follow-up"
    notes = end.notes()
    assert len(notes) == 1 and len(end.articles) == 4  # question, answer, out-of-office, our one note
    assert "closed successful" in notes[0].body and end.fields.get(CLASSIFICATION) == "auto-reply"


def test_forged_bounces_fed_through_znuny_put_no_address_on_the_dead_list(
        znuny: Znuny, kit: Kit, start_bouncer: StartBouncer, tmp_path: Path) -> None:
    """The press office registers its mailing with the recipients by API; then forged and genuine
    bounces come in through Znuny's PostMaster. Only the genuine ones (naming the mailing's Message-ID,
    for one of its recipients) reach the dead list; the others are recorded, marked unverified."""
    znuny.followup_detection(on=False)
    press = ("press-officer", "e2e-press-pw-1")
    server = bouncer_with_page_user(start_bouncer, tmp_path, press, "press")
    forged = REPO / "fixtures" / "forged"
    registered = requests.post(f"{server.url}/api/v1/mailings", auth=press, timeout=30, json={
        "subject": "PM 112/2026: Landesvorstand fordert Ausbau des Nahverkehrs",
        "sent_at": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(),
        "message_id": "<pm-112-2026.4711@presse.gruene-example.de>",
        "recipients": ["redaktion007@zeitung-example.de", "desk@funk-example.de", "info@verein-example.de"]})
    assert registered.status_code == 201, registered.text
    mails = sorted(forged.glob("*.eml"))
    fed = znuny.feed(mails)
    assert all(f.ticket_id for f in fed)
    wait_for(lambda: len(server.decisions()) >= len(mails), 120, "every bounce to be judged")

    dead = requests.get(f"{server.url}/api/v1/dead", auth=press, timeout=30).json()["addresses"]
    assert sorted(a["address"] for a in dead) == ["desk@funk-example.de", "redaktion007@zeitung-example.de"]
    decisions = server.decisions()
    got, want = {}, {}
    for mail, one in zip(mails, fed, strict=True):
        verdict_id = decisions[(one.ticket_id, one.article_id)]["verdict_id"]
        got[mail.stem] = {row[0] for row in server.rows("select verification from bounces where verdict_id = ?",
                                                           [verdict_id])}
        want[mail.stem] = {json.loads(mail.with_suffix(".expect.json").read_text(encoding="utf-8"))[
            "check_with_recipients"]}
    assert got == want
