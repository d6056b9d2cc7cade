"""The sweep and the catch-up against a real Znuny 7.0.19 (the kit installed, mail through its PostMaster):
tickets created while we were not connected are found and judged, each ends as the plan says (the machine
ones closed, every person's ticket as it was); mails fed while gunicorn was stopped are handled after its
start, once. End states are read from Znuny's database (tests/e2e/real_znuny.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from real_znuny import REPO, Bouncer, Fed, Kit, StartBouncer, Znuny, wait_for
from test_real_znuny import Mail, Row, machine_and_people, person_mail

from bouncer.store import Store

CLOSING_LABELS = ("bounce_hard", "auto_reply", "read_receipt")  # the built-in policy closes these


def sweep(server: Bouncer, *args: str) -> subprocess.CompletedProcess[str]:
    """`flask --app app sweep` as an admin runs it, on the stopped bouncer's database and settings."""
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "sweep", *args], cwd=server.db_path.parent,
                          env={**server.env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=900)


def allow_as_the_fixtures_say(server: Bouncer, mails: list[Mail]) -> None:
    """The allowlist entries fixtures ask for (`allowlist` in their .expect.json), added as an admin does."""
    with Store(server.db_path) as store:
        for mail in mails:
            expect = mail.path.with_suffix(".expect.json")
            domain = json.loads(expect.read_text()).get("allowlist") if expect.is_file() else None
            if domain and not any(a["value"] == domain for a in store.allowlist()):
                store.add_allow("domain", domain, note="the fixture's expectation", by="e2e")


def rows(znuny: Znuny, server: Bouncer, mails: list[Mail], fed: list[Fed]) -> list[Row]:
    tickets = znuny.tickets(f.ticket_id for f in fed)
    decisions = {key: dict(row) for key, row in server.decisions().items()}
    return [Row(m, f, tickets.get(f.ticket_id), decisions.get((f.ticket_id, f.article_id)))
            for m, f in zip(mails, fed, strict=True)]


def check(rows_: list[Row], agent: str) -> None:
    """Every mail judged; every ticket as its plan says (REST updates by our agent); people's untouched."""
    assert {r.mail.name: r.policy_problems("callback", agent) for r in rows_
            if r.policy_problems("callback", agent)} == {}
    for r in rows_:
        assert r.ticket is not None
        if r.mail.label == "human":
            assert (r.ticket.state, r.ticket.queue, len(r.ticket.articles)) == ("new", "Raw", 1), r.mail.name
    assert any(r.ticket and r.ticket.state_type == "closed" for r in rows_ if r.mail.label in CLOSING_LABELS)


def test_the_sweep_closes_the_machine_tickets_made_while_we_were_away_and_leaves_each_persons(
        znuny: Znuny, kit: Kit, start_bouncer: StartBouncer) -> None:
    znuny.followup_detection(on=False)
    znuny.forget_scheduled_calls()
    server = start_bouncer("inline", "--no-retry")
    server.stop()  # not connected: PostMaster makes the tickets, nobody judges them
    since = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S")  # only our tickets
    mails = machine_and_people()
    allow_as_the_fixtures_say(server, mails)
    fed = znuny.feed(m.path for m in mails)
    ids = [f.ticket_id for f in fed]
    before = znuny.tickets(ids)
    assert server.decisions() == {}

    dry = sweep(server, "--created-after", since, "--csv", "plan.csv")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert znuny.tickets(ids) == before and server.decisions() == {}  # the dry run changed nothing anywhere
    assert len((server.db_path.parent / "plan.csv").read_text().splitlines()) >= len(fed) + 1

    applied = sweep(server, "--apply", "--rate", "5", "--created-after", since)
    assert applied.returncode == 0, applied.stderr[-3000:]
    check(rows(znuny, server, mails, fed), kit.agent)

    after = znuny.tickets(ids)
    again = sweep(server, "--apply", "--rate", "5", "--created-after", since)
    assert again.returncode == 0, again.stderr[-3000:]
    assert znuny.tickets(ids) == after  # nothing is done twice


def test_catch_up_handles_mails_fed_while_gunicorn_was_stopped(
        znuny: Znuny, kit: Kit, start_bouncer: StartBouncer) -> None:
    znuny.followup_detection(on=False)
    znuny.forget_scheduled_calls()
    server = start_bouncer("inline", "--no-retry", BOUNCER_CATCHUP_MINUTES="0.05")
    mails = machine_and_people()
    first = znuny.feed([person_mail(1)])  # the webhook records one event: the catch-up starts from it
    wait_for(lambda: (first[0].ticket_id, first[0].article_id) in server.decisions(), 60, "the webhook's event")
    server.stop()
    allow_as_the_fixtures_say(server, mails)
    fed = znuny.feed(m.path for m in mails)
    assert all((f.ticket_id, f.article_id) not in server.decisions() for f in fed)

    server.start()
    keys = [(f.ticket_id, f.article_id) for f in fed]
    wait_for(lambda: all(k in server.decisions() for k in keys), 180, "the catch-up to judge the missed mails")
    wait_for(lambda: server.unfinished_actions() == 0, 180, "the outbox to carry out the catch-up's updates")
    sources = {(r["ticket_id"], r["article_id"]): r["source"]
               for r in server.rows("select ticket_id, article_id, source from events")}
    assert {sources[k] for k in keys} == {"catchup"}
    check(rows(znuny, server, mails, fed), kit.agent)
    assert server.rows("select count(*) from runs where kind = 'catchup' and status = 'done'")[0][0] >= 1
