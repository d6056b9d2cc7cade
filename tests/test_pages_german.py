"""German pages say in German what the store keeps as codes: a plan's reasons, the policy's source,
a filter's error; one German word for dry run."""
from __future__ import annotations


from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from browser.pages_seed import PRESS, PRESS_RELEASE
from test_pages import TRANSLATIONS, app, config, mailing_id, press  # noqa: F401  (fixtures)


def test_what_was_done_is_said_in_german_while_the_record_keeps_english(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    away = store.get_verdict(store.list_verdicts(category="auto_reply", limit=1)[0]["id"])
    plan = away["actions"][0]["plan"]
    assert plan["why"].startswith("policy [rules.auto_reply]") and plan["steps"][0][0] in ("rule", "conversation",
                                                                                             "low_confidence")
    page = admin.get(f"/admin/review/{away['id']}").text
    assert "policy [rules." not in page and "says" not in page
    assert any(words in page for words in ("Regel [rules.auto_reply]: ", "Im Ticket schreiben Menschen",
                                           "Sicherheit "))


def test_a_persons_mail_says_in_german_that_nothing_is_done(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    person = next(v for v in (store.get_verdict(r["id"]) for r in store.list_verdicts(category="human", limit=50))
                  if v["actions"])
    page = admin.get(f"/admin/review/{person['id']}").text
    assert "von einer Person geschrieben (oder unsicher): es wird nichts getan" in page
    assert "written by a person (or not sure)" not in page


def test_rules_page_names_the_built_in_defaults_in_german(admin: FlaskClient) -> None:
    page = admin.get("/admin/rules").text
    assert "Die Regeln stammen aus den eingebauten Voreinstellungen" in page and "built-in defaults" not in page


def test_a_filter_error_is_german_through_and_through(admin: FlaskClient) -> None:
    answer = admin.get("/admin/review?min_conf=abc")
    assert answer.status_code == 400
    assert "min_conf=abc: erwartet wird eine Zahl von 0 bis 1" in answer.text and "expected" not in answer.text


def test_dry_run_has_one_german_name() -> None:
    with (TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        words = " ".join(m.string if isinstance(m.string, str) else " ".join(m.string) for m in read_po(handle))
    assert "Probelauf" in words
    assert [w for w in ("Trockenlauf", "Probemodus", "Probedurchlauf") if w in words] == []


def test_an_address_no_route_takes_gets_the_apps_error_page_in_the_readers_language(press: FlaskClient) -> None:
    german = press.get("/mailings/abc")
    assert german.status_code == 404 and '<html lang="de">' in german.text and "Diese Seite gibt es nicht." in german.text
    english = press.get("/mailings/abc", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert english.status_code == 404 and "There is no such page." in english.text and "Tote" not in english.text
    wrong_method = press.delete("/dead")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["Allow"]
    assert '<html lang="de">' in wrong_method.text


def test_the_api_answers_an_unknown_address_or_method_in_json(press: FlaskClient) -> None:
    for answer, code in ((press.get("/api/v1/mailings/abc", auth=PRESS), 404),
                         (press.get("/api/v1/no-such-thing", auth=PRESS), 404),
                         (press.delete("/api/v1/mailings", auth=PRESS), 405)):
        assert answer.status_code == code and answer.is_json and answer.json["error"]  # type: ignore[index]


def test_mail_counts_and_address_counts_say_which_they_are(press: FlaskClient, app: Flask) -> None:
    mailings = press.get("/mailings").text
    assert "Unzu\u00adstellbar hart (Mails)" in mailings and "Unzu\u00adstellbar vorüber\u00adgehend (Mails)" in mailings
    reasons = press.get(f"/mailings/{mailing_id(app, PRESS_RELEASE[0])}").text.split("</h2>", 2)
    assert any('class="num">Adressen</th>' in part for part in reasons)
