"""Forged bounces must not put addresses on the dead list (store/addresses.py bounce_check).

A bounce counts only when it names, as its original's Message-ID, In-Reply-To or References, a
mailing the press office registered, and, where that mailing's recipients are known, the address is
one of them. Each mail in fixtures/forged goes through the webhook as Znuny posts it; its sidecar says
which check it must get with the recipients known and without.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from bouncer.config import Config
from bouncer.mail import recipient_list
from bouncer.store import MailMeta, Store
from bouncer.verdict import Original, Verdict
from browser.pages_seed import ADMIN, PRESS, WEBHOOK, https_client, log_in, page_config
from corpus import REPO
from scenario import invoker_body

FORGED = REPO / "fixtures" / "forged"
MAILING = ("PM 112/2026: Landesvorstand fordert Ausbau des Nahverkehrs", "<pm-112-2026.4711@presse.gruene-example.de>")
SENT = datetime.now(timezone.utc) - timedelta(hours=1)  # the app's clock is the real one: the mailing is recent
BERLIN_SENT = SENT.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M")  # as the form takes it
RECIPIENTS = ("redaktion007@zeitung-example.de", "desk@funk-example.de", "info@verein-example.de")
VERIFIED = ("recipient", "registered")
_articles = iter(range(1, 1_000_000))


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    expect: dict[str, str]


def cases() -> list[Case]:
    return [Case(p.stem, p.read_bytes(), json.loads(p.with_suffix(".expect.json").read_text(encoding="utf-8")))
            for p in sorted(FORGED.glob("*.eml"))]


def post(app: Flask, raw: bytes) -> None:
    article = next(_articles)
    answer = app.test_client().post("/otrs/article-created", json=invoker_body(raw, 7000 + article, article),
                                    auth=WEBHOOK)
    assert answer.status_code == 200, answer.text


def bounce_rows(app: Flask) -> list[dict[str, Any]]:
    return app.extensions["bouncer"].store._rows("SELECT address, verification FROM bounces ORDER BY id")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return page_config(tmp_path)


MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app(config: Config) -> Iterator[MakeApp]:
    """The app on `config` (or another config), with our mailing registered first when `recipients` are
    given (() registers it without them); every app made is closed after the test."""
    made: list[Flask] = []

    def make(recipients: tuple[str, ...] | None = None, on: Config | None = None) -> Flask:
        if recipients is not None:
            with Store(config.db_path) as store:
                store.register_mailing(MAILING[0], SENT, MAILING[1], recipients=recipients)
        made.append(create_app(on or config))
        return made[-1]

    yield make
    for app in made:
        app.extensions["bouncer"].store.close()


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app(RECIPIENTS)


@pytest.mark.parametrize("known", [True, False], ids=["recipients-known", "recipients-unknown"])
@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_a_bounce_counts_only_when_it_names_our_registered_mailing_and_one_of_its_recipients(
        make_app: MakeApp, case: Case, known: bool) -> None:
    app = make_app(RECIPIENTS if known else ())
    post(app, case.raw)
    want = case.expect["check_with_recipients" if known else "check_without_recipients"]
    rows = bounce_rows(app)
    assert rows and {r["verification"] for r in rows} == {want}, case.expect["why"]
    store = app.extensions["bouncer"].store
    dead = {a["address"] for a in store.dead_addresses()}
    assert dead == ({r["address"] for r in rows} if want in VERIFIED else set())
    address = store.address_history(rows[0]["address"])["row"]
    assert address["unverified_count"] == (0 if want in VERIFIED else 1)


def test_forged_bounces_do_not_count_on_the_mailing_page_and_are_marked_unverified(app: Flask) -> None:
    for name in ("names-our-message-id-not-a-recipient", "subject-only-text-ndr", "real-bounce-of-our-recipient"):
        post(app, (FORGED / f"{name}.eml").read_bytes())
    store = app.extensions["bouncer"].store
    (mailing,) = [m for m in store.list_mailings() if m["message_id"] == MAILING[1]]
    assert (mailing["hard"], mailing["unverified"]) == (1, 2)
    stats = store.mailing_stats(mailing["id"])
    assert [(r["reason"], r["n"]) for r in stats["top_reasons"]] == [("user_unknown", 1)]
    failed = {f["address"]: (f["verified"], f["check"]) for f in store.failed_addresses(mailing["id"])}
    assert failed == {"chefredaktion@zeitung-example.de": (0, "not_a_recipient"),
                      "redaktion007@zeitung-example.de": (1, "recipient")}  # its subject-only NDR is not its best
    client = https_client(app)
    log_in(client, PRESS)
    page = client.get(f"/mailings/{mailing['id']}").text
    counts = dict(re.findall(r'data-kind="(\w+)"><span class="n">(\d+)</span>', page))
    assert (counts["hard"], counts["unverified"]) == ("1", "2")
    assert "ließen sich nicht bestätigen" in page and page.count('class="unverified-why"') == 1
    assert "unbestätigt: Adresse nicht unter den Empfängern der Aussendung" in page  # why, readable on a phone
    assert "1 unzustellbare Adresse von 3" in page  # the bounce rate counts verified addresses only
    assert "3 Adressen bekannt" in page and "2 Unzustellbarkeitsmeldungen ließen sich nicht bestätigen" in page
    history = client.get("/addresses?q=chefredaktion@zeitung-example.de").text
    assert "1 unbestätigt, nicht gezählt" in history and "nie unzustellbar" not in history
    assert "unbestätigt: Adresse nicht unter den Empfängern der Aussendung" in history


def test_registering_a_mailing_later_makes_the_bounces_that_named_it_count(make_app: MakeApp) -> None:
    app = make_app()
    post(app, (FORGED / "in-reply-to-our-mailing.eml").read_bytes())  # names the mailing by id only
    assert [r["verification"] for r in bounce_rows(app)] == ["no_mailing"]
    post(app, (FORGED / "real-bounce-of-our-recipient.eml").read_bytes())  # a copy of it: an 'auto' mailing
    store = app.extensions["bouncer"].store
    assert store.dead_addresses() == []
    assert [r["verification"] for r in bounce_rows(app)] == ["unregistered", "unregistered"]  # both in it

    store.register_mailing(MAILING[0], SENT, MAILING[1], recipients=RECIPIENTS)  # the press office catches up
    assert {r["verification"] for r in bounce_rows(app)} == {"recipient"}
    assert {a["address"] for a in store.dead_addresses()} == {"redaktion007@zeitung-example.de",
                                                             "desk@funk-example.de"}


def test_recipients_given_later_take_back_a_bounce_for_an_address_we_never_mailed(make_app: MakeApp) -> None:
    app = make_app(())
    post(app, (FORGED / "names-our-message-id-not-a-recipient.eml").read_bytes())
    store = app.extensions["bouncer"].store
    assert [a["address"] for a in store.dead_addresses()] == ["chefredaktion@zeitung-example.de"]
    mailing = store.list_mailings()[0]["id"]
    assert store.add_recipients(mailing, RECIPIENTS) == len(RECIPIENTS)
    assert store.dead_addresses() == []
    assert bounce_rows(app)[0]["verification"] == "not_a_recipient"


def test_the_policy_may_count_every_bounce(config: Config, tmp_path: Path, make_app: MakeApp) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[dead_address]\ncount = "all"\n', encoding="utf-8")
    app = make_app(on=Config(**{**vars(config), "policy_path": str(policy)}).validated())
    post(app, (FORGED / "three-dsn-lines.eml").read_bytes())
    assert bounce_rows(app)[0]["verification"] == "no_mailing"
    assert [a["address"] for a in app.extensions["bouncer"].store.dead_addresses()] == [
        "chefredaktion@zeitung-example.de"]


def test_an_unknown_count_setting_stops_the_start(config: Config, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[dead_address]\ncount = "some"\n', encoding="utf-8")
    with pytest.raises(Exception, match=r"\[dead_address\] count must be one of verified, all"):
        create_app(Config(**{**vars(config), "policy_path": str(policy)}).validated())


def test_bounces_from_before_the_upgrade_are_checked_when_the_store_opens(config: Config) -> None:
    """A dead list an earlier version built from a forged bounce is put right by the upgrade: m011 leaves
    the old rows unchecked (verification NULL), and opening the store checks them."""
    with Store(config.db_path, count_unverified=True) as old:
        old.record_event("webhook", Verdict(category="bounce", confidence=0.95, bounce_type="hard",
                                            reason="user_unknown", recipients=("victim@example.org",)),
                         _meta(1))
        old._db.execute("UPDATE bounces SET verification = NULL")  # as m011 finds the rows of before
        old._db.execute("UPDATE verdicts SET bounce_check = NULL")
        assert [a["address"] for a in old.dead_addresses()] == ["victim@example.org"]
    with Store(config.db_path) as new:
        assert new.dead_addresses() == []
        assert new._rows("SELECT verification FROM bounces") == [{"verification": "no_mailing"}]
        assert new.address_history("victim@example.org")["row"]["unverified_count"] == 1


def _meta(article: int) -> MailMeta:
    return MailMeta(ticket_id=article, article_id=article)


def page_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_a_press_user_registers_a_mailing_known_only_from_replies_under_the_message_id_of_the_sent_mail(
        make_app: MakeApp) -> None:
    app = make_app()
    post(app, (FORGED / "real-bounce-of-our-recipient.eml").read_bytes())
    store = app.extensions["bouncer"].store
    (mailing,) = store.list_mailings()
    assert (mailing["origin"], mailing["unverified"]) == ("auto", 1)
    client = https_client(app)
    log_in(client, PRESS)
    page = client.get(f"/mailings/{mailing['id']}").text
    assert "Das ist unsere Aussendung: eintragen" in page and "Gesendet-Ordner" in page
    form = f"/mailings/{mailing['id']}/message-id"
    assert client.post(form, data={"message_id": MAILING[1]}).status_code == 400  # no CSRF token
    token = page_token(page)
    empty = client.post(form, data={"csrf_token": token, "message_id": ""}, follow_redirects=True)
    assert "Bitte kopieren Sie die Message-ID" in empty.text and store.list_mailings()[0]["origin"] == "auto"

    typo = client.post(form, data={"csrf_token": token, "message_id": "<pm-112-2026.4712@presse.gruene-example.de>"},
                       follow_redirects=True)
    assert "Vertippt?" in typo.text and [m["origin"] for m in store.list_mailings()] == ["auto"]

    answer = client.post(form, data={"csrf_token": token, "message_id": MAILING[1]})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/mailings/{mailing['id']}")
    (after,) = store.list_mailings()
    assert (after["id"], after["origin"], after["hard"], after["unverified"]) == (mailing["id"], "manual", 1, 0)
    assert [a["address"] for a in store.dead_addresses()] == ["redaktion007@zeitung-example.de"]


def test_a_message_id_no_reply_names_is_taken_only_when_the_user_says_so_and_stays_on_this_mailing(
        make_app: MakeApp) -> None:
    app = make_app()
    post(app, (FORGED / "invented-original.eml").read_bytes())  # an 'auto' mailing "Einladung zum Landesparteitag"
    store = app.extensions["bouncer"].store
    (mailing,) = store.list_mailings()
    client = https_client(app)
    log_in(client, PRESS)
    token = page_token(client.get(f"/mailings/{mailing['id']}").text)
    answer = client.post(f"/mailings/{mailing['id']}/message-id",
                         data={"csrf_token": token, "message_id": "<lpt-2026@gruene-example.de>", "anyway": "y"})
    assert answer.status_code == 302
    assert [(m["id"], m["origin"], m["message_id"]) for m in store.list_mailings()] == [
        (mailing["id"], "manual", "<lpt-2026@gruene-example.de>")]
    assert [r["verification"] for r in bounce_rows(app)] == ["subject_only"]  # it named the invented id


def test_a_mailing_registered_without_its_message_id_and_recipients_is_completed_on_its_page(make_app: MakeApp) -> None:
    app = make_app()
    store = app.extensions["bouncer"].store
    mailing = store.register_mailing(MAILING[0], SENT, None)
    post(app, (FORGED / "real-bounce-of-our-recipient.eml").read_bytes())
    post(app, (FORGED / "names-our-message-id-not-a-recipient.eml").read_bytes())
    client = https_client(app)
    log_in(client, PRESS)
    page = client.get(f"/mailings/{mailing}").text
    assert "Message-ID nachtragen" in page
    client.post(f"/mailings/{mailing}/message-id", data={"csrf_token": page_token(page), "message_id": MAILING[1]})
    assert [m["id"] for m in store.list_mailings()] == [mailing]
    assert {a["address"] for a in store.dead_addresses()} == {"redaktion007@zeitung-example.de",
                                                             "chefredaktion@zeitung-example.de"}
    page = client.get(f"/mailings/{mailing}").text
    assert "Message-ID nachtragen" not in page and "Empfänger angeben" in page
    added = client.post(f"/mailings/{mailing}/recipients", follow_redirects=True, data={
        "csrf_token": page_token(page), "recipients": "redaktion007@zeitung-example.de\ndesk@funk-example.de"})
    assert "2 Empfänger ergänzt." in added.text
    assert "Für 1 Adresse dieser Aussendung kamen Unzustellbarkeitsmeldungen, sie steht aber nicht in der Liste" in added.text
    assert [a["address"] for a in store.dead_addresses()] == ["redaktion007@zeitung-example.de"]
    wrong = client.post(f"/mailings/{mailing}/recipients", follow_redirects=True,
                        data={"csrf_token": page_token(page), "recipients": "anna.example.org"})
    assert "Keine E-Mail-Adresse: anna.example.org. Es wurde nichts eingetragen." in wrong.text
    assert store.recipients_known(mailing) == 2


def test_registering_a_message_id_another_registered_mailing_has_names_that_mailing(make_app: MakeApp) -> None:
    app = make_app()
    store = app.extensions["bouncer"].store
    store.register_mailing(MAILING[0], SENT, MAILING[1])
    client = https_client(app)
    log_in(client, PRESS)
    page = client.get("/mailings").text
    answer = client.post("/mailings", data={"csrf_token": page_token(page), "subject": "Noch einmal",
                                            "sent_at": BERLIN_SENT, "message_id": MAILING[1]})
    assert answer.status_code == 409
    assert f"gehört zur eingetragenen Aussendung „{MAILING[0]}“ (Nr. 1)" in answer.text


def invented_original_of_our_subject(to: str, invented: str) -> bytes:
    """A forged DSN that got in first: our mailing's real subject, a Message-ID the forger made up."""
    raw = (FORGED / "invented-original.eml").read_bytes().replace(b"chefredaktion@zeitung-example.de", to.encode())
    return raw.replace(b"Subject: Einladung zum Landesparteitag", f"Subject: {MAILING[0]}".encode()).replace(
        b"<invented-112@presse.gruene-example.de>", invented.encode())


def test_registering_without_a_message_id_does_not_take_over_one_a_forged_bounce_invented(make_app: MakeApp) -> None:
    app = make_app()
    post(app, invented_original_of_our_subject("redaktion007@zeitung-example.de", "<chosen@evil.example>"))
    store = app.extensions["bouncer"].store
    store.register_mailing(MAILING[0], SENT, None, recipients=RECIPIENTS)  # the form's Message-ID left empty
    (mailing,) = store.list_mailings()
    assert (mailing["origin"], mailing["message_id"]) == ("manual", None)
    assert store.dead_addresses() == []
    post(app, invented_original_of_our_subject("desk@funk-example.de", "<chosen@evil.example>"))
    assert store.dead_addresses() == [] and {r["verification"] for r in bounce_rows(app)} == {"subject_only"}

    # Registered again with the Message-ID of the sent mail: the same mailing gets it, nothing new.
    assert store.register_mailing(MAILING[0], SENT, MAILING[1]) == mailing["id"]
    post(app, (FORGED / "real-bounce-of-our-recipient.eml").read_bytes())
    assert [a["address"] for a in store.dead_addresses()] == ["redaktion007@zeitung-example.de"]


def test_genuine_bounces_a_forged_one_drew_to_its_invented_mailing_join_ours_when_we_register(make_app: MakeApp) -> None:
    """The forged bounce came first and made an 'auto' mailing with the invented id; the genuine ones
    joined it by subject. Registering the real Message-ID takes the genuine ones over; the forged one stays."""
    app = make_app()
    post(app, invented_original_of_our_subject("info@verein-example.de", "<chosen@evil.example>"))
    post(app, (FORGED / "real-bounce-of-our-recipient.eml").read_bytes())
    store = app.extensions["bouncer"].store
    assert len(store.list_mailings()) == 1  # one mailing by subject, under the forger's Message-ID
    ours = store.register_mailing(MAILING[0], SENT, MAILING[1], recipients=RECIPIENTS)
    rows = store._rows("SELECT b.address, b.verification, b.mailing_id FROM bounces b ORDER BY b.id")
    assert [(r["address"], r["verification"], r["mailing_id"] == ours) for r in rows] == [
        ("info@verein-example.de", "unregistered", False), ("redaktion007@zeitung-example.de", "recipient", True)]
    assert [a["address"] for a in store.dead_addresses()] == ["redaktion007@zeitung-example.de"]


def test_a_bounce_long_after_the_mailing_does_not_count(config: Config, make_app: MakeApp) -> None:
    """Old Message-IDs leak through forwards and archives: only bounces within 30 days of sending count."""
    with Store(config.db_path) as store:
        store.register_mailing(MAILING[0], SENT - timedelta(days=300), MAILING[1], recipients=RECIPIENTS)
    app = make_app()
    post(app, (FORGED / "real-bounce-of-our-recipient.eml").read_bytes())
    assert [r["verification"] for r in bounce_rows(app)] == ["out_of_time"]
    assert app.extensions["bouncer"].store.dead_addresses() == []


def test_an_address_that_wrote_to_us_after_its_bounce_stays_alive_when_the_mailing_is_registered_later(
        make_app: MakeApp) -> None:
    app = make_app()
    post(app, (FORGED / "real-bounce-of-our-recipient.eml").read_bytes())
    time.sleep(1.1)  # the store keeps whole seconds: the person's mail comes a second after the bounce
    person = (b"From: Redaktion <redaktion007@zeitung-example.de>\r\nTo: presse@gruene-example.de\r\n"
              b"Subject: Ihre Pressemitteilung\r\nMessage-ID: <frage-1@zeitung-example.de>\r\n"
              b"Date: Tue, 24 Nov 2026 12:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
              b"Guten Tag, wir haben eine Frage zu Ihrer Mitteilung. Wer ist Ansprechpartner?\r\n")
    post(app, person)
    store = app.extensions["bouncer"].store
    store.register_mailing(MAILING[0], SENT, MAILING[1], recipients=RECIPIENTS)
    assert [r["verification"] for r in bounce_rows(app)] == ["recipient"]
    assert store.dead_addresses() == []
    assert [a["address"] for a in store.revived_addresses()] == ["redaktion007@zeitung-example.de"]


@pytest.mark.parametrize("listed, bounced", [
    ("redaktion@münchen-zeitung.example", "redaktion@xn--mnchen-zeitung-gsb.example"),
    ("redaktion@xn--mnchen-zeitung-gsb.example", "redaktion@münchen-zeitung.example"),
], ids=["list-unicode-bounce-ascii", "list-ascii-bounce-unicode"])
def test_a_recipient_matches_whichever_way_its_domain_is_written(make_app: MakeApp, listed: str, bounced: str) -> None:
    app = make_app((listed,))
    raw = (FORGED / "real-bounce-of-our-recipient.eml").read_bytes().replace(
        b"redaktion007@zeitung-example.de", bounced.encode())
    post(app, raw)
    assert [r["verification"] for r in bounce_rows(app)] == ["recipient"]


def test_the_dead_list_of_a_mailing_and_the_last_bounce_shown_come_from_verified_bounces(app: Flask) -> None:
    """An address killed by a verified hard bounce, then named by a forged soft one for another mailing."""
    post(app, (FORGED / "real-bounce-of-our-recipient.eml").read_bytes())
    store = app.extensions["bouncer"].store
    other = store.register_mailing("Mitgliederbrief", SENT, "<mb-1@gruene-example.de>")
    forged_soft = Verdict(category="bounce", confidence=0.95, bounce_type="soft", reason="mailbox_full", status="4.2.2",
                          recipients=("redaktion007@zeitung-example.de",), original=Original(subject="Mitgliederbrief"))
    store.record_event("webhook", forged_soft, _meta(901))
    assert [a["address"] for a in store.dead_addresses(mailing_id=other)] == []
    (dead,) = store.dead_addresses()
    assert (dead["last_bounce_type"], dead["last_status"], dead["unverified_count"]) == ("hard", "5.1.1", 1)


def test_the_registration_form_takes_recipients_and_names_what_is_no_address(make_app: MakeApp) -> None:
    app = make_app()
    client = https_client(app)
    log_in(client, PRESS)
    form = client.get("/mailings").text
    data = {"csrf_token": page_token(form), "subject": MAILING[0], "sent_at": BERLIN_SENT,
            "message_id": MAILING[1], "recipients": "redaktion007@zeitung-example.de\nkein-at-zeichen"}
    refused = client.post("/mailings", data=data)
    assert refused.status_code == 400 and "Keine E-Mail-Adresse: kein-at-zeichen. Es wurde nichts" in refused.text
    data["recipients"] = "Redaktion <Redaktion007@Zeitung-Example.de>; desk@funk-example.de\n"
    assert client.post("/mailings", data=data).status_code == 302
    store = app.extensions["bouncer"].store
    (mailing,) = store.list_mailings()
    assert (store.recipients_known(mailing["id"]), mailing["recipient_count"]) == (2, 2)
    post(app, (FORGED / "real-bounce-of-our-recipient.eml").read_bytes())
    assert [a["address"] for a in store.dead_addresses()] == ["redaktion007@zeitung-example.de"]


def test_the_api_registers_recipients_and_adds_more_later(make_app: MakeApp) -> None:
    app = make_app()
    client: FlaskClient = app.test_client()
    created = client.post("/api/v1/mailings", auth=PRESS, json={
        "subject": MAILING[0], "sent_at": SENT.isoformat(), "message_id": MAILING[1],
        "recipients": ["desk@funk-example.de"]})
    assert created.status_code == 201
    mailing = created.json["id"]  # type: ignore[index]
    post(app, (FORGED / "real-bounce-of-our-recipient.eml").read_bytes())
    assert app.extensions["bouncer"].store.dead_addresses() == []  # not among the one recipient given
    for body, code in (({"recipients": "desk@funk-example.de"}, 400), ({"recipients": ["no address"]}, 400),
                       ({}, 400)):
        assert client.post(f"/api/v1/mailings/{mailing}/recipients", auth=PRESS, json=body).status_code == code
    assert client.post("/api/v1/mailings/999/recipients", auth=PRESS,
                       json={"recipients": ["a@b.example"]}).status_code == 404
    added = client.post(f"/api/v1/mailings/{mailing}/recipients", auth=PRESS,
                        json={"recipients": ["redaktion007@zeitung-example.de", "desk@funk-example.de"]})
    assert added.status_code == 200 and added.json == {"id": mailing, "added": 1, "known": 2}
    assert [a["address"] for a in app.extensions["bouncer"].store.dead_addresses()] == [
        "redaktion007@zeitung-example.de"]
    bad = client.post("/api/v1/mailings", auth=PRESS, json={"subject": "x", "sent_at": "2026-12-07T09:00:00",
                                                           "recipients": ["x"]})
    assert bad.status_code == 400 and "recipients" in bad.json["error"]  # type: ignore[index]


def test_recipients_cannot_be_added_to_a_mailing_only_replies_named(make_app: MakeApp) -> None:
    app = make_app()
    post(app, (FORGED / "invented-original.eml").read_bytes())
    (mailing,) = app.extensions["bouncer"].store.list_mailings()
    answer = app.test_client().post(f"/api/v1/mailings/{mailing['id']}/recipients", auth=ADMIN,
                                    json={"recipients": ["chefredaktion@zeitung-example.de"]})
    assert answer.status_code == 409 and "register it first" in answer.json["error"]  # type: ignore[index]


def test_a_correction_to_a_bounce_is_checked_like_any_bounce(app: Flask) -> None:
    store = app.extensions["bouncer"].store
    verdict = store.record_event("webhook", Verdict(category="auto_reply", confidence=0.9,
                                                    original=Original(message_id=MAILING[1])), _meta(900))
    assert verdict is not None
    store.correct_verdict(verdict.verdict_id, "bounce", "hard", "admin", ["redaktion007@zeitung-example.de"])
    assert store.get_verdict(verdict.verdict_id)["bounces"][0]["verification"] == "recipient"
    assert [a["address"] for a in store.dead_addresses()] == ["redaktion007@zeitung-example.de"]
    store.correct_verdict(verdict.verdict_id, "bounce", "hard", "admin", ["someone@else.example"])
    assert store.get_verdict(verdict.verdict_id)["bounces"][0]["verification"] == "not_a_recipient"
    assert store.dead_addresses() == []



@pytest.mark.parametrize("sent_at", ["0001-01-01T00:00", "9999-12-31T23:59"])
def test_the_registration_form_refuses_a_send_time_no_mailing_has(make_app: MakeApp, sent_at: str) -> None:
    """Year 1 or 9999 is a typo; a window of days around it would overflow (a 500 before)."""
    app = make_app()
    client = https_client(app)
    log_in(client, PRESS)
    answer = client.post("/mailings", data={"csrf_token": page_token(client.get("/mailings").text),
                                            "subject": MAILING[0], "sent_at": sent_at, "message_id": MAILING[1]})
    assert answer.status_code == 400 and "Bitte geben Sie ein Jahr von 1970 bis 2999 ein." in answer.text
    assert app.extensions["bouncer"].store.list_mailings() == []


@pytest.mark.parametrize("pasted, found, wrong", [
    ("a@b.example\nC@D.example", ["a@b.example", "c@d.example"], []),
    ("a@b.example; c@d.example, e@f.example g@h.example", ["a@b.example", "c@d.example", "e@f.example", "g@h.example"], []),
    ('Anna <a@b.example>, "Bert, B." <b@c.example>', ["a@b.example", "b@c.example"], []),
    ("bob@@example.org\nanna.example.org", [], ["bob@@example.org", "anna.example.org"]),
    ("Anna <nope>, b@c.example", [], ["Anna <nope>, b@c.example"]),
    ("\n ,, ;\n", [], []),
], ids=["lines", "separators", "display-names", "typos-as-written", "named-line-whole", "blank"])
def test_a_pasted_recipient_list_is_read_as_people_paste_it_and_mistakes_are_named_as_written(
        pasted: str, found: list[str], wrong: list[str]) -> None:
    assert recipient_list(pasted) == (found, wrong)
