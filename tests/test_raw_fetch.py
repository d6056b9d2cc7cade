"""BOUNCER_FETCH_RAW: with agent credentials the exact raw mail is fetched (AgentTicketPlain) and judged;
on any failure the payload is used instead. Either way the source is recorded."""
from __future__ import annotations

import json
from pathlib import Path

from app import create_app
from bouncer.znuny import parse_event
from bouncer.config import Config
from fake_znuny import FakeZnuny


def _service(tmp_path: Path, fake: FakeZnuny):
    config = Config(db_path=str(tmp_path / "b.sqlite"), webhook_password="pw", mode="dry-run", fetch_raw=True,
                    otrs_url=fake.base_url, otrs_user=fake.user, otrs_password=fake.password, log_json=False)
    return create_app(config).extensions["bouncer"]


def _capture(wire_dir: Path, name: str) -> tuple[dict, bytes]:
    capture = json.loads((wire_dir / f"invoker-articlecreate-{name}.json").read_text())
    return capture["body_json"], json.dumps(capture["body_json"]).encode()


def test_raw_mail_is_fetched_and_recorded_as_the_source(tmp_path: Path, fake_znuny: FakeZnuny, wire_dir: Path) -> None:
    service = _service(tmp_path, fake_znuny)
    body, raw = _capture(wire_dir, "bounce-postfix-dsn-followup")
    outcome = service.process(parse_event(body), raw)
    assert outcome.verdict is not None and outcome.verdict.category == "bounce"
    assert [r.query.get("Action") for r in fake_znuny.requests_for("AgentTicketPlain")] == ["AgentTicketPlain"]
    assert service.store.get_event(outcome.event_id)["mail_source"] == "raw"
    # The raw mail has the headers the payload lacks: the verdict's evidence shows the DSN's own Content-Type.
    assert any("report-type=delivery-status" in line for line in outcome.verdict.evidence)


def test_payload_is_used_when_znuny_is_down(tmp_path: Path, fake_znuny: FakeZnuny, wire_dir: Path) -> None:
    service = _service(tmp_path, fake_znuny)
    fake_znuny.down()
    body, raw = _capture(wire_dir, "bounce-postfix-dsn-followup")
    outcome = service.process(parse_event(body), raw)
    assert outcome.verdict is not None and outcome.verdict.category == "bounce"
    assert service.store.get_event(outcome.event_id)["mail_source"] == "payload"
