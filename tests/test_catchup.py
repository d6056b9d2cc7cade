"""The catch-up against the fake Znuny over real HTTP: mails that came while the service was down are
found after it is back and processed once, like webhook events, through the outbox."""
from __future__ import annotations

import copy
import sqlite3
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from bouncer import znuny as wire
from bouncer.config import Config
from corpus_tickets import build_tickets
from fake_znuny import FakeZnuny
from test_gunicorn import StartGunicorn, start_gunicorn, wait_for  # noqa: F401 (start_gunicorn: a fixture)
from test_webhook_http import load_capture, post_capture


def make_app(fake: FakeZnuny, db: Path, **overrides: Any) -> Flask:
    config = Config(db_path=str(db), otrs_url=fake.base_url, otrs_user=fake.user, otrs_password=fake.password,
                    log_json=False, **{"mode": "inline", **overrides})
    return create_app(config)


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def arrive_while_down(fake: FakeZnuny, count: int, first_id: int) -> list[Any]:
    """Tickets PostMaster created while we were not listening: articles created now."""
    built = build_tickets(count, first_id=first_id, start=first_id)
    for item in built:
        ticket = copy.deepcopy(item.ticket)
        for article in ticket["Article"]:
            article["CreateTime"] = now_text()
        fake.add_ticket(ticket)
    return built


def webhook_saw_one(app: Flask, fake: FakeZnuny) -> None:
    """The service ran before: the webhook recorded the captured bounce of ticket 5."""
    ticket = fake.tickets[5]
    body = wire.invoker_body(ticket, ticket["Article"][-1], ticket["Article"])
    assert app.extensions["bouncer"].process(wire.parse_event(body), b"{}").status == "processed"


def test_mails_missed_while_down_are_processed_once_through_the_outbox(fake_znuny: FakeZnuny, tmp_path: Path) -> None:
    app = make_app(fake_znuny, tmp_path / "b.sqlite")
    service, catchup, worker = (app.extensions[k] for k in ("bouncer", "bouncer_catchup", "bouncer_worker"))
    webhook_saw_one(app, fake_znuny)
    built = arrive_while_down(fake_znuny, 40, first_id=3000)
    incoming = sum(len(item.ticket["Article"]) - (item.story == "answered") for item in built)  # not the agent's

    counts = catchup.run_once()
    assert counts is not None and counts["processed"] == incoming
    assert len(service.store.list_verdicts(source="catchup", limit=1000)) == incoming
    acting = sum(counts.get(f"action_{a}", 0) for a in ("close", "move", "tag", "restore"))
    assert service.store.pending_count() == acting
    while worker.run_once():
        pass
    closed = {t for t, ticket in fake_znuny.tickets.items() if ticket["StateType"] == "closed"}
    assert closed and closed <= {item.ticket["TicketID"] for item in built if not item.has_person}
    for item in built:
        if item.has_person:
            assert fake_znuny.tickets[item.ticket["TicketID"]]["State"] == item.ticket["State"]

    updates, reads = len(fake_znuny.requests_for("TicketUpdate")), len(fake_znuny.requests_for("TicketGet"))
    again = catchup.run_once()
    assert again is not None and again["processed"] == 0  # our own notes and the recorded mails are not new
    assert len(fake_znuny.requests_for("TicketUpdate")) == updates
    later = fake_znuny.requests_for("TicketGet")[reads:]
    assert len(later) == again["tickets"] and not any(r.json.get("Attachments") for r in later)  # light reads
    runs = service.store.runs("catchup")
    assert [r["status"] for r in runs] == ["done", "done"] and runs[1]["summary"]["processed"] == incoming


def test_a_late_webhook_delivery_after_the_catch_up_is_a_duplicate(fake_znuny: FakeZnuny, tmp_path: Path) -> None:
    app = make_app(fake_znuny, tmp_path / "b.sqlite")
    webhook_saw_one(app, fake_znuny)
    (item,) = arrive_while_down(fake_znuny, 1, first_id=4000)
    app.extensions["bouncer_catchup"].run_once()
    ticket = fake_znuny.tickets[item.ticket["TicketID"]]
    body = wire.invoker_body(ticket, ticket["Article"][0], ticket["Article"][:1])
    assert app.extensions["bouncer"].process(wire.parse_event(body), b"{}").status == "duplicate"


def test_no_round_before_anything_was_recorded(fake_znuny: FakeZnuny, tmp_path: Path) -> None:
    app = make_app(fake_znuny, tmp_path / "b.sqlite")
    arrive_while_down(fake_znuny, 3, first_id=3000)
    assert app.extensions["bouncer_catchup"].run_once() is None
    assert not fake_znuny.requests_for("TicketSearch")


def test_znuny_down_fails_the_round_and_the_next_one_looks_again(fake_znuny: FakeZnuny, tmp_path: Path) -> None:
    app = make_app(fake_znuny, tmp_path / "b.sqlite")
    store, catchup = app.extensions["bouncer"].store, app.extensions["bouncer_catchup"]
    webhook_saw_one(app, fake_znuny)
    arrive_while_down(fake_znuny, 5, first_id=3000)
    fake_znuny.down("503")
    catchup.run_once()
    assert store.last_run("catchup")["status"] == "failed" and store.last_run("catchup", "done") is None
    fake_znuny.up()
    counts = catchup.run_once()
    assert counts is not None and counts["processed"] >= 5
    searches = [r.json["ArticleCreateTimeNewerDate"] for r in fake_znuny.requests_for("TicketSearch")]
    assert searches[0] == searches[-1]  # the failed round did not move the watermark


def test_a_round_soon_after_another_is_skipped(fake_znuny: FakeZnuny, tmp_path: Path) -> None:
    app = make_app(fake_znuny, tmp_path / "b.sqlite")
    webhook_saw_one(app, fake_znuny)
    catchup = app.extensions["bouncer_catchup"]
    assert catchup.run_once() is not None
    assert catchup.run_once(min_gap=60) is None


@pytest.mark.parametrize(("mode", "asked", "enabled"), [
    ("inline", False, True), ("callback", False, True), ("dry-run", False, False), ("dry-run", True, True)])
def test_catchup_is_off_in_dry_run_unless_asked(mode: str, asked: bool, enabled: bool) -> None:
    config = Config(mode=mode, otrs_url="http://127.0.0.1:9/znuny", otrs_user="u", otrs_password="p",
                    catchup_in_dry_run=asked)
    assert config.catchup_enabled is enabled
    assert Config(mode=mode, catchup_in_dry_run=asked).catchup_enabled is False  # no Znuny to ask
    assert Config(mode="inline", otrs_url="http://127.0.0.1:9/znuny", otrs_user="u", otrs_password="p",
                  catchup_minutes=0).catchup_enabled is False


def test_catchup_settings_come_from_the_environment() -> None:
    config = Config.from_env({"BOUNCER_CATCHUP_MINUTES": "2.5", "BOUNCER_CATCHUP_IN_DRY_RUN": "yes",
                              "BOUNCER_OTRS_TIMEZONE": "Europe/Berlin"})
    assert (config.catchup_minutes, config.catchup_in_dry_run, str(config.otrs_zone)) == (2.5, True, "Europe/Berlin")
    with pytest.raises(ValueError, match="BOUNCER_OTRS_TIMEZONE"):
        Config.from_env({"BOUNCER_OTRS_TIMEZONE": "Mars/Olympus"})


def test_gunicorn_catches_up_after_a_stop_and_acts_once(
        fake_znuny: FakeZnuny, start_gunicorn: StartGunicorn,  # noqa: F811 (the fixture imported above)
        wire_dir: Path, tmp_path: Path) -> None:
    """Real gunicorn, two workers: mails PostMaster took while it was stopped are judged after the
    start (post_worker_init starts the catch-up), once, and their updates reach Znuny once."""
    settings = {"BOUNCER_OTRS_URL": fake_znuny.base_url, "BOUNCER_OTRS_USER": fake_znuny.user,
                "BOUNCER_OTRS_PASSWORD": fake_znuny.password, "BOUNCER_CATCHUP_MINUTES": "0.02"}
    server = start_gunicorn("inline", **settings)
    assert post_capture(server.url, load_capture(wire_dir, "ooo-vacation-generic-newticket")).status_code == 200
    assert server.stop() == 0
    built = arrive_while_down(fake_znuny, 12, first_id=3000)
    incoming = sum(len(item.ticket["Article"]) - (item.story == "answered") for item in built)

    start_gunicorn("inline", **settings)
    db = tmp_path / "data" / "bouncer.sqlite"

    def caught_up() -> int:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
            return int(conn.execute("SELECT count(*) FROM events WHERE source = 'catchup'").fetchone()[0])

    wait_for(lambda: caught_up() == incoming, 60, "the catch-up to judge every missed mail")
    wait_for(lambda: all(ticket["StateType"] == "closed" for tid, ticket in fake_znuny.tickets.items()
                         if tid in {b.ticket["TicketID"] for b in built if not b.has_person and b.label in (
                             "bounce_hard", "auto_reply")}), 60, "the outbox to close the machine tickets")
    time.sleep(3)  # a few more catch-up rounds of both workers
    assert caught_up() == incoming
    updates = Counter(int(r.path.rsplit("/", 1)[1]) for r in fake_znuny.requests_for("TicketUpdate"))
    assert updates and set(updates.values()) == {1}
    for item in built:
        if item.has_person:
            assert fake_znuny.tickets[item.ticket["TicketID"]]["StateType"] != "closed"
