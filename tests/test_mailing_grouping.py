"""The press week through the real path (Znuny's invoker bodies, Service, SQLite) and the pages:
exactly three mailings, every reply in its place, machine mail about no mailing of ours in none."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from bouncer.config import Config
from bouncer.store import MailMeta, Store
from bouncer.verdict import Original, Verdict
from browser.pages_seed import PRESS, https_client, log_in, page_config, seed_week
from scenario import MEMBER_LETTER, PRESS_RELEASE, SECOND_RELEASE, press_week

WEEK = press_week()


@pytest.fixture(scope="module")
def week_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, list]]:
    config: Config = page_config(tmp_path_factory.mktemp("week"))
    with Store(config.db_path) as store:  # the press office registered two of the three, with their recipients
        for key in REGISTERED:
            mailing = WEEK.mailings[key]
            store.register_mailing(mailing.subject, mailing.sent, mailing.message_id, recipients=mailing.recipients)
    seeded = seed_week(config, WEEK)
    app = create_app(config)
    yield app, seeded
    app.extensions["bouncer"].store.close()


REGISTERED = (PRESS_RELEASE, MEMBER_LETTER)
SUBJECT_ONLY_NDR = "exchange-unzustellbar-subject-only"  # names its mailing by subject alone


def _verdict_of(app: Flask, ticket_id: int) -> dict:
    store = app.extensions["bouncer"].store
    (verdict,) = store.list_verdicts(ticket_id=ticket_id, limit=2)
    return verdict


def test_the_week_makes_exactly_three_mailings_with_their_own_subjects_and_send_times(week_app) -> None:
    app, _ = week_app
    mailings = app.extensions["bouncer"].store.list_mailings(limit=100)
    assert sorted(m["subject"] for m in mailings) == sorted(m.subject for m in WEEK.mailings.values())
    for row in mailings:
        expected = next(m for m in WEEK.mailings.values() if m.subject == row["subject"])
        assert row["message_id"] == expected.message_id
        assert row["sent_at"] == expected.sent.strftime("%Y-%m-%dT%H:%M:%SZ") and row["sent_known"] == 1


def test_every_reply_lands_in_its_mailing_and_machine_mail_about_none_in_none(week_app) -> None:
    app, seeded = week_app
    ids = {m["subject"]: m["id"] for m in app.extensions["bouncer"].store.list_mailings(limit=100)}
    by_key = {key: ids[m.subject] for key, m in WEEK.mailings.items()}
    misplaced = []
    for reaction, ticket_id, _article in seeded:
        verdict = _verdict_of(app, ticket_id)
        want = by_key[reaction.mailing] if reaction.mailing else None
        if verdict["category"] != reaction.category or verdict["mailing_id"] != want:
            misplaced.append((reaction.label, reaction.address, verdict["category"], verdict["mailing_id"], want))
    assert misplaced == []


def test_the_counts_per_mailing_add_up_to_its_replies(week_app) -> None:
    """Bounces count by type for a registered mailing; for one only known from replies, as unverified,
    and so does a text NDR that names the mailing by subject only (anyone can write that subject)."""
    app, _ = week_app
    store = app.extensions["bouncer"].store
    for key, mailing in WEEK.mailings.items():
        row = next(m for m in store.list_mailings(limit=100) if m["message_id"] == mailing.message_id)
        reactions = WEEK.of(key)
        by_id = [r for r in reactions if r.label != SUBJECT_ONLY_NDR]
        bounces = {kind: sum(r.bounce_type == kind for r in by_id) for kind in ("hard", "soft")}
        unverified = sum(r.category == "bounce" for r in reactions) - bounces["hard"] - bounces["soft"]
        assert row["total"] == len(reactions)
        if key in REGISTERED:
            assert (row["hard"], row["soft"], row["unverified"]) == (bounces["hard"], bounces["soft"], unverified)
        else:
            assert (row["hard"], row["soft"], row["unverified"]) == (0, 0, sum(r.category == "bounce" for r in reactions))
        assert row["auto_reply"] == sum(r.category == "auto_reply" for r in reactions)
        assert row["human"] == sum(r.category == "human" for r in reactions)


def test_the_mailings_page_lists_the_three_mailings(week_app) -> None:
    app, _ = week_app
    client: FlaskClient = https_client(app)
    log_in(client, PRESS)
    page = client.get("/mailings").text
    for key in (PRESS_RELEASE, MEMBER_LETTER, SECOND_RELEASE):
        assert page.count(WEEK.mailings[key].subject) == 1
    assert page.count('<td class="subject"') == 3


def test_a_mailing_whose_original_had_no_date_says_sent_unknown(tmp_path: Path) -> None:
    config = page_config(tmp_path)
    with Store(config.db_path) as store:
        store.record_event("webhook", Verdict(category="bounce", confidence=0.98, bounce_type="hard",
                                              recipients=("a@example.org",),
                                              original=Original(message_id="<x-1@partei.de>", subject="Rundbrief")),
                           MailMeta(ticket_id=1, article_id=1))
    app = create_app(config)
    client = https_client(app)
    log_in(client, PRESS)
    assert "Versand unbekannt" in client.get("/mailings").text
    assert "Versand unbekannt" in client.get("/mailings/1").text
    app.extensions["bouncer"].store.close()


def test_machine_mail_about_no_mailing_has_a_bucket_of_its_own(week_app) -> None:
    app, _ = week_app
    client = https_client(app)
    log_in(client, PRESS)
    unlinked = WEEK.of(None)
    page = client.get("/mailings").text
    assert f"Maschinenpost ohne Aussendung</a>:\n  {len(unlinked)} Antworten" in page
    bucket = client.get("/mailings/none")
    assert bucket.status_code == 200
    counts = dict(re.findall(r'data-kind="(\w+)"><span class="n">(\d+)</span>', bucket.text))
    assert counts["total"] == str(len(unlinked)) and counts["hard"] == "1" and counts["auto_reply"] == "2"
    assert "c.wolf@gone-example.de" in bucket.text
    assert client.get("/api/v1/mailings").json["no_mailing"]["total"] == len(unlinked)


def test_a_bounce_without_a_readable_address_is_shown_as_such(tmp_path: Path) -> None:
    config = page_config(tmp_path)
    with Store(config.db_path) as store:
        sent = datetime.now(timezone.utc) - timedelta(hours=1)  # the store's clock is the real one here
        store.register_mailing("Rundbrief", sent, "<x-2@partei.de>")
        for article, recipients in ((1, ("a@example.org",)), (2, ())):
            store.record_event("webhook", Verdict(
                category="bounce", confidence=0.95, bounce_type="hard", reason="user_unknown", recipients=recipients,
                original=Original(message_id="<x-2@partei.de>", subject="Rundbrief", date=format_datetime(sent))),
                MailMeta(ticket_id=article, article_id=article))
        stats = store.mailing_stats(1)
    assert {(r["reason"], r["n"]) for r in stats["top_reasons"]} == {("user_unknown", 1), ("no_address", 1)}
    app = create_app(config)
    client = https_client(app)
    log_in(client, PRESS)
    assert "<td>ohne Adresse</td>" in client.get("/mailings/1").text
    app.extensions["bouncer"].store.close()
