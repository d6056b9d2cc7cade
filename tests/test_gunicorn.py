"""Real gunicorn with gunicorn.conf.py and 2 workers on 127.0.0.1, configured by BOUNCER_* variables.

What only a real server shows: create_app per worker on one SQLite file, metrics added up
across workers, the outbox threads of two workers delivering each update once, workers killed
in the middle of a request losing nothing, and a clean stop on SIGTERM. Every wait is bounded.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from fake_znuny import FakeZnuny
from prometheus_client.parser import text_string_to_metric_families
from test_webhook_http import (HTTP_TIMEOUT, OUTBOX_SCENARIOS, OUTBOX_UPDATES, TOKEN, WEBHOOK_PASSWORD,
                               WEBHOOK_USER, load_capture, post_capture, updates_per_ticket)

REPO = Path(__file__).resolve().parents[1]
BOOT_SECONDS = 60.0
STOP_SECONDS = 30.0
DELIVERY_SECONDS = 30.0
WORKERS = 2


@dataclass
class Gunicorn:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> int:
        """SIGTERM, as a container stop sends it; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_SECONDS)


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {seconds:.0f}s waiting for {what}")
        time.sleep(0.05)


def ready(url: str) -> bool:
    try:
        return requests.get(url + "/readyz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


StartGunicorn = Callable[..., Gunicorn]


@pytest.fixture
def start_gunicorn(tmp_path: Path) -> Iterator[StartGunicorn]:
    """Start gunicorn with `mode` and extra BOUNCER_* settings; waits until both workers are up.
    Whatever a test leaves running is terminated (and killed, should it hang) afterwards."""
    started: list[Gunicorn] = []

    def start(mode: str, **settings: str) -> Gunicorn:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("BOUNCER_") and key != "PROMETHEUS_MULTIPROC_DIR"}
        env.update(BOUNCER_BIND="127.0.0.1:0", BOUNCER_WORKERS=str(WORKERS), BOUNCER_MODE=mode,
                   BOUNCER_DB_PATH=str(tmp_path / "data" / "bouncer.sqlite"), BOUNCER_WEBHOOK_USER=WEBHOOK_USER,
                   BOUNCER_WEBHOOK_PASSWORD=WEBHOOK_PASSWORD, BOUNCER_WEBHOOK_TOKEN=TOKEN, **settings)
        log = tmp_path / f"gunicorn-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py"), "app:create_app()"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        server = Gunicorn(process, "", log)
        started.append(server)

        def listening() -> bool:
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            server.url = found.group(1) if found else ""
            return bool(found)

        wait_for(listening, BOOT_SECONDS, "gunicorn to listen")
        wait_for(lambda: log.read_text(errors="replace").count("otrs-bouncer ready") == WORKERS, BOOT_SECONDS,
                 f"{WORKERS} workers to build the app")
        wait_for(lambda: ready(server.url), BOOT_SECONDS, "/readyz")
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(STOP_SECONDS)


def events_counted(url: str) -> float:
    """bouncer_events_total over all label sets, as /metrics reports it."""
    text = requests.get(url + "/metrics", timeout=HTTP_TIMEOUT).text
    return sum(sample.value for family in text_string_to_metric_families(text) if family.name == "bouncer_events"
               for sample in family.samples if sample.name == "bouncer_events_total")


def test_gunicorn_answers_znuny_inline_counts_all_workers_and_stops_on_sigterm(
        start_gunicorn: StartGunicorn, wire_dir: Path) -> None:
    server = start_gunicorn("inline")
    scenarios = ("ooo-vacation-generic-newticket", "human-reply-followup", "bounce-postfix-dsn-followup",
                 "read-receipt-mdn-followup", "bounce-exim-unknown-msgid-newticket", "ooo-exchange-followup")

    answers = {scenario: post_capture(server.url, load_capture(wire_dir, scenario)) for scenario in scenarios}

    assert {response.status_code for response in answers.values()} == {200}
    vacation = answers["ooo-vacation-generic-newticket"].json()
    assert (vacation["Category"], vacation["OTRS_TicketStateSet"]) == ("auto_reply", "closed successful")
    assert answers["human-reply-followup"].json()["Action"] == "none"
    assert "OTRS_TicketStateSet" not in answers["ooo-exchange-followup"].json()
    # Connection: close (as Znuny sends it) spreads the requests over both workers; /metrics must add them up.
    assert events_counted(server.url) == len(scenarios)
    assert server.stop() == 0
    assert "Traceback" not in server.log.read_text(errors="replace")


def test_gunicorn_outbox_threads_of_two_workers_deliver_each_update_once(
        start_gunicorn: StartGunicorn, fake_znuny: FakeZnuny, wire_dir: Path) -> None:
    server = start_gunicorn("callback", BOUNCER_OTRS_URL=fake_znuny.base_url, BOUNCER_OTRS_USER=fake_znuny.user,
                            BOUNCER_OTRS_PASSWORD=fake_znuny.password)

    for scenario in OUTBOX_SCENARIOS:
        assert post_capture(server.url, load_capture(wire_dir, scenario)).json()["Result"] == "processed"

    wait_for(lambda: sum(updates_per_ticket(fake_znuny).values()) >= len(OUTBOX_UPDATES), DELIVERY_SECONDS,
             "the outbox to deliver")
    wait_for(lambda: requests.get(server.url + "/readyz", timeout=HTTP_TIMEOUT).json()["outbox_pending"] == 0,
             DELIVERY_SECONDS, "the outbox to record the deliveries")
    assert server.stop() == 0
    assert updates_per_ticket(fake_znuny) == OUTBOX_UPDATES


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_workers_killed_mid_request_lose_nothing_the_new_workers_finish_and_act_once(
        start_gunicorn: StartGunicorn, fake_znuny: FakeZnuny, wire_dir: Path, tmp_path: Path) -> None:
    """The rule for the invoker: an event we started on is never lost. Both workers are killed
    (SIGKILL, as the kernel's OOM killer or a node failure would) while one of them waits for the
    raw mail inside the request; the master starts new ones, and they finish the event from the
    spool: recorded once, its ticket update delivered once through the outbox."""
    released = fake_znuny.hold_downloads()
    server = start_gunicorn("inline", BOUNCER_OTRS_URL=fake_znuny.base_url, BOUNCER_OTRS_USER=fake_znuny.user,
                            BOUNCER_OTRS_PASSWORD=fake_znuny.password, BOUNCER_FETCH_RAW="1")
    capture = load_capture(wire_dir, "bounce-postfix-dsn-followup")
    event = json.loads(capture["body_raw"])["Event"]
    ticket_id, article_id = int(event["TicketID"]), int(event["ArticleID"])
    failures: list[BaseException] = []

    def deliver() -> None:
        try:
            post_capture(server.url, capture)
        except requests.RequestException as exc:  # the worker died under the request
            failures.append(exc)

    delivery = threading.Thread(target=deliver)
    delivery.start()
    wait_for(lambda: fake_znuny.requests_for("AgentTicketPlain"), DELIVERY_SECONDS, "the worker to ask for the raw mail")
    spool = tmp_path / "data" / "bouncer.sqlite-spool"
    assert len(list(spool.glob("*.json"))) == 1
    for worker in _children(server.process.pid):
        os.kill(worker, signal.SIGKILL)
    delivery.join(HTTP_TIMEOUT)
    assert failures, "the request died with its worker"
    released.set()
    wait_for(lambda: server.log.read_text(errors="replace").count("otrs-bouncer ready") == 2 * WORKERS, BOOT_SECONDS,
             "the master to start new workers")
    for payload in spool.glob("*.json"):  # a minute later, as far as the recovery's grace period is concerned
        past = time.time() - 120
        os.utime(payload, (past, past))

    wait_for(lambda: updates_per_ticket(fake_znuny)[ticket_id] >= 1, DELIVERY_SECONDS, "the recovered update")
    wait_for(lambda: requests.get(server.url + "/readyz", timeout=HTTP_TIMEOUT).json()
             == {"status": "ready", "mode": "inline", "outbox_pending": 0, "spooled": 0}, DELIVERY_SECONDS,
             "the outbox and the spool to empty")
    assert server.stop() == 0
    assert updates_per_ticket(fake_znuny)[ticket_id] == 1
    with sqlite3.connect(tmp_path / "data" / "bouncer.sqlite") as db:
        assert db.execute("SELECT e.status, e.mail_source, v.category FROM events e JOIN verdicts v ON v.event_id = e.id "
                          "WHERE e.ticket_id = ? AND e.article_id = ?", [ticket_id, article_id]).fetchall() == [
            ("acted", "raw", "bounce")]
