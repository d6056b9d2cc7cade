"""The backlog sweep against the fake Znuny over real HTTP, with 300 open tickets from the dev corpus
as Znuny posted them (corpus/znuny-dev): dry run, apply, interruption and resume, errors at HTTP 200,
long tickets, and the command as users run it (subprocess, Ctrl-C)."""
from __future__ import annotations

import copy
import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from bouncer.config import Config
from bouncer.service import Service
from bouncer.sweep import CSV_HEADER, Sweep, SweepOptions, run_sweep
from corpus import REPO
from corpus_tickets import Built, build_tickets
from fake_znuny import FakeZnuny

TICKETS = 300
CLOSED_TYPES = ("closed",)


@pytest.fixture(scope="module")
def built() -> list[Built]:
    return build_tickets(TICKETS)


@pytest.fixture
def znuny(fake_znuny: FakeZnuny, built: list[Built]) -> FakeZnuny:
    for item in built:
        fake_znuny.add_ticket(copy.deepcopy(item.ticket))
    return fake_znuny


def make_app(fake: FakeZnuny, db: Path, **overrides: Any) -> Flask:
    config = Config(db_path=str(db), otrs_url=fake.base_url, otrs_user=fake.user, otrs_password=fake.password,
                    log_json=False, **overrides)
    return create_app(config)


@pytest.fixture
def service(znuny: FakeZnuny, tmp_path: Path) -> Iterator[Service]:
    app = make_app(znuny, tmp_path / "bouncer.sqlite")
    yield app.extensions["bouncer"]
    app.extensions["bouncer"].store.close()


def state_of(fake: FakeZnuny) -> dict[int, tuple[str, str, int]]:
    return {tid: (t["State"], t["Queue"], len(t["Article"])) for tid, t in fake.tickets.items()}


def updates_per_ticket(fake: FakeZnuny) -> Counter[int]:
    return Counter(int(r.path.rsplit("/", 1)[1]) for r in fake.requests_for("TicketUpdate"))


def planned(service: Service) -> dict[int, str]:
    """The dry run's plan: ticket -> close/move/tag/restore (left tickets are not in it)."""
    _, report = run_sweep(service, SweepOptions(apply=False))
    return {r.ticket_id: r.action for r in report.results if r.action != "leave"}


def test_dry_run_changes_nothing_and_reports_every_ticket(znuny: FakeZnuny, service: Service) -> None:
    before = copy.deepcopy(znuny.tickets)
    run_id, report = run_sweep(service, SweepOptions(apply=False))
    assert znuny.tickets == before
    assert not znuny.requests_for("TicketUpdate")
    assert len(znuny.requests_for("TicketGet")) == len(znuny.tickets)  # no ticket is long: one read each
    assert service.store.newest_event_time() is None  # not even our own store: an apply must still see them
    assert report.total == len(znuny.tickets) == TICKETS + 4  # + the four captured tickets
    rows = list(csv.reader(io.StringIO(report.csv_text())))
    assert tuple(rows[0]) == CSV_HEADER
    assert sorted(int(r[1]) for r in rows[1:]) == sorted(znuny.tickets)
    counts = report.counts()
    assert counts["close"] > 50 and counts["leave"] > 50 and counts["tag"] > 10 and counts["error"] == 0
    run = service.store.last_run("sweep")
    assert run is not None and (run["id"], run["mode"], run["status"]) == (run_id, "dry-run", "done")
    assert run["summary"]["actions"]["close"] == counts["close"]
    assert service.store.run_report(run_id) == report.csv_text()


def test_apply_closes_exactly_the_planned_tickets_and_never_a_persons(
        znuny: FakeZnuny, service: Service, built: list[Built]) -> None:
    plan = planned(service)
    before = state_of(znuny)
    _, report = run_sweep(service, SweepOptions(apply=True, rate=0))
    closed = {tid for tid, t in znuny.tickets.items() if t["StateType"] in CLOSED_TYPES}
    moved = {tid for tid, (_, queue, _) in before.items() if znuny.tickets[tid]["Queue"] != queue}
    assert closed == {tid for tid, action in plan.items() if action == "close"}
    assert moved == {tid for tid, action in plan.items() if action == "move"}
    assert set(updates_per_ticket(znuny)) == set(plan) and max(updates_per_ticket(znuny).values()) == 1
    person = {item.ticket["TicketID"] for item in built if item.has_person}
    assert not (closed | moved) & person
    stories = Counter(item.story for item in built)
    assert stories["answered"] >= 5 and stories["person-after"] >= 3
    for item in built:
        if item.story == "answered" and item.ticket["TicketID"] in plan:
            assert plan[item.ticket["TicketID"]] == "tag"  # a bounce after a conversation: tagged, never closed
    assert report.counts()["done"] == len(plan) and report.counts()["failed"] == 0
    sweep_rows = service.store.list_verdicts(source="sweep", limit=10_000)
    assert len(sweep_rows) == sum(r.judged for r in report.results)
    assert not service.store.list_verdicts(source="webhook")


def test_a_second_apply_finds_nothing_left_to_do(znuny: FakeZnuny, service: Service) -> None:
    run_sweep(service, SweepOptions(apply=True, rate=0))
    updates = len(znuny.requests_for("TicketUpdate"))
    _, again = run_sweep(service, SweepOptions(apply=True, rate=0))
    assert len(znuny.requests_for("TicketUpdate")) == updates
    assert {r.action for r in again.results} == {"leave"}
    assert all("decided before (sweep)" in r.why or "no incoming mail" in r.why or "agent" in r.why
               for r in again.results)


def test_an_interrupted_apply_resumed_acts_on_each_ticket_once(znuny: FakeZnuny, service: Service) -> None:
    plan = planned(service)
    seen: list[int] = []
    _, first = run_sweep(service, SweepOptions(apply=True, rate=0), on_result=lambda r: seen.append(r.ticket_id),
                         should_stop=lambda: len(seen) >= 120)
    assert first.interrupted and len(first.results) == 120
    assert service.store.last_run("sweep")["status"] == "interrupted"
    _, second = run_sweep(service, SweepOptions(apply=True, rate=0))
    assert not second.interrupted
    updates = updates_per_ticket(znuny)
    assert set(updates) == set(plan) and set(updates.values()) == {1}


def test_the_webhooks_decision_is_not_made_again(znuny: FakeZnuny, service: Service, built: list[Built]) -> None:
    from bouncer import znuny as wire
    target = next(item for item in built if item.label == "bounce_hard" and item.story == "single")
    ticket = znuny.tickets[target.ticket["TicketID"]]
    article = ticket["Article"][-1]
    outcome = service.process(wire.parse_event(wire.invoker_body(ticket, article, ticket["Article"])), b"{}")
    assert outcome.status == "processed" and outcome.plan.action == "close"
    _, report = run_sweep(service, SweepOptions(apply=True, rate=0))
    (row,) = [r for r in report.results if r.ticket_id == ticket["TicketID"]]
    assert (row.action, row.why) == ("leave", "its newest mail was decided before (webhook)")
    assert ticket["TicketID"] not in updates_per_ticket(znuny)


def test_znuny_errors_at_http_200_are_reported_per_ticket_and_the_sweep_goes_on(
        znuny: FakeZnuny, service: Service) -> None:
    plan = planned(service)
    closes = sorted(tid for tid, action in plan.items() if action == "close")
    unreadable, refused = closes[0], closes[1]
    znuny.fail(unreadable, "TicketGet", "ticketget-badticketid")
    znuny.fail(refused, "TicketUpdate", "ticketupdate-badstate")
    _, report = run_sweep(service, SweepOptions(apply=True, rate=0))
    by_id = {r.ticket_id: r for r in report.results}
    assert by_id[unreadable].status == "error" and by_id[unreadable].error.startswith("TicketGet.")
    assert by_id[refused].status == "failed" and by_id[refused].error.startswith("TicketUpdate.")
    assert len(report.results) == len(znuny.tickets)
    done = {r.ticket_id for r in report.results if r.status == "done"}
    assert done == set(plan) - {unreadable, refused}
    counts = report.counts()
    assert (counts["error"], counts["failed"]) == (1, 1)
    assert "TicketGet." in report.csv_text() and "TicketUpdate." in report.csv_text()


def test_rate_spaces_the_updates(znuny: FakeZnuny, service: Service) -> None:
    slept: list[float] = []
    now = [0.0]
    sweep = Sweep(service, SweepOptions(apply=True, rate=4.0, limit=40), clock=lambda: now[0],
                  sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    report = sweep.run(sweep.find())
    acted = sum(r.status == "done" for r in report.results)
    assert acted >= 5
    assert sum(slept) == pytest.approx((acted - 1) / 4.0)


def test_queue_and_created_filters_and_limit_reach_ticketsearch(znuny: FakeZnuny, service: Service) -> None:
    created = sorted(t["Created"] for t in znuny.tickets.values())
    after = created[100].replace(" ", "T")
    sweep = Sweep(service, SweepOptions(queues=("Presse", "LV"), created_after=_utc(after), limit=20))
    ids = sweep.find()
    assert len(ids) == 20 and ids == sorted(ids)
    for tid in ids:
        assert znuny.tickets[tid]["Queue"] in ("Presse", "LV") and znuny.tickets[tid]["Created"] >= created[100]
    (search,) = znuny.requests_for("TicketSearch")
    assert search.json["StateType"] == ["new", "open", "pending reminder", "pending auto"]
    assert search.json["Queues"] == ["Presse", "LV"]


def test_a_long_ticket_is_paged_and_its_older_mail_still_read_with_attachments(
        znuny: FakeZnuny, service: Service, built: list[Built]) -> None:
    bounce = next(item for item in built if item.label == "bounce_hard" and item.story == "single"
                  and item.ticket["Article"][0].get("Attachment"))
    ticket = znuny.tickets[bounce.ticket["TicketID"]]
    for n in range(45):  # a long internal discussion after the bounce
        znuny.add_article(ticket["TicketID"], {
            "SenderType": "agent", "CommunicationChannelID": 3, "IsVisibleForCustomer": 0, "From": "Agent",
            "Subject": f"Notiz {n}", "Body": "intern", "ContentType": "text/plain", "CreateTime": ticket["Created"],
            "DynamicField": [], "Attachment": []})
    result = Sweep(service, SweepOptions(page_size=20)).ticket(ticket["TicketID"])
    assert result.category == "bounce-hard" and result.action == "leave"  # the newest article is an agent's
    gets = [r.json for r in znuny.requests_for("TicketGet") if r.path.endswith(f"/{ticket['TicketID']}")]
    assert gets[0]["ArticleLimit"] == 20 and gets[0]["ArticleOrder"] == "DESC"
    assert "ArticleLimit" not in gets[1] and not gets[1].get("Attachments")
    assert gets[-1]["ArticleSenderType"] == ["customer"]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- the command, as users run it ------------------------------------------------------------------

def run_command(fake: FakeZnuny, db: Path, *args: str, timeout: float = 240) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BOUNCER_DB_PATH": str(db), "BOUNCER_OTRS_URL": fake.base_url,
           "BOUNCER_OTRS_USER": fake.user, "BOUNCER_OTRS_PASSWORD": fake.password, "BOUNCER_LOG_JSON": "1",
           "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "sweep", *args], cwd=db.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_command_dry_run_prints_progress_lines_a_table_and_writes_the_csv(znuny: FakeZnuny, tmp_path: Path) -> None:
    process = run_command(znuny, tmp_path / "b.sqlite", "--queue", "Presse", "--csv", "plan.csv")
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err.decode()
    text = out.decode()
    assert "Sweep (dry run: what would be done)" in text and "Presse" in text and "Dry run: nothing was changed" in text
    assert "sweep: 50 open tickets found (dry run)" in err.decode()
    assert "sweep: 50/50 tickets" in err.decode()  # the plain line at the end (no terminal)
    with (tmp_path / "plan.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 51 and {r[2] for r in rows[1:]} == {"Presse"}
    assert not znuny.requests_for("TicketUpdate")


def test_command_ctrl_c_stops_after_the_ticket_in_hand_and_the_rerun_finishes_once(
        znuny: FakeZnuny, tmp_path: Path) -> None:
    db = tmp_path / "b.sqlite"
    process = run_command(znuny, db, "--apply", "--rate", "15")
    deadline = time.monotonic() + 120
    while not znuny.requests_for("TicketUpdate") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err.decode()
    assert "Stopping after the ticket in hand" in err.decode()
    assert "run the same command again" in out.decode()
    first = updates_per_ticket(znuny)
    assert first and set(first.values()) == {1}
    process = run_command(znuny, db, "--apply", "--rate", "0")
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err.decode()
    updates = updates_per_ticket(znuny)
    assert set(updates.values()) == {1} and len(updates) > len(first)


def test_command_on_a_terminal_shows_a_progress_bar_with_eta(znuny: FakeZnuny, tmp_path: Path) -> None:
    import pty
    leader, follower = pty.openpty()
    env = {**os.environ, "BOUNCER_DB_PATH": str(tmp_path / "b.sqlite"), "BOUNCER_OTRS_URL": znuny.base_url,
           "BOUNCER_OTRS_USER": znuny.user, "BOUNCER_OTRS_PASSWORD": znuny.password, "BOUNCER_LOG_JSON": "1",
           "PYTHONPATH": str(REPO), "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "sweep", "--queue", "LV"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    process.communicate(timeout=240)
    os.close(leader)
    assert process.returncode == 0
    text = screen.decode(errors="replace")
    assert "50/50" in text and "━" in text and "ETA" in text  # rich's bar, M of N and the time left
    assert "sweep: 50 open tickets found" not in text  # no plain lines on a terminal


def test_with_fetch_raw_the_sweep_judges_the_raw_mail_from_agentticketplain(
        fake_znuny: FakeZnuny, tmp_path: Path) -> None:
    """The captured tickets 2 and 3: AgentTicketPlain has the raw mail of articles 6, 7 and 8; the others
    fall back to the TicketGet article, and each verdict says which it was made from."""
    app = make_app(fake_znuny, tmp_path / "b.sqlite", fetch_raw=True)
    service = app.extensions["bouncer"]
    _, report = run_sweep(service, SweepOptions(apply=True, rate=0))
    assert {r.ticket_id for r in report.results} == {2, 3, 4, 5}
    downloads = {(int(r.query["TicketID"]), int(r.query["ArticleID"])) for r in fake_znuny.requests_for(
        "AgentTicketPlain")}
    assert {(2, 6), (3, 7), (3, 8)} <= downloads
    store = service.store

    def source(ticket_id: int, article_id: int) -> str:
        event = store.get_event(store.event_id(ticket_id, article_id))
        return event["mail_source"]

    sources = {key: source(*key) for key in ((2, 6), (3, 7), (3, 8), (4, 10))}
    assert sources[(2, 6)] == sources[(3, 7)] == sources[(3, 8)] == "raw"
    assert sources[(4, 10)] == "payload"
    assert not any(r.path.endswith("/Ticket/2") and r.json.get("ArticleSenderType")
                   for r in fake_znuny.requests_for("TicketGet"))
    service.store.close()


def test_older_mails_are_recorded_without_action_when_the_newest_was_decided_by_the_webhook(
        znuny: FakeZnuny, service: Service, built: list[Built]) -> None:
    """Ticket 3 (captured): a person's mail, an agent's answer, an out-of-office, a read receipt and the
    person's reply. The webhook saw only the reply; the sweep judges the older mails, acts on nothing."""
    from bouncer import znuny as wire
    ticket = znuny.tickets[3]
    reply = ticket["Article"][-1]
    assert service.process(wire.parse_event(wire.invoker_body(ticket, reply, ticket["Article"])), b"{}").status \
        == "processed"
    _, report = run_sweep(service, SweepOptions(apply=True, rate=0, limit=4))
    (row,) = [r for r in report.results if r.ticket_id == 3]
    assert (row.action, row.why, row.judged) == ("leave", "its newest mail was decided before (webhook)", 3)
    assert 3 not in updates_per_ticket(znuny)
    recorded = service.store.event_sources(3)
    assert recorded == {3: "sweep", 7: "sweep", 8: "sweep", 9: "webhook"}
    assert {a["kind"] for v in service.store.list_verdicts(ticket_id=3, source="sweep") for a in v["actions"]} \
        == {"none"}
