"""Round two of the pages through Flask's test client: the admin's status panel and user management,
filters that cannot be read (400 with the reason, never the unfiltered list), the API's Berlin time."""
from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from bouncer.web.auth import read_users, users_path
from browser.pages_seed import ADMIN, PRESS, PRESS_RELEASE, csrf_token, https_client, log_in
from test_pages import app, config, mailing_id, post_form, press  # noqa: F401  (fixtures)


def test_status_panel_shows_mode_webhook_password_last_event_and_outbox(admin: FlaskClient) -> None:
    page = admin.get("/admin/status")
    assert page.status_code == 200
    text = page.text
    assert "Betriebsart" in text and "Probelauf" in text  # the test app runs in dry-run
    assert "Webhook-Passwort" in text and "gesetzt" in text and "nicht gesetzt" not in text
    assert "Letztes Ereignis" in text and "Warteschlange an OTRS" in text and "Ältester fälliger Auftrag" in text


def test_press_officer_may_not_open_status_or_users(press: FlaskClient) -> None:
    assert press.get("/admin/status").status_code == 403
    assert press.get("/admin/users").status_code == 403
    assert press.post("/admin/users/admin/delete").status_code in (400, 403)


def test_admin_adds_a_press_user_who_can_log_in_then_removes_them(admin: FlaskClient, app: Flask) -> None:
    answer = post_form(admin, "/admin/users", "/admin/users",
                       {"name": "redaktion", "role": "press", "password": "Neues-Passwort-2026"})
    assert answer.status_code == 302
    assert "Benutzer redaktion angelegt." in admin.get("/admin/users").text
    assert read_users(users_path(app.config["BOUNCER"]))["redaktion"].role == "press"
    newcomer = https_client(app)
    assert log_in(newcomer, ("redaktion", "Neues-Passwort-2026")).endswith("/mailings")
    assert newcomer.get("/mailings").status_code == 200

    post_form(admin, "/admin/users", "/admin/users/redaktion/delete")
    assert "redaktion" not in read_users(users_path(app.config["BOUNCER"]))
    assert newcomer.get("/mailings").status_code == 302  # the session ended with the user


def test_user_form_refuses_short_passwords_bad_names_and_the_admin_demoting_or_removing_themselves(
        admin: FlaskClient, app: Flask) -> None:
    short = post_form(admin, "/admin/users", "/admin/users", {"name": "x", "role": "press", "password": "kurz"})
    assert short.status_code == 400 and "Mindestens 10 Zeichen." in short.text
    bad = post_form(admin, "/admin/users", "/admin/users",
                    {"name": "<b>evil</b>", "role": "press", "password": "Langes-Passwort-1"})
    assert bad.status_code == 400 and "<b>evil</b>" not in bad.text
    demote = post_form(admin, "/admin/users", "/admin/users",
                       {"name": ADMIN[0], "role": "press", "password": "Langes-Passwort-1"})
    assert demote.status_code == 400
    post_form(admin, "/admin/users", f"/admin/users/{ADMIN[0]}/delete")
    users = read_users(users_path(app.config["BOUNCER"]))
    assert users[ADMIN[0]].role == "admin" and PRESS[0] in users


def test_user_forms_need_the_csrf_token(admin: FlaskClient) -> None:
    answer = admin.post("/admin/users", data={"name": "x", "role": "admin", "password": "Langes-Passwort-1"})
    assert answer.status_code == 400
    assert admin.post(f"/admin/users/{PRESS[0]}/delete").status_code == 400


def test_unreadable_filters_answer_400_with_the_reason_never_the_unfiltered_list(
        press: FlaskClient, admin: FlaskClient) -> None:
    page = press.get("/dead?since=30.11.2026")
    assert page.status_code == 400 and "since=30.11.2026" in page.text and "JJJJ-MM-TT" in page.text
    assert "redaktion@tageblatt-example.de" not in page.text
    assert press.get("/dead?mailing=abc").status_code == 400
    assert press.get("/dead.csv?until=morgen").status_code == 400
    assert admin.get("/admin/review?category=spam").status_code == 400
    assert admin.get("/admin/review?min_conf=2").status_code == 400
    api = press.get("/api/v1/dead?since=30.11.2026")
    assert api.status_code == 400 and api.json == {
        "error": "since=30.11.2026: expected a date as YYYY-MM-DD, e.g. 2026-12-07"}
    assert press.get("/api/v1/alive-again?mailing=abc").json["error"].startswith("mailing=abc: expected")
    assert press.get("/dead?since=&mailing=").status_code == 200  # empty fields are no filter


def test_api_reads_times_without_a_zone_as_berlin_time(press: FlaskClient) -> None:
    token = csrf_token(press.get("/mailings").text)
    answer = press.post("/api/v1/mailings", json={"subject": "PM 120/2026: Winterfest", "sent_at": "2026-12-07T09:00"},
                        headers={"X-CSRFToken": token})
    assert answer.status_code == 201, answer.json
    assert answer.json["mailing"]["sent_at"] == "2026-12-07T08:00:00Z"


def test_dead_addresses_are_picked_by_mailing_subject(press: FlaskClient, app: Flask) -> None:
    page = press.get("/dead").text
    release = mailing_id(app, PRESS_RELEASE[0])
    assert f'<option value="{release}">{PRESS_RELEASE[1][:67]}' in page
    assert f'<option value="{release}" selected>' in press.get(f"/dead?mailing={release}").text


def test_registering_a_mailing_comes_first_on_the_mailings_page(press: FlaskClient) -> None:
    page = press.get("/mailings").text
    assert page.index("Aussendung eintragen") < page.index("<table")


def test_registering_a_message_id_again_is_409_in_the_api_and_a_message_in_the_form(press: FlaskClient,
                                                                                    app: Flask) -> None:
    token = csrf_token(press.get("/mailings").text)
    body = {"subject": "PM: anders", "sent_at": "2026-11-24T10:00", "message_id": PRESS_RELEASE[0]}
    answer = press.post("/api/v1/mailings", json=body, headers={"X-CSRFToken": token})
    assert answer.status_code == 409 and answer.headers["Location"].endswith(f"/mailings/{mailing_id(app, PRESS_RELEASE[0])}")
    form = post_form(press, "/mailings", "/mailings", {"subject": "PM: anders", "sent_at": "2026-11-24T10:00",
                                                         "message_id": PRESS_RELEASE[0]})
    assert form.status_code == 409 and f"gehört zur eingetragenen Aussendung „{PRESS_RELEASE[1]}“" in form.text
    store = app.extensions["bouncer"].store
    assert store.get_mailing(mailing_id(app, PRESS_RELEASE[0]))["subject"] == PRESS_RELEASE[1]


def test_a_registered_mailing_without_replies_says_so(press: FlaskClient) -> None:
    answer = post_form(press, "/mailings", "/mailings", {"subject": "PM 130/2026: Noch nicht versandt",
                                                           "sent_at": "2026-12-10T10:00"})
    assert answer.status_code == 302
    assert "Noch keine Antworten auf diese Aussendung" in press.get(answer.headers["Location"]).text


def test_alive_again_honours_the_date_filter(press: FlaskClient) -> None:
    assert "redaktion@tageblatt-example.de" in press.get("/dead").text.split("Wieder erreichbar")[1]
    later = press.get("/dead?since=2030-01-01").text.split("Wieder erreichbar")[1]
    assert "redaktion@tageblatt-example.de" not in later
    assert press.get("/api/v1/alive-again?since=2030-01-01").json["addresses"] == []
    assert press.get("/api/v1/alive-again?since=2026-11-01").json["addresses"] != []


# --- what each user needs next ----------------------------------------------------------------------

def test_review_queue_hides_a_persons_quiet_mail_unless_asked(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    quiet = [v for v in store.list_verdicts(category="human", limit=500) if v["review"] == "pending"]
    assert quiet
    page = admin.get("/admin/review").text
    assert f'id="v{quiet[0]["id"]}"' not in page and "sind ausgeblendet" in page
    assert f'id="v{quiet[0]["id"]}"' in admin.get("/admin/review?show_quiet=1").text
    assert f'id="v{quiet[0]["id"]}"' in admin.get("/admin/review?category=human").text


def test_review_queue_searches_sender_subject_and_ticket(admin: FlaskClient, app: Flask) -> None:
    by_sender = admin.get("/admin/review?q=carol@example.net&show_quiet=1").text
    assert "carol@example.net" in by_sender and "redaktion@tageblatt-example.de" not in by_sender
    by_subject = admin.get("/admin/review?q=Klimaschutzplan").text  # the auto-replies' and receipts' subjects
    assert by_subject.count('class="verdict ') >= 8 and "carol@example.net" not in by_subject
    ticket = app.extensions["bouncer"].store.list_verdicts(category="bounce", limit=1)[0]["ticket_id"]
    assert f"Ticket {ticket}" in admin.get(f"/admin/review?q={ticket}").text


def test_bulk_confirm_takes_high_confidence_machine_mail_and_never_a_persons(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    pending_sure = store.count_verdicts(review="pending", min_conf=0.9, machine_only=True)
    page = admin.get("/admin/review").text
    assert "Alle ungeprüften Entscheidungen ab 90,0 % bestätigen" in page
    answer = post_form(admin, "/admin/review", "/admin/review/confirm-many")
    assert answer.status_code == 302
    assert store.count_verdicts(review="pending", min_conf=0.9, machine_only=True) == 0
    assert store.count_verdicts(review="confirmed", category="human") == 0
    assert f"{pending_sure} Entscheidungen bestätigt." in admin.get(answer.headers["Location"]).text


def test_admin_corrects_an_out_of_office_to_a_bounce_and_the_numbers_follow(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    release = mailing_id(app, PRESS_RELEASE[0])
    away = store.list_verdicts(category="auto_reply", mailing_id=release, limit=1)[0]
    before = store.mailing_stats(release)["counts"]
    page = f"/admin/review/{away['id']}"
    answer = post_form(admin, page, f"{page}/correct", {"kind": "hard", "addresses": away["from_addr"]})
    assert answer.status_code == 302 and "berichtigt" in admin.get(page).text
    after = store.mailing_stats(release)["counts"]
    assert (after["hard"], after["auto_reply"]) == (before["hard"] + 1, before["auto_reply"] - 1)
    assert away["from_addr"] in admin.get(f"/dead?mailing={release}").text
    assert "Zuerst eingeschätzt als: Abwesenheitsnotiz." in admin.get(page).text


def test_a_persons_mail_has_no_false_positive_button_and_the_post_is_refused(admin: FlaskClient, app: Flask) -> None:
    person = app.extensions["bouncer"].store.list_verdicts(category="human", limit=1)[0]
    page = f"/admin/review/{person['id']}"
    assert 'id="false-positive"' not in admin.get(page).text
    answer = post_form(admin, page, f"{page}/false-positive", {"allow": "none"})
    assert answer.status_code == 302
    assert app.extensions["bouncer"].store.get_verdict(person["id"])["review"] == "pending"


def test_press_officer_searches_an_address_and_sees_its_history(press: FlaskClient) -> None:
    page = press.get("/addresses?q=Redaktion@Tageblatt-Example.de").text
    assert "wieder erreichbar" in page and "Unzustellbar (hart)" in page and "Persönliche Mail" in page
    assert PRESS_RELEASE[1] in page
    partial = press.get("/addresses?q=tageblatt").text
    assert 'href="/addresses?q=redaktion@tageblatt-example.de"' in partial
    assert "Wir kennen keine Adresse" in press.get("/addresses?q=niemand-hier").text


def test_mailing_page_lists_who_wrote_who_is_away_until_when_and_who_read_it(press: FlaskClient, app: Flask) -> None:
    page = press.get(f"/mailings/{mailing_id(app, PRESS_RELEASE[0])}").text
    people = page.split('<section id="people">')[1].split("</section>")[0]
    wrote, away, read = (people.split("<h3>")[i] for i in (1, 2, 3))
    assert "p.lang@zeitung-example.de" in wrote and "Ticket " in wrote
    assert "a.becker@zeitung-example.de" in away and "02.12.2026" in away
    assert "t.richter@blatt-example.de" in read
