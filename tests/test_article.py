"""The Znuny article adapter on every real invoker capture: the same filters, the same verdicts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bouncer.article import from_article
from bouncer.classify import classify_article
from bouncer.service import own_article
from bouncer.znuny import parse_article, parse_event, parse_request
from corpus import SHARED

WIRE = SHARED / "otrs-wire"
CAPTURES = sorted(WIRE.glob("invoker-articlecreate-*.json"))
# Scenario name -> the category its triggering article must get; None: an article agents or we
# wrote (reply, note), which the loop guard keeps from ever being judged.
EXPECTED = {
    "newticket-customer-plain": "human", "newticket-customer-multipart-alternative": "human",
    "agent-email-reply": None, "bounce-postfix-dsn-followup": "bounce", "ooo-exchange-followup": "auto_reply",
    "read-receipt-mdn-followup": "read_receipt", "human-reply-followup": "human",
    "ooo-vacation-generic-newticket": "auto_reply", "bounce-exim-unknown-msgid-newticket": "bounce",
    "internal-note-from-rest-ticketupdate": None, "internal-note-from-rest-combined-update": None,
    "ooo-exchange-canned-response-actions": "auto_reply", "note-created-by-invoker-response": None,
    "ooo-exchange-canned-response-missing-historytype": "auto_reply", "human-reply-webhook-returned-500": "human",
}


def _scenario(path: Path) -> str:
    return path.stem.removeprefix("invoker-articlecreate-").removesuffix("-with-all-attachments")


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.stem for c in CAPTURES])
def test_every_invoker_capture_gets_its_expected_category(capture: Path) -> None:
    body = json.loads(capture.read_text(encoding="utf-8"))["body_json"]
    ticket, article = parse_request(body)
    expected = EXPECTED[_scenario(capture)]
    if expected is None:
        assert own_article(article), "agents' articles and our notes are never judged"
        return
    assert not own_article(article)
    verdict = classify_article(article, ticket)
    assert verdict.category == expected, verdict.evidence


def test_all_scenarios_are_covered() -> None:
    assert {_scenario(c) for c in CAPTURES} == set(EXPECTED)


def test_dsn_attachment_gives_recipient_status_and_the_original() -> None:
    body = json.loads((WIRE / "invoker-articlecreate-bounce-postfix-dsn-followup.json").read_text())["body_json"]
    ticket, article = parse_request(body)
    verdict = classify_article(article, ticket)
    assert (verdict.recipients, verdict.status, verdict.reason) == (("alice@example.com",), "5.1.1", "user_unknown")
    assert verdict.original.message_id and verdict.original.message_id.startswith("<")


def test_body_copy_in_attachments_is_not_read_twice() -> None:
    body = json.loads((WIRE / "invoker-articlecreate-newticket-customer-plain.json").read_text())["body_json"]
    ticket, article = parse_request(body)
    mail = from_article(article, ticket)
    assert sum(p.content_type == "text/plain" for p in mail.parts) == 1
    assert mail.source == "znuny"


def test_copied_headers_from_dynamic_fields_become_headers() -> None:
    article = {"Subject": "Automatische Antwort: Pressemitteilung", "Body": "Ich bin bis 12.01. nicht im Büro.",
               "DynamicField_AutoSubmitted": "auto-replied", "DynamicField_MailResponseSuppress": "All",
               "DynamicField_MailRulesLoop": "presse@example.org"}
    mail = from_article(parse_article(article))
    assert mail.header("Auto-Submitted") == "auto-replied"
    assert mail.header("X-MS-Exchange-Inbox-Rules-Loop") == "presse@example.org"


def test_a_body_that_is_no_invoker_request_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_event({"Event": {}})
