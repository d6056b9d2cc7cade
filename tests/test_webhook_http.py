"""The webhook over real HTTP on 127.0.0.1, fed with what a real Znuny 7 posted (../shared/otrs-wire).

The app runs in werkzeug's threaded server on a real socket, with its SQLite file in
tmp_path and a fake Znuny (fake_znuny.py) that answers like the captures. Covered: every
captured invoker request, auth, 400/413, the loop guard, duplicate delivery, inline answer
keys, the callback outbox through a Znuny outage and through a restart, crash recovery,
dry-run, and the rule above all: a ticket with a human conversation is never closed.
"""
from __future__ import annotations

import copy
import json
import os
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import requests
from fake_znuny import FakeZnuny, default_wire_dir
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from bouncer.config import Config
from bouncer.otrs import OtrsError
from bouncer.outbox import OutboxWorker
from bouncer.policy import MARKER
from bouncer.service import Service
from bouncer.spool import Spool, spool_directory
from bouncer.store import Store, parse_iso
from clock import Clock

PREFIX = "invoker-articlecreate-"
ALL_ATTACHMENTS = "-with-all-attachments"
WEBHOOK_USER = "webhookuser"  # the user in the captures' Basic placeholder
WEBHOOK_PASSWORD = "webhook-password"
TOKEN = "test-token-123"  # the X-Webhook-Token the captured invoker sent
MAX_BODY = 64 * 1024  # the largest capture is about 20 KB
HTTP_TIMEOUT = 10.0
Mode = Literal["dry-run", "inline", "callback"]


@dataclass(frozen=True)
class Expected:
    """What the webhook must answer to one captured scenario."""

    result: Literal["processed", "ignored"]
    category: str | None = None
    closes: bool = False  # only a machine mail that opened its own ticket may close it


EXPECTED: dict[str, Expected] = {
    "agent-email-reply": Expected("ignored"),
    "internal-note-from-rest-ticketupdate": Expected("ignored"),
    "internal-note-from-rest-combined-update": Expected("ignored"),
    "note-created-by-invoker-response": Expected("ignored"),
    "bounce-exim-unknown-msgid-newticket": Expected("processed", "bounce", closes=True),
    "bounce-postfix-dsn-followup": Expected("processed", "bounce"),
    "ooo-vacation-generic-newticket": Expected("processed", "auto_reply", closes=True),
    "ooo-exchange-followup": Expected("processed", "auto_reply"),
    "ooo-exchange-canned-response-actions": Expected("processed", "auto_reply"),
    "ooo-exchange-canned-response-missing-historytype": Expected("processed", "auto_reply"),
    "read-receipt-mdn-followup": Expected("processed", "read_receipt"),
    "human-reply-followup": Expected("processed", "human"),
    "human-reply-webhook-returned-500": Expected("processed", "human"),
    "newticket-customer-plain": Expected("processed", "human"),
    "newticket-customer-multipart-alternative": Expected("processed", "human"),
}
CAPTURE_FILES = sorted(default_wire_dir().glob(f"{PREFIX}*.json"))


def scenario_of(path: Path) -> str:
    return path.stem.removeprefix(PREFIX).removesuffix(ALL_ATTACHMENTS)


def load_capture(wire_dir: Path, scenario: str, all_attachments: bool = False) -> dict[str, Any]:
    suffix = ALL_ATTACHMENTS if all_attachments else ""
    return json.loads((wire_dir / f"{PREFIX}{scenario}{suffix}.json").read_text(encoding="utf-8"))


def as_posted(capture: dict[str, Any], body: dict[str, Any], article: dict[str, Any]) -> dict[str, Any]:
    """A copy of `capture` whose body announces `article` (new ArticleID, path to match)."""
    event = dict(body["Event"], ArticleID=article["ArticleID"])
    ticket = dict(body["Ticket"], Article=article, Articles=[*body["Ticket"].get("Articles", []), article])
    new_body = dict(body, Event=event, Ticket=ticket)
    return dict(capture, body_raw=json.dumps(new_body),
                path=f"/otrs/article-created/{event['TicketID']}/{article['ArticleID']}")


def post_capture(url: str, capture: dict[str, Any], *, data: Any = None, path: str | None = None,
                 auth: tuple[str, str] | None = (WEBHOOK_USER, WEBHOOK_PASSWORD),
                 headers: dict[str, str] | None = None) -> requests.Response:
    """Post as the captured invoker did: its path, body and headers (our credentials instead of
    the placeholder); `data`, `path` and `headers` replace or add to the captured ones."""
    sent = {name: value for name, value in capture["headers"]
            if name.lower() not in ("authorization", "host", "content-length")}
    sent.update(headers or {})
    body = capture["body_raw"].encode("utf-8") if data is None else data
    return requests.post(url + (path or capture["path"]), data=body, headers=sent, auth=auth, timeout=HTTP_TIMEOUT)


@dataclass
class LiveApp:
    """One app instance serving on 127.0.0.1 in a thread."""

    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def service(self) -> Service:
        return self.app.extensions["bouncer"]

    @property
    def store(self) -> Store:
        return self.service.store

    @property
    def worker(self) -> OutboxWorker:
        return self.app.extensions["bouncer_worker"]

    def post(self, capture: dict[str, Any], **options: Any) -> requests.Response:
        return post_capture(self.url, capture, **options)

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(HTTP_TIMEOUT)
        self.store.close()


Serve = Callable[..., LiveApp]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bouncer.sqlite"


@pytest.fixture
def serve(fake_znuny: FakeZnuny, db_path: Path, clock: Clock) -> Iterator[Serve]:
    """Start the app (`mode`, Config overrides) on a free port; every app started is stopped after the test."""
    running: list[LiveApp] = []

    def start(mode: Mode, **overrides: Any) -> LiveApp:
        settings: dict[str, Any] = dict(
            db_path=str(db_path), mode=mode, webhook_user=WEBHOOK_USER, webhook_password=WEBHOOK_PASSWORD,
            webhook_token=TOKEN, max_body_bytes=MAX_BODY, otrs_url=fake_znuny.base_url,
            otrs_user=fake_znuny.user, otrs_password=fake_znuny.password, otrs_timeout=5.0)
        settings.update(overrides)
        app = create_app(Config(**settings).validated())
        service: Service = app.extensions["bouncer"]
        # create_app's store keeps wall-clock time; the same file behind the test's clock replaces it.
        service.store.close()
        service.store = Store(db_path, clock=clock, soft_threshold=service.policy.dead_soft_bounces,
                              soft_window_days=service.policy.dead_window_days)
        service.spool = Spool(spool_directory(db_path), clock)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        live = LiveApp(app, server, thread)
        running.append(live)
        return live

    yield start
    for live in running:
        if live.thread.is_alive():
            live.stop()


def updates_per_ticket(fake: FakeZnuny) -> Counter[int]:
    """How many TicketUpdates reached the fake, per TicketID."""
    return Counter(int(r.path.rsplit("/", 1)[1]) for r in fake.requests_for("TicketUpdate"))


def outbox_actions(store: Store) -> list[dict[str, Any]]:
    """Every planned ticket update with its outbox fields (state, attempts, next_attempt_at, last_error)."""
    actions = []
    for summary in store.list_verdicts(limit=1000):
        verdict = store.get_verdict(summary["id"])
        assert verdict is not None
        actions.extend(action for action in verdict["actions"] if action["kind"] == "ticket_update")
    return actions


def verdict_for(store: Store, ticket_id: int, article_id: int) -> dict[str, Any]:
    """The one verdict recorded for an article, with its actions."""
    (summary,) = [v for v in store.list_verdicts(ticket_id=ticket_id, limit=1000) if v["article_id"] == article_id]
    verdict = store.get_verdict(summary["id"])
    assert verdict is not None
    return verdict


def spooled(service: Service) -> list[tuple[int, int]]:
    """(TicketID, ArticleID) of every payload in the spool, however young."""
    return sorted((item.ticket_id, item.article_id) for item in service.spool.stale(older_than=-3600))


def event_count(store: Store) -> int:
    return sum(store.stats()["events"].values())


# ---- every captured invoker request ---------------------------------------------------------------


def test_every_captured_scenario_has_an_expectation(wire_dir: Path) -> None:
    captured = {scenario_of(path) for path in wire_dir.glob(f"{PREFIX}*.json")}

    assert captured == set(EXPECTED)


@pytest.mark.parametrize("capture_file", CAPTURE_FILES, ids=[p.stem.removeprefix(PREFIX) for p in CAPTURE_FILES])
def test_captured_invoker_request_gets_the_expected_answer(serve: Serve, capture_file: Path) -> None:
    expected = EXPECTED[scenario_of(capture_file)]
    capture = json.loads(capture_file.read_text(encoding="utf-8"))
    live = serve("inline")

    response = live.post(capture)

    assert response.status_code == 200
    answer = response.json()
    assert answer["Result"] == expected.result
    response_keys = {key for key in answer if key.startswith("OTRS_")}
    if expected.result == "ignored":
        assert response_keys == set()
        assert event_count(live.store) == 0
        return
    assert answer["Category"] == expected.category
    event = live.store.get_event(answer["EventID"])
    assert event is not None
    verdict = verdict_for(live.store, event["ticket_id"], event["article_id"])
    assert verdict["category"] == expected.category
    if expected.category == "human":
        assert answer["Action"] == "none" and response_keys == set()
        assert [(a["kind"], a["state"]) for a in verdict["actions"]] == [("none", "skipped")]
        return
    assert answer["OTRS_TicketDynamicFieldSet_MailClassification"].startswith(expected.category.replace("_", "-"))
    assert answer["OTRS_TicketArticleAdd"]["HistoryType"] == "AddNote"
    state = answer.get("OTRS_TicketStateSet")
    if expected.closes:
        assert state == "closed successful"
    else:
        assert state is None or not state.startswith("closed")


# ---- authentication and bad input -----------------------------------------------------------------


@pytest.mark.parametrize(("auth", "headers"), [
    (None, {}),
    ((WEBHOOK_USER, "wrong-password"), {}),
    (("someone-else", WEBHOOK_PASSWORD), {}),
    ((WEBHOOK_USER, WEBHOOK_PASSWORD), {"X-Webhook-Token": ""}),
    ((WEBHOOK_USER, WEBHOOK_PASSWORD), {"X-Webhook-Token": "wrong-token"}),
], ids=["no-credentials", "wrong-password", "wrong-user", "no-token", "wrong-token"])
def test_request_without_valid_credentials_is_refused_and_leaves_no_trace(
        serve: Serve, wire_dir: Path, auth: tuple[str, str] | None, headers: dict[str, str]) -> None:
    live = serve("inline")

    response = live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket"), auth=auth, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert event_count(live.store) == 0


def test_webhook_without_a_configured_password_refuses_everyone(serve: Serve, wire_dir: Path) -> None:
    live = serve("inline", webhook_password="")

    response = live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket"), auth=(WEBHOOK_USER, ""))

    assert response.status_code == 401
    assert event_count(live.store) == 0


@pytest.mark.parametrize("body", [
    b"this is not JSON",
    b"\xff\xfe{}",
    b"[]",
    b'{"Event": {"Event": "ArticleCreate", "TicketID": 4, "ArticleID": 10}}',
    b'{"Event": {"TicketID": 4, "ArticleID": 10}, "Ticket": {"TicketID": 4}}',
    b'{"Event": {"TicketID": "x", "ArticleID": 10}, "Ticket": {"Article": {"SenderType": "customer"}}}',
], ids=["not-json", "not-utf8", "array", "no-ticket", "no-article", "bad-ticket-id"])
def test_body_that_is_no_invoker_event_gets_400(serve: Serve, wire_dir: Path, body: bytes) -> None:
    live = serve("inline")

    response = live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket"), data=body,
                         path="/otrs/article-created")

    assert response.status_code == 400
    assert response.json()["error"]
    assert event_count(live.store) == 0


def test_ids_in_the_path_that_differ_from_the_body_get_400(serve: Serve, wire_dir: Path) -> None:
    live = serve("inline")

    response = live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket"), path="/otrs/article-created/5/10")

    assert response.status_code == 400
    assert event_count(live.store) == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_size_limit_gets_413(serve: Serve, wire_dir: Path, chunked: bool) -> None:
    live = serve("inline")
    capture = load_capture(wire_dir, "ooo-vacation-generic-newticket")
    # Valid JSON (trailing blanks), so only the size can be the reason.
    body = capture["body_raw"].encode() + b" " * MAX_BODY
    data: Any = iter([body[i:i + 8192] for i in range(0, len(body), 8192)]) if chunked else body

    response = live.post(capture, data=data)

    assert response.status_code == 413
    assert event_count(live.store) == 0


def test_webhook_path_answers_405_to_other_methods_and_unknown_subpaths_reach_the_pages_404(
        serve: Serve, wire_dir: Path) -> None:
    live = serve("inline")

    got = requests.get(live.url + "/otrs/article-created/4/10", auth=(WEBHOOK_USER, WEBHOOK_PASSWORD),
                       timeout=HTTP_TIMEOUT)
    assert (got.status_code, got.headers["Allow"], got.json()["error"]) == (405, "POST", "method not allowed: POST only")
    other = live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket"), path="/otrs/article-created/4/x")
    assert other.status_code == 404
    assert event_count(live.store) == 0


def test_unexpected_error_answers_500_json_and_leaves_the_event_to_recovery(
        serve: Serve, wire_dir: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    live = serve("inline")

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(live.service, "ticket_context", broken)
    # The "bouncer" logger does not propagate to the root, where caplog listens.
    monkeypatch.setattr(logging.getLogger("bouncer.webhook"), "handlers", [caplog.handler])
    response = live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket"))

    assert (response.status_code, response.json()) == (500, {"error": "internal error"})
    assert response.headers["Cache-Control"] == "no-store"
    assert any(r.getMessage() == "webhook request failed" and r.exc_info for r in caplog.records)
    assert sum(live.store.stats()["verdicts"].values()) == 0
    assert spooled(live.service) == [(4, 10)]
    assert requests.get(live.url + "/readyz", timeout=HTTP_TIMEOUT).json()["spooled"] == 1
    monkeypatch.undo()  # the bug is fixed, the worker restarted
    clock.advance(seconds=61)
    assert live.service.recover() == 1
    assert verdict_for(live.store, 4, 10)["category"] == "auto_reply"
    assert spooled(live.service) == []


# ---- loop guard and duplicates --------------------------------------------------------------------


def test_note_we_added_does_not_start_a_loop(serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path) -> None:
    """Our TicketUpdate note fires ArticleCreate again; that event must be ignored, not acted on."""
    live = serve("callback")
    capture = load_capture(wire_dir, "ooo-vacation-generic-newticket")
    live.post(capture)
    assert live.worker.run_once() == 1
    note = copy.deepcopy(fake_znuny.tickets[4]["Article"][-1])  # the note as Znuny stored it
    assert note["Subject"].startswith(MARKER)

    response = live.post(as_posted(capture, json.loads(capture["body_raw"]), note))

    assert response.json()["Result"] == "ignored"
    assert live.worker.run_once() == 0
    assert updates_per_ticket(fake_znuny) == {4: 1}


def test_a_customer_mail_with_our_marker_in_its_subject_is_judged_like_any_other(
        serve: Serve, wire_dir: Path) -> None:
    """Our notes are known by their author (agent or system, internal channel): anybody can write
    "[otrs-bouncer]" into a subject, and that must not buy a mail a pass."""
    live = serve("inline")
    capture = load_capture(wire_dir, "ooo-vacation-generic-newticket")
    body = json.loads(capture["body_raw"])
    echo = dict(body["Ticket"]["Article"], Subject=f"{MARKER} auto-reply", Body=f"{MARKER} Decision: close")

    response = live.post(as_posted(capture, body, echo))

    assert response.json()["Result"] == "processed"
    assert event_count(live.store) == 1


def test_repeated_delivery_is_processed_once(serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path) -> None:
    live = serve("callback")
    capture = load_capture(wire_dir, "bounce-exim-unknown-msgid-newticket")

    first, second = live.post(capture), live.post(capture)

    assert first.json()["Result"] == "processed"
    assert second.json()["Result"] == "duplicate"
    assert live.worker.run_once() == 1
    assert updates_per_ticket(fake_znuny) == {5: 1}


def test_simultaneous_deliveries_of_one_article_are_processed_once(serve: Serve, wire_dir: Path) -> None:
    live = serve("inline")
    capture = load_capture(wire_dir, "ooo-vacation-generic-newticket")
    start = threading.Barrier(8)
    answers: list[str] = []

    def deliver() -> None:
        start.wait(HTTP_TIMEOUT)
        answers.append(live.post(capture).json()["Result"])

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HTTP_TIMEOUT)

    assert Counter(answers) == {"processed": 1, "duplicate": 7}
    assert len(live.store.list_verdicts()) == 1


# ---- inline mode ----------------------------------------------------------------------------------


def test_inline_answer_uses_the_response_keys_znuny_applied(serve: Serve, wire_dir: Path) -> None:
    """The keys of the canned answer Znuny applied, plus HistoryType/HistoryComment, without which
    Znuny applies none of them (ooo-exchange-canned-response-missing-historytype)."""
    applied = load_capture(wire_dir, "ooo-exchange-canned-response-actions")["canned_response"]["body"]
    live = serve("inline")

    response = live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket"))

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()
    assert set(applied) <= set(answer)
    assert answer["OTRS_TicketStateSet"] == "closed successful"
    assert answer["OTRS_TicketDynamicFieldSet_MailClassification"] == "auto-reply"
    note = answer["OTRS_TicketArticleAdd"]
    assert set(applied["OTRS_TicketArticleAdd"]) <= set(note)
    assert note["HistoryType"] == "AddNote" and note["HistoryComment"]
    assert note["Subject"].startswith(MARKER) and note["ContentType"].startswith("text/plain")


def test_follow_up_on_a_human_conversation_is_tagged_and_keeps_the_ticket_state(
        serve: Serve, wire_dir: Path) -> None:
    """Ticket 3 holds bob's question and the agent's answer: his out-of-office must not close it."""
    live = serve("inline")

    answer = live.post(load_capture(wire_dir, "ooo-exchange-followup")).json()

    assert (answer["Category"], answer["Action"]) == ("auto_reply", "tag")
    assert "OTRS_TicketStateSet" not in answer
    assert answer["OTRS_TicketDynamicFieldSet_MailClassification"] == "auto-reply"
    assert "human correspondence" in answer["OTRS_TicketArticleAdd"]["Body"]


def test_machine_mail_that_changed_a_conversation_s_state_gets_the_state_back(
        serve: Serve, wire_dir: Path) -> None:
    """Here the out-of-office arrived after ticket 3 had been closed (OldTicketData: open)."""
    live = serve("inline")
    capture = load_capture(wire_dir, "ooo-exchange-canned-response-actions", all_attachments=True)
    assert json.loads(capture["body_raw"])["Ticket"]["State"] == "closed successful"

    answer = live.post(capture).json()

    assert answer["Action"] == "restore"
    assert answer["OTRS_TicketStateSet"] == "open"


def test_earlier_machine_mail_on_the_ticket_is_no_conversation_until_marked_a_false_positive(
        serve: Serve, wire_dir: Path) -> None:
    """A second bounce on a ticket a bounce opened closes it like the first; once an admin says the
    first was a person's mail after all, the ticket holds a conversation and is no longer closed."""
    live = serve("inline")
    capture = load_capture(wire_dir, "bounce-exim-unknown-msgid-newticket")
    body = json.loads(capture["body_raw"])
    ticket_id, first_article = int(body["Event"]["TicketID"]), int(body["Event"]["ArticleID"])
    assert live.post(capture).json()["Action"] == "close"

    second = live.post(as_posted(capture, body, dict(body["Ticket"]["Article"], ArticleID=9001, ArticleNumber=2)))
    assert (second.json()["Category"], second.json()["Action"]) == ("bounce", "close")

    live.store.set_review(verdict_for(live.store, ticket_id, first_article)["id"], "false_positive", "admin")
    third = live.post(as_posted(capture, body, dict(body["Ticket"]["Article"], ArticleID=9002, ArticleNumber=3)))
    assert third.json()["Action"] in ("tag", "restore")
    assert not str(third.json().get("OTRS_TicketStateSet", "")).startswith("closed")


# ---- callback mode: the outbox --------------------------------------------------------------------

OUTBOX_SCENARIOS = ("ooo-vacation-generic-newticket", "bounce-exim-unknown-msgid-newticket",
                    "bounce-postfix-dsn-followup", "read-receipt-mdn-followup", "human-reply-followup")
OUTBOX_UPDATES = {4: 1, 5: 1, 2: 1, 3: 1}  # the human reply on ticket 3 gets no update


@pytest.mark.parametrize("outage", ["503", "refuse"])
def test_callback_with_znuny_down_then_up_delivers_every_update_once(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path, clock: Clock,
        outage: Literal["503", "refuse"]) -> None:
    live = serve("callback")
    states_before = {ticket_id: fake_znuny.tickets[ticket_id]["State"] for ticket_id in OUTBOX_UPDATES}
    fake_znuny.down(outage)
    for scenario in OUTBOX_SCENARIOS:
        assert live.post(load_capture(wire_dir, scenario)).json()["Result"] == "processed"

    assert live.worker.run_once() == 0
    actions = outbox_actions(live.store)
    assert len(actions) == len(OUTBOX_UPDATES)
    for action in actions:
        assert (action["state"], action["attempts"]) == ("pending", 1)
        assert parse_iso(action["next_attempt_at"]) > clock()
        assert "TicketUpdate" in action["last_error"] or "SessionCreate" in action["last_error"]
    assert requests.get(live.url + "/readyz", timeout=HTTP_TIMEOUT).json()["outbox_pending"] == len(OUTBOX_UPDATES)

    fake_znuny.up()
    seen = len(fake_znuny.received)
    assert live.worker.run_once() == 0  # backoff holds: Znuny is not hammered the moment it is back
    assert len(fake_znuny.received) == seen
    clock.advance(minutes=1)
    assert live.worker.run_once() == len(OUTBOX_UPDATES)
    clock.advance(hours=1)
    assert live.worker.run_once() == 0

    assert updates_per_ticket(fake_znuny) == OUTBOX_UPDATES
    assert {a["state"] for a in outbox_actions(live.store)} == {"done"}
    assert fake_znuny.tickets[4]["State"] == fake_znuny.tickets[5]["State"] == "closed successful"
    # Tickets 2 and 3 carry conversations: tagged, never closed.
    assert fake_znuny.tickets[2]["State"] == states_before[2]
    assert fake_znuny.tickets[3]["State"] == states_before[3]
    assert fake_znuny.dynamic_field(3, "MailClassification") == "read-receipt"


def test_pending_outbox_survives_a_restart(serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path,
                                           clock: Clock) -> None:
    first = serve("callback")
    fake_znuny.down()
    for scenario in OUTBOX_SCENARIOS:
        first.post(load_capture(wire_dir, scenario))
    first.worker.run_once()
    first.stop()
    fake_znuny.up()

    second = serve("callback")
    assert requests.get(second.url + "/readyz", timeout=HTTP_TIMEOUT).json()["outbox_pending"] == len(OUTBOX_UPDATES)
    clock.advance(minutes=1)
    assert second.worker.run_once() == len(OUTBOX_UPDATES)

    assert updates_per_ticket(fake_znuny) == OUTBOX_UPDATES
    assert second.store.pending_count() == 0


def crash_after_spooling(live: LiveApp, capture: dict[str, Any]) -> None:
    """What a worker killed mid-request leaves behind: the payload in the spool, nothing recorded."""
    event = json.loads(capture["body_raw"])["Event"]
    item = live.service.spool.put(int(event["TicketID"]), int(event["ArticleID"]), "webhook", capture["body_raw"].encode())
    written = live.store.clock().timestamp()  # the test's clock, not the wall clock a slow start moved on
    os.utime(item.path, (written, written))


def test_event_whose_request_died_is_finished_by_recovery(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path, clock: Clock) -> None:
    live = serve("callback")
    crash_after_spooling(live, load_capture(wire_dir, "ooo-vacation-generic-newticket"))

    assert live.service.recover() == 0  # too young: a worker may still be on it
    clock.advance(seconds=61)
    assert live.service.recover() == 1

    assert verdict_for(live.store, 4, 10)["category"] == "auto_reply"
    assert spooled(live.service) == []
    assert live.service.recover() == 0
    assert live.worker.run_once() == 1
    assert updates_per_ticket(fake_znuny) == {4: 1}


def test_redelivery_of_an_event_whose_request_died_is_done_once(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path, clock: Clock) -> None:
    """The redelivery is recorded; recovery then finds the article recorded and only drops the payload."""
    live = serve("callback")
    capture = load_capture(wire_dir, "ooo-vacation-generic-newticket")
    crash_after_spooling(live, capture)
    assert live.post(capture).json()["Result"] == "processed"
    assert live.post(capture).json()["Result"] == "duplicate"

    clock.advance(seconds=61)
    assert live.service.recover() == 0
    assert spooled(live.service) == []
    assert live.worker.run_once() == 1
    assert updates_per_ticket(fake_znuny) == {4: 1}


@pytest.mark.parametrize("with_otrs", [True, False], ids=["otrs-credentials", "no-credentials"])
def test_event_recovered_in_inline_mode_is_acted_on_through_the_outbox_or_recorded_as_not_done(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path, clock: Clock, with_otrs: bool) -> None:
    """The crash took the request that would have carried the inline answer: a recovered
    event must not be recorded as done inline."""
    live = serve("inline", **({} if with_otrs else {"otrs_url": None}))
    crash_after_spooling(live, load_capture(wire_dir, "ooo-vacation-generic-newticket"))
    clock.advance(seconds=61)
    assert live.service.recover() == 1

    (action,) = verdict_for(live.store, 4, 10)["actions"]
    assert (action["mode"], action["state"]) == (("callback", "pending") if with_otrs else ("inline", "skipped"))
    assert live.worker.run_once() == int(with_otrs)
    assert updates_per_ticket(fake_znuny) == ({4: 1} if with_otrs else {})


def test_two_workers_recovering_one_event_at_once_act_once_and_neither_fails(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every gunicorn worker recovers as it starts and in its worker thread. While one works on a
    payload the other must skip it, neither act twice nor fail: an exception in create_app stops gunicorn."""
    first, second = serve("callback"), serve("callback")
    crash_after_spooling(first, load_capture(wire_dir, "ooo-vacation-generic-newticket"))
    clock.advance(seconds=61)
    recovered: dict[str, int] = {}

    def second_recovers_meanwhile(*args: Any, real: Callable[..., Any] = first.service._classify_and_act,
                                  **options: Any) -> Any:
        recovered["second"] = second.service.recover()
        return real(*args, **options)

    monkeypatch.setattr(first.service, "_classify_and_act", second_recovers_meanwhile)
    recovered["first"] = first.service.recover()

    assert recovered == {"first": 1, "second": 0}
    assert len(outbox_actions(first.store)) == 1
    assert first.worker.run_once() == 1
    assert updates_per_ticket(fake_znuny) == {4: 1}


def test_delivery_recorded_by_another_worker_while_classifying_answers_duplicate_without_keys(
        serve: Serve, wire_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two deliveries of one article at once both pass the duplicate check; the unique event row
    lets exactly one of them record and answer with the ticket update."""
    first, second = serve("inline"), serve("inline")
    capture = load_capture(wire_dir, "ooo-vacation-generic-newticket")
    answers: list[dict[str, Any]] = []

    def other_delivery_first(*args: Any, real: Callable[..., Any] = first.service.ticket_context) -> Any:
        answers.append(second.post(capture).json())
        return real(*args)

    monkeypatch.setattr(first.service, "ticket_context", other_delivery_first)
    answers.append(first.post(capture).json())

    assert [a["Result"] for a in answers] == ["processed", "duplicate"]
    assert "OTRS_TicketStateSet" in answers[0] and not any(k.startswith("OTRS_") for k in answers[1])
    assert event_count(first.store) == 1 and spooled(first.service) == []


def test_spooled_payload_that_cannot_be_processed_is_recorded_as_failed_and_not_retried(
        serve: Serve, clock: Clock, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    live = serve("callback")
    live.service.spool.put(4, 11, "webhook", b'{"Event": {"TicketID": 4, "ArticleID"')  # cut off mid-write
    monkeypatch.setattr(logging.getLogger("bouncer.service"), "handlers", [caplog.handler])
    clock.advance(seconds=61)

    assert live.service.recover() == 0
    event = live.store.get_event(live.store.event_id(4, 11))
    assert event["status"] == "failed" and event["status_note"].startswith("recovery failed: JSONDecodeError")
    assert any(r.getMessage() == "spooled event failed" and r.exc_info for r in caplog.records)
    assert spooled(live.service) == []
    assert live.service.recover() == 0


def test_recovery_leaves_the_payload_for_the_next_round_when_the_database_is_busy(
        serve: Serve, wire_dir: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    live = serve("callback")
    crash_after_spooling(live, load_capture(wire_dir, "ooo-vacation-generic-newticket"))
    clock.advance(seconds=61)

    def locked(*args: Any) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(live.store, "record_event", locked)
    assert live.service.recover() == 0
    assert spooled(live.service) == [(4, 10)] and event_count(live.store) == 0
    monkeypatch.undo()
    assert live.service.recover() == 1


# ---- dry-run --------------------------------------------------------------------------------------


def test_dry_run_records_the_plan_and_touches_nothing(serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path) -> None:
    live = serve("dry-run")

    answer = live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket")).json()

    assert (answer["Mode"], answer["Category"], answer["Action"]) == ("dry-run", "auto_reply", "close")
    assert not any(key.startswith("OTRS_") for key in answer)
    [action] = outbox_actions(live.store)
    assert action["state"] == "dry-run" and action["plan"]["state"] == "closed successful"
    assert live.worker.run_once() == 0
    assert fake_znuny.received == []


# ---- inline answers: confirmed by Znuny, or flagged ---------------------------------------------------

def distinct(records: Iterable[logging.LogRecord]) -> list[logging.LogRecord]:
    """Each log record once (the test's handler may sit on the logger and on the root it propagates to)."""
    return list({id(r): r for r in records}.values())


def test_inline_answer_is_sent_until_the_echo_of_our_note_confirms_it(serve: Serve, wire_dir: Path) -> None:
    live = serve("inline")
    capture = load_capture(wire_dir, "ooo-exchange-canned-response-actions", all_attachments=True)
    answer = live.post(capture).json()
    body = json.loads(capture["body_raw"])
    ticket_id, article_id = int(body["Event"]["TicketID"]), int(body["Event"]["ArticleID"])
    assert [a["state"] for a in verdict_for(live.store, ticket_id, article_id)["actions"]] == ["sent"]

    # Znuny adds our note as UserID 1 and fires ArticleCreate for it (note-created-by-invoker-response).
    echo = load_capture(wire_dir, "note-created-by-invoker-response")
    echo_body = json.loads(echo["body_raw"])
    note = dict(echo_body["Ticket"]["Article"], Subject=answer["OTRS_TicketArticleAdd"]["Subject"])
    assert live.post(as_posted(echo, echo_body, note)).json()["Result"] == "ignored"

    assert [a["state"] for a in verdict_for(live.store, ticket_id, article_id)["actions"]] == ["done"]


def test_inline_answer_znuny_never_confirms_is_flagged_with_what_ticketget_shows(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path, clock: Clock,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """No echo came back and TicketGet shows the ticket unchanged: 'unconfirmed', with why, and one warning."""
    live = serve("inline")
    monkeypatch.setattr(logging.getLogger("bouncer.service"), "handlers", [caplog.handler])
    capture = load_capture(wire_dir, "ooo-vacation-generic-newticket")
    body = json.loads(capture["body_raw"])
    ticket_id, article_id = int(body["Event"]["TicketID"]), int(body["Event"]["ArticleID"])
    assert live.post(capture).json()["OTRS_TicketStateSet"] == "closed successful"

    assert live.service.confirm_sent() == 0  # within the minute Znuny has to confirm it
    clock.advance(minutes=2)
    assert live.service.confirm_sent() == 1

    (action,) = verdict_for(live.store, ticket_id, article_id)["actions"]
    assert action["state"] == "unconfirmed"
    assert "no echo of our note came back" in action["last_error"] and "closed successful" in action["last_error"]
    warnings = distinct(r for r in caplog.records if r.getMessage() == "inline answer never confirmed by Znuny")
    assert len(warnings) == 1 and warnings[0].ticket_id == ticket_id
    assert live.service.confirm_sent() == 0


def test_every_failed_outbox_attempt_is_logged_once_with_ticket_and_reason(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path, clock: Clock,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    live = serve("callback")
    monkeypatch.setattr(logging.getLogger("bouncer.service"), "handlers", [caplog.handler])
    fake_znuny.down("refuse")
    assert live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket")).json()["Result"] == "processed"

    assert live.worker.run_once() == 0
    clock.advance(minutes=1)
    assert live.worker.run_once() == 0

    failed = distinct(r for r in caplog.records if r.getMessage() == "ticket update failed, will retry")
    assert [(r.levelname, r.ticket_id, r.attempt) for r in failed] == [("WARNING", 4, 1), ("WARNING", 4, 2)]
    (action,) = outbox_actions(live.store)
    code = action["last_error"].split(":", 1)[0]
    assert code.endswith(".Unreachable") and action["last_error"].count(code) == 1


def test_an_outbox_update_znuny_refuses_is_given_up_with_one_error_line(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    live = serve("callback", otrs_password="wrong-password")
    monkeypatch.setattr(logging.getLogger("bouncer.service"), "handlers", [caplog.handler])
    assert live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket")).json()["Result"] == "processed"

    assert live.worker.run_once() == 0

    given_up = distinct(r for r in caplog.records if r.getMessage() == "ticket update given up")
    assert [(r.levelname, r.ticket_id) for r in given_up] == [("ERROR", 4)]
    assert given_up[0].error.startswith("SessionCreate.AuthFail: ")
    (action,) = outbox_actions(live.store)
    assert action["state"] == "failed" and action["last_error"].count("SessionCreate.AuthFail") == 1


# --- callback delivery is effectively once -----------------------------------------------------------

def test_an_update_znuny_applied_after_our_timeout_is_not_applied_again(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Znuny slower than our timeout: it applied the TicketUpdate, we saw a timeout. The retry reads
    the ticket first, finds our note with the action's mark, and sends nothing."""
    live = serve("callback")
    assert live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket")).json()["Result"] == "processed"
    real = live.service.otrs.ticket_update

    def applied_then_timed_out(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise OtrsError("Timeout", "read timed out", retryable=True)

    monkeypatch.setattr(live.service.otrs, "ticket_update", applied_then_timed_out)
    assert live.worker.run_once() == 0
    monkeypatch.undo()
    for _ in range(4):
        clock.advance(minutes=20)
        live.worker.run_once()

    assert updates_per_ticket(fake_znuny) == {4: 1}
    assert [a["state"] for a in outbox_actions(live.store)] == ["done"]
    notes = [a for a in fake_znuny.tickets[4]["Article"] if MARKER in str(a.get("Body"))]
    assert len(notes) == 1 and notes[0]["Body"].endswith(f"action #{outbox_actions(live.store)[0]['id']}")


def test_an_update_cut_off_after_its_note_gets_its_dynamic_field_on_retry_without_a_second_note(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apache stopped while Znuny ran our TicketUpdate: state and note were applied, the dynamic field
    (set last, outside any transaction) was not, and we saw the connection drop. The retry finds our
    note and sends only the missing field."""
    live = serve("callback")
    assert live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket")).json()["Result"] == "processed"
    real = live.service.otrs.ticket_update

    def cut_off_before_the_fields(*args: Any, **kwargs: Any) -> Any:
        real(*args, **{**kwargs, "dynamic_fields": None})
        raise OtrsError("ConnectionError", "connection reset by peer", retryable=True)

    monkeypatch.setattr(live.service.otrs, "ticket_update", cut_off_before_the_fields)
    assert live.worker.run_once() == 0
    monkeypatch.undo()
    assert fake_znuny.tickets[4]["State"] == "closed successful"
    assert fake_znuny.dynamic_field(4, "MailClassification") is None
    for _ in range(4):
        clock.advance(minutes=20)
        live.worker.run_once()

    assert fake_znuny.dynamic_field(4, "MailClassification") == "auto-reply"
    assert [a["state"] for a in outbox_actions(live.store)] == ["done"]
    assert len([a for a in fake_znuny.tickets[4]["Article"] if MARKER in str(a.get("Body"))]) == 1
    retry = fake_znuny.requests_for("TicketUpdate")[-1].json
    assert "Article" not in retry and "Ticket" not in retry
    assert retry["DynamicField"] == {"Name": "MailClassification", "Value": "auto-reply"}


def test_a_close_claimed_by_a_dead_worker_is_not_re_applied_to_a_ticket_an_agent_reopened(
        serve: Serve, fake_znuny: FakeZnuny, wire_dir: Path, clock: Clock) -> None:
    live = serve("callback")
    assert live.post(load_capture(wire_dir, "ooo-vacation-generic-newticket")).json()["Result"] == "processed"
    (action,) = outbox_actions(live.store)
    assert action["plan"]["state"] == "closed successful"
    assert live.store.claim_action(action["id"])  # a worker took it and was killed before it answered
    fake_znuny.tickets[4]["State"] = "open"  # meanwhile an agent looked at the ticket and opened it

    clock.advance(hours=1)  # the lease has run out: another worker takes the action over
    assert live.worker.run_once() == 1

    assert fake_znuny.tickets[4]["State"] == "open", "never re-close a ticket whose state changed since planned"
    assert fake_znuny.dynamic_field(4, "MailClassification") == "auto-reply"
    assert updates_per_ticket(fake_znuny) == {4: 1}
