"""Our own mails (fixtures/mails/<label>/*.eml, German first): each carries its expected verdict.

The folder names the category (and hard/soft); an optional `<name>.expect.json` adds
recipients, status, reason, the original's Message-ID and subject, the return date,
a confidence ceiling for mails that must at most be tagged, or a floor for mails clear
enough to close. Every mail is judged on both paths: as raw mail and as the ArticleCreate invoker
request Znuny posts for it (headers only where the kit's PostMaster filters copy them).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bouncer.article import from_article
from bouncer.classify import classify
from bouncer.mail import Mail
from bouncer.mime import parse
from bouncer.verdict import REASONS
from bouncer.znuny import parse_request
from corpus import FIXTURES, category_of
from scenario import invoker_body

MAILS = sorted(FIXTURES.glob("*/*.eml"))


def _expect(mail: Path) -> dict:
    sidecar = mail.with_suffix(".expect.json")
    return json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}


def _allowlist(domain: str | None):
    """The allowlist as the store answers it: the rule that covers the sender's domain, if any."""
    if not domain:
        return None
    return lambda sender: f"domain {domain}" if sender.rsplit("@", 1)[-1] in (domain,) or sender.endswith("." + domain) else None


def _as_received(raw: bytes, path: str) -> Mail:
    """The mail as the bouncer gets it on `path`: 'raw', or 'znuny' (the invoker request Znuny posts)."""
    if path == "raw":
        return parse(raw)
    ticket, article = parse_request(invoker_body(raw, ticket_id=1, article_id=1))
    return from_article(article, ticket)


@pytest.mark.parametrize("path", ["raw", "znuny"])
@pytest.mark.parametrize("mail", MAILS, ids=[f"{m.parent.name}/{m.stem}" for m in MAILS])
def test_fixture_mail_gets_its_expected_verdict_on_both_paths(mail: Path, path: str) -> None:
    label = mail.parent.name
    expect = _expect(mail)
    verdict = classify(_as_received(mail.read_bytes(), path), allow=_allowlist(expect.get("allowlist")))
    assert verdict.category == category_of(label), verdict.evidence
    if label.startswith("bounce_"):
        assert verdict.bounce_type == label.split("_")[1], (verdict.status, verdict.reason, verdict.evidence)
        assert verdict.reason in REASONS
    if "recipients" in expect:
        assert set(expect["recipients"]) <= set(verdict.recipients), verdict.recipients
    for key in ("status", "reason"):
        if key in expect:
            assert getattr(verdict, key) == expect[key], verdict.evidence
    if "original_message_id" in expect:
        assert verdict.original.message_id == expect["original_message_id"]
    if "original_subject" in expect:
        assert verdict.original.subject == expect["original_subject"]
    if "return_date" in expect:
        assert verdict.return_date is not None and verdict.return_date.isoformat() == expect["return_date"]
    if "max_confidence" in expect and verdict.is_actionable:
        assert verdict.confidence <= expect["max_confidence"], "a machine verdict here may only be tagged"
    if "min_confidence" in expect:
        assert verdict.confidence >= expect["min_confidence"], ("clear enough to act on", verdict.evidence)


def test_there_are_enough_fixtures_for_every_category() -> None:
    labels = {m.parent.name for m in MAILS}
    assert len(MAILS) >= 40
    assert {"bounce_hard", "bounce_soft", "auto_reply", "read_receipt", "human"} <= labels
