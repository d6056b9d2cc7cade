"""An admin's corrections and their undo on the review pages, the allowlist form's answers (German pages)."""
from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from browser.pages_seed import PRESS_RELEASE
from test_pages import app, config, mailing_id, post_form  # noqa: F401  (fixtures)


def _bounce_with_recipients(app: Flask) -> dict:  # type: ignore[type-arg]
    """A bounce of the registered press release (so its bounces count toward dead addresses)."""
    store = app.extensions["bouncer"].store
    return next(v for v in store.list_verdicts(category="bounce", limit=100, mailing_id=release(app))
                if v["recipients"])


def _release_out_of_office(app: Flask) -> dict:  # type: ignore[type-arg]
    """An out-of-office naming the registered press release by its Message-ID."""
    return next(v for v in app.extensions["bouncer"].store.list_verdicts(category="auto_reply", limit=100,
                                                                          mailing_id=release(app))
                if v["in_reply_to"] == PRESS_RELEASE[0])


def release(app: Flask) -> int:
    return mailing_id(app, PRESS_RELEASE[0])


def test_a_correction_refuses_what_is_no_address_and_keeps_the_verdict(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    away = _release_out_of_office(app)
    page = f"/admin/review/{away['id']}"
    answer = post_form(admin, page, f"{page}/correct", {"kind": "hard", "addresses": "ok@partei.example, x@@bad"})
    assert answer.status_code == 400
    assert "Keine E-Mail-Adresse: x@@bad" in answer.text
    after = store.get_verdict(away["id"])
    assert (after["category"], after["review"], after["bounces"]) == ("auto_reply", "pending", [])


def test_a_correction_replaces_the_recipients_and_takes_an_internationalised_domain(
        admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    bounce = _bounce_with_recipients(app)
    page = f"/admin/review/{bounce['id']}"
    typed = "redaktion@bürgerzeitung.example; Chef@München.de"
    assert post_form(admin, page, f"{page}/correct", {"kind": "hard", "addresses": typed}).status_code == 302
    after = store.get_verdict(bounce["id"])
    assert after["recipients"] == ["redaktion@bürgerzeitung.example", "chef@münchen.de"]
    assert sorted(b["address"] for b in after["bounces"]) == ["chef@münchen.de", "redaktion@bürgerzeitung.example"]
    dead = admin.get("/dead.csv").text
    assert "chef@münchen.de" in dead
    assert not any(a in dead for a in bounce["recipients"] if a not in typed.lower())


def test_undoing_a_correction_restores_the_verdict_and_the_dead_addresses(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    away = _release_out_of_office(app)
    page = f"/admin/review/{away['id']}"
    post_form(admin, page, f"{page}/correct", {"kind": "hard", "addresses": "gone@ortsverband.example"})
    assert "gone@ortsverband.example" in admin.get("/dead").text
    corrected = admin.get(page).text
    assert "berichtigt, vorher: Abwesenheitsnotiz" in corrected and "corrected from" not in corrected
    answer = post_form(admin, page, f"{page}/undo")
    assert f"Berichtigung von #{away['id']} zurückgenommen: wieder Abwesenheitsnotiz." in admin.get(
        answer.headers["Location"]).text
    after = store.get_verdict(away["id"])
    assert (after["category"], after["bounce_type"], after["recipients"], after["review"], after["bounces"]) == (
        "auto_reply", None, away["recipients"], "pending", [])
    assert "gone@ortsverband.example" not in admin.get("/dead").text
    assert "gone@ortsverband.example" not in admin.get("/dead.csv").text
    undone = admin.get(page).text
    assert "Prüfung zurückgenommen von admin" in undone and "ungeprüft von" not in undone
    assert "Berichtigung zu „Unzustellbar (hart)“ zurückgenommen" in undone


def test_undoing_a_confirm_says_so_in_german(admin: FlaskClient, app: Flask) -> None:
    bounce = _bounce_with_recipients(app)
    page = f"/admin/review/{bounce['id']}"
    post_form(admin, page, f"{page}/confirm")
    post_form(admin, page, f"{page}/undo")
    text = admin.get(page).text
    assert "zurückgenommen (war: bestätigt)" in text and "undid" not in text


def test_a_false_positives_allow_rule_names_its_decision_in_german(admin: FlaskClient, app: Flask) -> None:
    away = _release_out_of_office(app)
    page = f"/admin/review/{away['id']}"
    post_form(admin, page, f"{page}/false-positive", {"allow": "sender", "note": "Kollegin"})
    rules = admin.get("/admin/rules").text
    assert f"Fehlalarm #{away['id']}</a>: Kollegin" in rules and "false positive #" not in rules


def test_allowlist_takes_an_internationalised_domain(admin: FlaskClient, app: Flask) -> None:
    answer = post_form(admin, "/admin/rules", "/admin/rules", {"kind": "domain", "value": "münchen.de"})
    assert answer.status_code == 302
    assert "Regel angelegt" in admin.get("/admin/rules").text
    assert app.extensions["bouncer"].store.is_allowed("presse@xn--mnchen-3ya.de") == "domain münchen.de"


def test_allowlist_refuses_a_domain_given_as_a_sender_with_a_reason(admin: FlaskClient) -> None:
    answer = post_form(admin, "/admin/rules", "/admin/rules", {"kind": "sender", "value": "@zeitung-west.example"})
    assert answer.status_code == 400
    assert "@zeitung-west.example ist eine Domain, kein Absender" in answer.text


def test_allowlist_says_when_a_rule_already_exists(admin: FlaskClient) -> None:
    post_form(admin, "/admin/rules", "/admin/rules", {"kind": "domain", "value": "zeitung-west.example"})
    answer = post_form(admin, "/admin/rules", "/admin/rules", {"kind": "domain", "value": "Zeitung-West.Example"})
    text = admin.get(answer.headers["Location"]).text
    assert "Diese Regel gibt es schon" in text and "Regel angelegt" not in text


def test_a_false_positives_rule_that_exists_already_is_not_said_to_be_added(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    away = _release_out_of_office(app)
    store.add_allow("sender", away["from_addr"], by="admin")
    page = f"/admin/review/{away['id']}"
    answer = post_form(admin, page, f"{page}/false-positive", {"allow": "sender"})
    text = admin.get(answer.headers["Location"]).text
    assert "Diese Regel gibt es schon" in text and "Regel angelegt" not in text
