"""The human signs (bouncer/humansigns.py): what counts as a person's sign, and what does not."""
from __future__ import annotations

import pytest

from bouncer.humansigns import assess
from bouncer.mime import parse
from corpus import FIXTURES


def _signs(name: str):  # type: ignore[no-untyped-def]
    return assess(parse((FIXTURES / f"{name}.eml").read_bytes()))


@pytest.mark.parametrize(("name", "wraps", "at_least"), [
    ("human/jira-agent-antwort-auto-generated-de", True, 0.7),  # reply, typed above a quote, a question
    ("human/wg-unzustellbar-weitergeleitet-mit-report-teil-de", True, 0.7),  # forwarded by a person
    ("human/person-ab-morgen-nicht-im-buero-pm-trotzdem", False, 0.2),  # a request ("trotzdem")
    ("human/person-ab-morgen-im-urlaub-ohne-frage", False, 0.2),  # an absence announced ahead
    ("human/servicenow-kurze-antwort-auto-generated-de", True, 0.7),  # reply and a greeting by name
])
def test_a_persons_mail_shows_its_signs(name: str, wraps: bool, at_least: float) -> None:
    signs = _signs(name)
    assert signs.wraps is wraps and signs.strength >= at_least, signs.evidence


@pytest.mark.parametrize("name", [
    "auto_reply/exchange-automatische-antwort-de-bis-12-01",
    "auto_reply/ooo-ab-dem-wieder-erreichbar-de",
    "bounce_hard/exchange-text-unzustellbar-recipnotfound-auto-submitted-de",
    "read_receipt/lotus-notes-return-receipt-en",
])
def test_machine_mail_shows_no_signs_of_a_person(name: str) -> None:
    signs = _signs(name)
    assert signs.strength == 0 and not signs.wraps, signs.evidence


def test_personal_strength_leaves_the_subject_prefix_out() -> None:
    signs = _signs("human/zendesk-agent-reply-precedence-bulk-en")  # reply 0.5, quote, question, greeting
    assert signs.wraps and signs.strength == 1.0 and signs.personal == 0.6
    assert _signs("unsubscribe/person-reply-please-remove-me-en").personal < _signs(
        "unsubscribe/person-reply-please-remove-me-en").strength
