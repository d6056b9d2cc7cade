"""The JSON API: page users by HTTP Basic or session (+ CSRF header on writes), the same numbers as the pages."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from browser.pages_seed import PRESS, PRESS_RELEASE, WEBHOOK, csrf_token, https_client, log_in, page_config, seed_mailings


@pytest.fixture
def app(tmp_path: Path, wire_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.delenv("BOUNCER_SECRET_KEY", raising=False)
    config = page_config(tmp_path)
    seed_mailings(config, wire_dir)
    app = create_app(config)
    yield app
    app.extensions["bouncer"].store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return https_client(app)


def release_id(client: FlaskClient) -> int:
    mailings = client.get("/api/v1/mailings", auth=PRESS).json["mailings"]  # type: ignore[index]
    return next(m["id"] for m in mailings if m["message_id"] == PRESS_RELEASE[0])


def test_a_page_user_reads_the_mailings_with_http_basic(client: FlaskClient) -> None:
    answer = client.get("/api/v1/mailings", auth=PRESS)
    assert answer.status_code == 200
    release = next(m for m in answer.json["mailings"] if m["message_id"] == PRESS_RELEASE[0])  # type: ignore[index]
    assert (release["subject"], release["hard"], release["soft"], release["total"]) == (PRESS_RELEASE[1], 6, 4, 21)


@pytest.mark.parametrize("auth", [None, WEBHOOK, (PRESS[0], "wrong")], ids=["anonymous", "webhook", "wrong"])
def test_the_api_refuses_everyone_but_page_users(client: FlaskClient, auth: Any) -> None:
    answer = client.get("/api/v1/mailings", auth=auth)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert "error" in answer.json  # type: ignore[operator]


def test_mailing_numbers_are_the_same_as_on_the_page(client: FlaskClient) -> None:
    stats = client.get(f"/api/v1/mailings/{release_id(client)}", auth=PRESS).json
    assert stats["counts"] == {"hard": 6, "soft": 4, "unverified": 0, "auto_reply": 5, "read_receipt": 3,  # type: ignore[index]
                               "feedback_report": 0, "unsubscribe": 1, "human": 2, "total": 21}
    assert stats["bucket"] == "hour" and sum(p["hard"] for p in stats["timeline"]) == 6  # type: ignore[index]
    assert stats["top_reasons"][:2] == [{"reason": "user_unknown", "bounce_type": "hard", "n": 6},  # type: ignore[index]
                                        {"reason": "mailbox_full", "bounce_type": "soft", "n": 2}]  # addresses, not mails
    day = client.get(f"/api/v1/mailings/{release_id(client)}?bucket=day", auth=PRESS).json
    assert [p["t"] for p in day["timeline"]] == ["2026-11-24", "2026-11-25"]  # type: ignore[index]


def test_opt_outs_list_the_addresses_to_remove_per_mailing_and_in_all(client: FlaskClient) -> None:
    mine = client.get(f"/api/v1/opt-outs?mailing={release_id(client)}", auth=PRESS).json
    assert mine["total"] == 1 and mine["mailing_id"] == release_id(client)  # type: ignore[index]
    (row,) = mine["addresses"]  # type: ignore[index]
    assert row["address"] == "j.albers@stadtblatt-example.de" and row["requests"] == 1
    assert row["mailing_subject"] == PRESS_RELEASE[1] and "evidence" not in row
    every = client.get("/api/v1/opt-outs", auth=PRESS).json
    assert [r["address"] for r in every["addresses"]] == ["j.albers@stadtblatt-example.de"]  # type: ignore[index]
    assert client.get("/api/v1/opt-outs?mailing=9999", auth=PRESS).status_code == 404


def test_failed_addresses_flag_those_alive_again(client: FlaskClient) -> None:
    rows = client.get(f"/api/v1/mailings/{release_id(client)}/failed", auth=PRESS).json["addresses"]  # type: ignore[index]
    flags = {r["address"]: (r["dead"], r["alive_again"]) for r in rows}
    assert flags["redaktion@tageblatt-example.de"] == (0, True)
    assert flags["s.krause@posteo-example.de"] == (1, False)
    assert flags["nachrichten@sender-example.de"] == (0, False)


def test_dead_addresses_page_through_with_a_total(client: FlaskClient) -> None:
    mailing = release_id(client)
    first = client.get(f"/api/v1/dead?mailing={mailing}&limit=4", auth=PRESS).json
    rest = client.get(f"/api/v1/dead?mailing={mailing}&limit=4&offset=4", auth=PRESS).json
    assert first["total"] == 6 and len(first["addresses"]) == 4 and len(rest["addresses"]) == 2  # type: ignore[index]
    assert client.get("/api/v1/dead?since=2030-01-01", auth=PRESS).json["total"] == 0  # type: ignore[index]
    alive = client.get(f"/api/v1/alive-again?mailing={mailing}", auth=PRESS).json["addresses"]  # type: ignore[index]
    assert [a["address"] for a in alive] == ["redaktion@tageblatt-example.de"]


def test_a_mailing_is_registered_through_the_api(client: FlaskClient, app: Flask) -> None:
    answer = client.post("/api/v1/mailings", auth=PRESS, json={
        "subject": "Mitgliederbrief Dezember", "sent_at": "2026-12-03T18:00:00+01:00",
        "message_id": "mb-2026-12@mitglieder.example.de", "recipient_count": 1830})
    assert answer.status_code == 201
    mailing = answer.json["mailing"]  # type: ignore[index]
    assert answer.headers["Location"] == f"/api/v1/mailings/{mailing['id']}"
    assert (mailing["origin"], mailing["sent_at"], mailing["message_id"], mailing["recipient_count"]) == (
        "api", "2026-12-03T17:00:00Z", "<mb-2026-12@mitglieder.example.de>", 1830)


@pytest.mark.parametrize("body, problem", [
    ({"sent_at": "2026-12-03T18:00:00Z"}, "subject"),
    ({"subject": " ", "sent_at": "2026-12-03T18:00:00Z"}, "subject"),
    ({"subject": "x", "sent_at": "gestern"}, "sent_at"),
    ({"subject": "x", "sent_at": "0001-01-01T00:00:00"}, "sent_at"),
    ({"subject": "x", "sent_at": "9999-12-31T23:59:00+00:00"}, "sent_at"),
    ({"subject": "x", "sent_at": "2026-12-03T18:00:00Z", "recipients": "a@b.example"}, "recipients"),
    ({"subject": "x", "sent_at": "2026-12-03T18:00:00Z", "recipient_count": -1}, "recipient_count"),
    ({"subject": "x", "sent_at": "2026-12-03T18:00:00Z", "recipient_count": True}, "recipient_count"),
    ({"subject": "x", "sent_at": "2026-12-03T18:00:00Z", "message_id": 5}, "message_id"),
    ([1, 2], "JSON object"),
])
def test_registering_a_mailing_names_what_is_wrong(client: FlaskClient, body: Any, problem: str) -> None:
    answer = client.post("/api/v1/mailings", auth=PRESS, json=body)
    assert answer.status_code == 400 and problem in answer.json["error"]  # type: ignore[index]


def test_writes_must_be_json(client: FlaskClient) -> None:
    answer = client.post("/api/v1/mailings", auth=PRESS, data={"subject": "x", "sent_at": "2026-12-03T18:00:00Z"})
    assert answer.status_code == 415


def test_with_the_login_session_a_write_needs_the_csrf_header(client: FlaskClient) -> None:
    log_in(client, PRESS)
    body = {"subject": "Pressemitteilung Nachtrag", "sent_at": "2026-12-04T08:00:00Z"}
    assert client.get("/api/v1/mailings").status_code == 200
    refused = client.post("/api/v1/mailings", json=body)
    assert refused.status_code == 400 and "error" in refused.json  # type: ignore[operator]
    token = csrf_token(client.get("/mailings").text)
    assert client.post("/api/v1/mailings", json=body, headers={"X-CSRFToken": token}).status_code == 201


def test_unknown_mailing_is_a_json_404(client: FlaskClient) -> None:
    for path in ("/api/v1/mailings/9999", "/api/v1/mailings/9999/failed"):
        answer = client.get(path, auth=PRESS)
        assert answer.status_code == 404 and answer.json == {"error": "no such mailing"}
