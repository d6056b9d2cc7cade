"""The pages through Flask's test client, on a real SQLite file filled the real way (Service, webhook).

Logins, roles, CSRF, headers and cookies, languages, exports, the review actions in dry-run
mode and the user management. The browser tests (tests/browser) click through the same
pages in Chromium against the fake Znuny.
"""
from __future__ import annotations

import ast

import csv
import io
import logging
import re
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from bouncer.config import Config
from bouncer.store import MailMeta, Store
from bouncer.verdict import Original, Verdict
from bouncer.web.auth import read_users
from bouncer.web.loginstate import PAIR_LIMIT, WINDOW, LoginState

from browser.pages_seed import (ADMIN, PRESS, PRESS_RELEASE, PRESS_RELEASE_RECIPIENTS, WEBHOOK, XSS_BODY, XSS_SUBJECT,
                                csrf_token, https_client, log_in, page_config, seed_mailings, wire_captures)

TRANSLATIONS = Path(__file__).resolve().parents[1] / "bouncer" / "translations"
PAGES = ["/mailings", "/mailings/1", "/mailings/1/timeline.svg", "/mailings/1/failed.csv", "/dead", "/dead.csv",
         "/admin/review", "/admin/review/1", "/admin/rules"]
ADMIN_PAGES = ["/admin/review", "/admin/review/1", "/admin/rules"]


@pytest.fixture
def config(tmp_path: Path, wire_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """Dry-run, no OTRS; the two seeded mailings plus every captured invoker request."""
    for name in ("BOUNCER_COOKIE_SECURE", "BOUNCER_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    config = page_config(tmp_path)
    seed_mailings(config, wire_dir)
    return config


@pytest.fixture
def app(config: Config, wire_dir: Path) -> Iterator[Flask]:
    app = create_app(config)
    client = app.test_client()
    for path, body in wire_captures(wire_dir):
        assert client.post(path, data=body, auth=WEBHOOK, content_type="application/json").status_code == 200
    yield app
    app.extensions["bouncer"].store.close()


@pytest.fixture
def press(app: Flask) -> FlaskClient:
    client = https_client(app)
    log_in(client, PRESS)
    return client


def post_form(client: FlaskClient, page: str, action: str, data: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Submit a form the way a browser does: with the CSRF token of the page it is on."""
    token = csrf_token(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **(data or {})})


def mailing_id(app: Flask, message_id: str) -> int:
    store = app.extensions["bouncer"].store
    return next(m["id"] for m in store.list_mailings(limit=100) if m["message_id"] == message_id)


# --- logins and roles ----------------------------------------------------------------------

@pytest.mark.parametrize("path", PAGES)
def test_every_page_asks_for_a_login_first(app: Flask, path: str) -> None:
    answer = https_client(app).get(path)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")


def test_login_returns_to_the_page_asked_for(app: Flask) -> None:
    client = https_client(app)
    first = client.get("/dead?since=2026-11-01")
    assert log_in(client, PRESS, first.headers["Location"].split("next=", 1)[1]) == "/dead?since=2026-11-01"
    assert client.get("/dead?since=2026-11-01").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "mailings"])
def test_login_never_redirects_to_another_site(app: Flask, target: str) -> None:
    assert log_in(https_client(app), PRESS, target) == "/mailings"


@pytest.mark.parametrize("user", [(ADMIN[0], "wrong-password"), ("nobody", ADMIN[1]), (WEBHOOK[0], WEBHOOK[1])],
                         ids=["wrong-password", "unknown-user", "webhook-credentials"])
def test_login_with_wrong_credentials_is_refused(app: Flask, user: tuple[str, str]) -> None:
    client = https_client(app)
    answer = client.post("/login", data={"csrf_token": csrf_token(client.get("/login").text),
                                         "username": user[0], "password": user[1]})
    assert answer.status_code == 401 and "Benutzername oder Passwort ist falsch." in answer.text
    assert client.get("/mailings").status_code == 302


def test_too_many_failed_logins_are_throttled_even_for_the_right_password(app: Flask) -> None:
    client = https_client(app)
    for _ in range(10):
        client.post("/login", data={"csrf_token": csrf_token(client.get("/login").text),
                                    "username": ADMIN[0], "password": "guess"})
    answer = client.post("/login", data={"csrf_token": csrf_token(client.get("/login").text),
                                         "username": ADMIN[0], "password": ADMIN[1]})
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    assert "Zu viele fehlgeschlagene Anmeldungen" in answer.text
    assert client.get("/mailings").status_code == 302


def test_api_basic_auth_is_throttled_after_too_many_failures(app: Flask) -> None:
    client = https_client(app)
    for _ in range(10):
        assert client.get("/api/v1/mailings", auth=(PRESS[0], "guess")).status_code == 401
    answer = client.get("/api/v1/mailings", auth=PRESS)
    assert answer.status_code == 429 and answer.headers["Retry-After"]


def test_webhook_basic_credentials_open_no_page(app: Flask) -> None:
    client = https_client(app)
    assert client.get("/mailings", auth=WEBHOOK).status_code == 302
    assert client.get("/admin/review", auth=WEBHOOK).status_code == 302


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_press_officer_may_not_open_admin_pages(press: FlaskClient, path: str) -> None:
    answer = press.get(path)
    assert answer.status_code == 403 and "Ihre Rolle darf diese Seite nicht öffnen." in answer.text


@pytest.mark.parametrize("path", PAGES)
def test_admin_sees_everything_press_sees(admin: FlaskClient, path: str) -> None:
    assert admin.get(path).status_code == 200


def test_logout_ends_the_session(admin: FlaskClient) -> None:
    answer = post_form(admin, "/mailings", "/logout")
    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert admin.get("/mailings").status_code == 302


def test_a_changed_password_ends_open_sessions(app: Flask, admin: FlaskClient, config: Config) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "add", ADMIN[0], "--role", "admin"], input="Ganz-neues-Passwort\n" * 2)
    assert result.exit_code == 0, result.output
    assert admin.get("/mailings").status_code == 302


def test_a_removed_user_is_logged_out(app: Flask, press: FlaskClient) -> None:
    result = app.test_cli_runner().invoke(args=["user", "remove", PRESS[0]])
    assert result.exit_code == 0, result.output
    assert press.get("/mailings").status_code == 302


def test_user_add_command_writes_a_password_hash_and_the_user_can_log_in(app: Flask, config: Config) -> None:
    result = app.test_cli_runner().invoke(args=["user", "add", "lena", "--role", "press"],
                                          input="Lenas-Passwort-7\nLenas-Passwort-7\n")
    assert result.exit_code == 0 and "added lena (press)" in result.output
    text = Path(config.users_file or "").read_text(encoding="utf-8")
    assert "Lenas-Passwort-7" not in text
    entry = tomllib.loads(text)["users"]["lena"]
    assert entry["role"] == "press" and entry["password_hash"].startswith(("scrypt:", "pbkdf2:"))
    assert log_in(https_client(app), ("lena", "Lenas-Passwort-7")) == "/mailings"


@pytest.mark.parametrize("args, message", [
    (["user", "add", "x", "--role", "root"], "Invalid value for '--role'"),
    (["user", "add", "bad name", "--role", "press"], "letters, digits"),
])
def test_user_add_command_refuses_bad_role_and_name(app: Flask, args: list[str], message: str) -> None:
    result = app.test_cli_runner().invoke(args=args, input="Langes-Passwort-1\n" * 2)
    assert result.exit_code != 0 and message in result.output


def test_user_add_command_refuses_a_short_password(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["user", "add", "kurt", "--role", "press"], input="kurz\nkurz\n")
    assert result.exit_code != 0 and "at least 10 characters" in result.output


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_first_start_creates_the_users_file_with_an_admin_and_logs_the_password_once(tmp_path: Path) -> None:
    config = Config(db_path=str(tmp_path / "data" / "bouncer.sqlite"), log_json=False)
    logger, collect = logging.getLogger("bouncer.auth"), Collect()
    logger.addHandler(collect)
    try:
        first = create_app(config)
        second = create_app(config)
    finally:
        logger.removeHandler(collect)
    users_file = tmp_path / "data" / "users.toml"
    banner = [m for m in collect.messages if "FIRST START" in m]
    assert len(banner) == 1
    password = re.search(r"password: (\S+)", banner[0]).group(1)  # type: ignore[union-attr]
    assert users_file.stat().st_mode & 0o777 == 0o600
    assert [u.role for u in read_users(users_file).values()] == ["admin"]
    assert log_in(https_client(second), ("admin", password)) == "/mailings"
    for app in (first, second):
        app.extensions["bouncer"].store.close()


def test_all_workers_of_one_installation_accept_the_same_login(config: Config) -> None:
    """Each gunicorn worker builds its own app: without BOUNCER_SECRET_KEY they share data/secret_key."""
    one, two = create_app(config), create_app(config)
    client = https_client(one)
    log_in(client, PRESS)
    client.application = two  # the next request lands on the other worker
    assert client.get("/mailings").status_code == 200
    for app in (one, two):
        app.extensions["bouncer"].store.close()


# --- CSRF, headers, cookies ------------------------------------------------------------------

@pytest.mark.parametrize("action", ["/login", "/logout", "/mailings", "/admin/review/1/confirm",
                                    "/admin/review/1/false-positive", "/admin/review/1/undo", "/admin/rules",
                                    "/admin/rules/allow/1/delete"])
def test_every_form_post_without_the_csrf_token_is_refused(admin: FlaskClient, action: str) -> None:
    answer = admin.post(action, data={"username": ADMIN[0], "password": ADMIN[1], "subject": "x",
                                      "kind": "domain", "value": "example.org"})
    assert answer.status_code == 400 and "Formular war zu alt" in answer.text
    assert admin.get("/admin/review/1").status_code == 200  # still logged in, nothing changed
    assert "ungeprüft" in admin.get("/admin/review/1").text


def test_a_form_posted_from_another_site_is_refused(admin: FlaskClient) -> None:
    token = csrf_token(admin.get("/admin/review/1").text)
    admin.environ_base["HTTP_REFERER"] = "https://evil.example/page"
    answer = admin.post("/admin/review/1/confirm", data={"csrf_token": token})
    assert answer.status_code == 400


@pytest.mark.parametrize("path", ["/login", "/mailings", "/admin/review", "/dead.csv"])
def test_pages_forbid_scripts_framing_sniffing_and_caching(admin: FlaskClient, path: str) -> None:
    headers = admin.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp and "'unsafe-inline'" not in csp
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"


def test_the_stylesheet_may_be_cached_and_needs_no_login(app: Flask) -> None:
    with https_client(app).get("/assets/style.css") as answer:  # a file response: closed, not left to the GC
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-cache" and answer.headers["ETag"]


def test_session_cookie_is_httponly_samesite_lax_and_secure_by_default(app: Flask) -> None:
    client = https_client(app)
    page = client.get("/login")
    answer = client.post("/login", data={"csrf_token": csrf_token(page.text), "username": PRESS[0],
                                         "password": PRESS[1]})
    cookie = next(v for k, v in answer.headers.items() if k == "Set-Cookie" and v.startswith("bouncer_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_cookie_secure_can_be_switched_off_for_plain_http(config: Config) -> None:
    app = create_app(config.with_(cookie_secure=False))
    client = app.test_client()
    page = client.get("/login")
    answer = client.post("/login", data={"csrf_token": csrf_token(page.text), "username": PRESS[0],
                                         "password": PRESS[1]})
    assert answer.status_code == 302 and "Secure" not in answer.headers["Set-Cookie"]
    app.extensions["bouncer"].store.close()


def test_the_webhook_needs_no_csrf_token(app: Flask, wire_dir: Path) -> None:
    path, body = wire_captures(wire_dir)[0]
    answer = https_client(app).post(path, data=body, auth=WEBHOOK, content_type="application/json")
    assert answer.status_code == 200 and "Result" in answer.json  # type: ignore[operator]


# --- language ------------------------------------------------------------------------------

def test_pages_are_german_when_the_browser_names_no_language_we_have(press: FlaskClient) -> None:
    for language in (None, "fr-FR,fr;q=0.9", "de-AT"):
        headers = {"Accept-Language": language} if language else {}
        page = press.get("/dead", headers=headers).text
        assert '<html lang="de">' in page and "Tote Adressen" in page and "Wieder erreichbar" in page


def test_pages_are_english_when_the_browser_prefers_english(press: FlaskClient) -> None:
    page = press.get("/dead", headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"}).text
    assert '<html lang="en">' in page and "Dead addresses" in page and "Alive again" in page


def test_the_german_catalog_covers_every_ui_string_and_the_mo_file_is_compiled_from_it() -> None:
    method_map = [("**/web/**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = {m[2] if isinstance(m[2], str) else m[2][0]
             for m in extract_from_dir(str(TRANSLATIONS.parent), method_map, keywords={
                 "_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None})}
    in_code = _msgids_in_code(TRANSLATIONS.parent)
    assert in_code - found == set(), "pybabel does not see these (inside an f-string?): move the call out"
    with (TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        po = read_po(handle)
    with (TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        mo = read_mo(handle)
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m for m in po if m.id}
    assert found - set(translated) == set(), "run pybabel extract/update, then translate"
    assert [k for k, m in translated.items() if not all(_strings(m.string)) or m.fuzzy] == []
    assert {m.id if isinstance(m.id, str) else m.id[0]: _strings(m.string) for m in mo if m.id} == {
        k: _strings(m.string) for k, m in translated.items()}, "run pybabel compile -d bouncer/translations"


def _msgids_in_code(package: Path) -> set[str]:
    """Every msgid the package's Python code passes to a gettext function, found by walking the syntax
    tree (calls inside f-strings too, which pybabel's extractor misses)."""
    names = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext"}
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.add(node.args[0].value)
    return found


def test_the_catalog_check_sees_a_msgid_inside_an_f_string(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("x = f\"{_l('hidden')} {gettext('seen')}\"\n", encoding="utf-8")
    assert _msgids_in_code(tmp_path) == {"hidden", "seen"}


def _strings(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Plural messages come as a tuple from the .po and as a list from the .mo."""
    return (value,) if isinstance(value, str) else tuple(value)


# --- press pages ---------------------------------------------------------------------------

def test_mailing_page_shows_counts_reasons_domains_and_bounce_rate(press: FlaskClient, app: Flask) -> None:
    page = press.get(f"/mailings/{mailing_id(app, PRESS_RELEASE[0])}").text
    counts = dict(re.findall(r'data-kind="(\w+)"><span class="n">(\d+)</span>', page))
    assert counts == {"hard": "6", "soft": "4", "unverified": "0", "auto_reply": "5", "read_receipt": "3",
                      "feedback_report": "0", "unsubscribe": "1", "human": "2", "total": "21"}
    assert "Empfänger unbekannt" in page and "Postfach voll" in page and "posteo-example.de" in page
    # By distinct failed addresses, not bounce messages: 8 addresses (10 bounces) of 412 recipients.
    assert "1,9 %" in page and f"8 unzustellbare Adressen von {PRESS_RELEASE_RECIPIENTS}" in page


def test_timeline_is_an_svg_image_without_script_with_its_own_policy(press: FlaskClient, app: Flask) -> None:
    mailing = mailing_id(app, PRESS_RELEASE[0])
    page = press.get(f"/mailings/{mailing}").text
    assert f'src="/mailings/{mailing}/timeline.svg?bucket=hour"' in page
    for query in ("", "?bucket=day", "?size=small"):
        answer = press.get(f"/mailings/{mailing}/timeline.svg{query}")
        assert answer.status_code == 200 and answer.mimetype == "image/svg+xml"
        assert b"<script" not in answer.data and b"Unzustellbar (hart)" in answer.data
        assert "script-src" not in answer.headers["Content-Security-Policy"]


def test_registering_a_mailing_by_hand_takes_local_time_and_recipient_count(press: FlaskClient, app: Flask) -> None:
    answer = post_form(press, "/mailings", "/mailings", {
        "subject": "Pressemitteilung: Haushalt 2027 – Änderungsanträge", "sent_at": "2026-12-01T10:30",
        "message_id": "<pm-2026-050@presse.example.de>", "recipient_count": "380"})
    assert answer.status_code == 302
    mailing = app.extensions["bouncer"].store.get_mailing(int(answer.headers["Location"].rsplit("/", 1)[1]))
    assert mailing["sent_at"] == "2026-12-01T09:30:00Z" and mailing["recipient_count"] == 380
    assert mailing["origin"] == "manual" and mailing["message_id"] == "<pm-2026-050@presse.example.de>"
    assert "Haushalt 2027 – Änderungsanträge" in press.get(answer.headers["Location"]).text


def test_registering_a_mailing_without_subject_shows_the_form_again(press: FlaskClient) -> None:
    answer = post_form(press, "/mailings", "/mailings", {"subject": "", "sent_at": "2026-12-01T10:30"})
    assert answer.status_code == 400 and "Bitte den Betreff eingeben." in answer.text
    assert "<details class=\"register\" open>" in answer.text


def test_dead_addresses_filter_by_mailing_and_date(press: FlaskClient, app: Flask) -> None:
    mailing = mailing_id(app, PRESS_RELEASE[0])
    page = press.get(f"/dead?mailing={mailing}").text
    assert "6 tote Adressen" in page and "redaktion@tageblatt-example.de" in page.split("Wieder erreichbar")[1]
    assert "0 tote Adressen" in press.get(f"/dead?mailing={mailing}&until=2026-11-23").text
    assert "6 tote Adressen" in press.get(f"/dead?mailing={mailing}&since=2026-11-24&until=2026-11-25").text


def read_csv(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")  # so Excel reads the umlauts right
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_dead_csv_is_for_german_excel_and_follows_the_filter(press: FlaskClient, app: Flask) -> None:
    answer = press.get(f"/dead.csv?mailing={mailing_id(app, PRESS_RELEASE[0])}")
    assert answer.mimetype == "text/csv" and "attachment" in answer.headers["Content-Disposition"]
    rows = read_csv(answer.data)
    assert rows[0] == ["Adresse", "Domain", "Tot seit", "Zuletzt unzustellbar", "Art", "Status", "Grund",
                       "Harte Unzustellbarkeiten", "Vorübergehende Unzustellbarkeiten"]
    assert len(rows) == 7 and "s.krause@posteo-example.de" in {r[0] for r in rows}


def test_mailing_page_lists_opt_outs_with_their_address_and_a_csv_to_remove_them(press: FlaskClient,
                                                                                 app: Flask) -> None:
    mailing = mailing_id(app, PRESS_RELEASE[0])
    page = press.get(f"/mailings/{mailing}").text
    section = page.split('id="opt-outs"', 1)[1]
    assert "Abmeldungen" in section and "j.albers@stadtblatt-example.de" in section
    assert f'href="/opt-outs.csv?mailing={mailing}"' in section
    rows = read_csv(press.get(f"/opt-outs.csv?mailing={mailing}").data)
    assert rows[0] == ["Adresse", "Letzte Bitte", "Bitten", "Aussendung"]
    assert [r[0] for r in rows[1:]] == ["j.albers@stadtblatt-example.de"] and rows[1][3] == PRESS_RELEASE[1]
    assert press.get("/opt-outs.csv?mailing=9999").status_code == 404


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_defused(press: FlaskClient, app: Flask,
                                                                       config: Config) -> None:
    with Store(config.db_path) as store:
        store.record_event("webhook", Verdict(
            category="bounce", confidence=0.98, bounce_type="hard", reason="user_unknown", status="5.1.1",
            recipients=("=1+2@evil.example", "-info@verein.example"), original=Original(message_id=PRESS_RELEASE[0])),
            MailMeta(ticket_id=99, article_id=99))
    rows = read_csv(press.get(f"/mailings/{mailing_id(app, PRESS_RELEASE[0])}/failed.csv").data)
    addresses = {r[0] for r in rows}
    # Valid addresses that start like a formula: a string constant, shown by Excel exactly as the address.
    assert {'="=1+2@evil.example"', '="-info@verein.example"'} <= addresses
    assert "s.krause@posteo-example.de" in addresses  # every other address exactly as stored


def test_csv_values_are_german_with_status_codes_kept_as_text(press: FlaskClient, app: Flask) -> None:
    rows = read_csv(press.get(f"/mailings/{mailing_id(app, PRESS_RELEASE[0])}/failed.csv").data)
    header, krause = rows[0], next(r for r in rows if r[0] == "s.krause@posteo-example.de")
    row = dict(zip(header, krause))
    assert row["Art"] == "Unzustellbar (vorübergehend)" and row["Grund"] == "Postfach voll"
    assert row["Status"] == '="4.2.2"'  # German Excel would read 4.2.2 as a date
    assert row["Prüfung"] == "bestätigt: nennt unsere eingetragene Aussendung"
    assert re.fullmatch(r"\d\d\.\d\d\.2026 \d\d:\d\d", row["Zuletzt unzustellbar"])
    dead = read_csv(press.get("/dead.csv").data)
    assert all(re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", r[2]) for r in dead[1:])
    assert {r[4] for r in dead[1:]} <= {"Unzustellbar (hart)", "Unzustellbar (vorübergehend)"}


def test_english_csv_uses_commas(press: FlaskClient) -> None:
    text = press.get("/dead.csv", headers={"Accept-Language": "en"}).data.decode("utf-8-sig")
    assert text.splitlines()[0] == "Address,Domain,Dead since,Last bounce,Type,Status,Reason,Hard bounces,Soft bounces"


def test_unknown_mailing_and_decision_are_404_pages(admin: FlaskClient) -> None:
    for path in ("/mailings/9999", "/mailings/9999/timeline.svg", "/mailings/9999/failed.csv", "/admin/review/9999"):
        answer = admin.get(path)
        assert answer.status_code == 404 and "Nicht gefunden" in answer.text


def test_bad_filter_values_and_page_numbers_are_400_pages_with_the_reason(admin: FlaskClient) -> None:
    for path in ("/admin/review?min_conf=abc&max_conf=7&since=gestern&category=spam&page=x",
                 "/dead?mailing=x&since=2026-13-45"):
        answer = admin.get(path)
        assert answer.status_code == 400 and "Dieser Filter ist nicht lesbar" in answer.text
    for path, value in (("/mailings?page=-1", "page=-1"), ("/dead?page=abc", "page=abc"),
                        ("/mailings/none?page=0", "page=0")):
        answer = admin.get(path)
        assert answer.status_code == 400 and f"{value}: erwartet wird eine Seitenzahl ab 1" in answer.text
    assert admin.get("/mailings?page=2").status_code == 200 and admin.get("/mailings?page=").status_code == 200


# --- markup written by strangers -------------------------------------------------------------

def test_markup_in_subjects_and_bodies_is_escaped_everywhere(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    xss_mailing = next(m["id"] for m in store.list_mailings(limit=100) if m["subject"] == XSS_SUBJECT)
    human = next(v["id"] for v in store.list_verdicts(limit=500) if v["subject"] == XSS_SUBJECT)
    for path in ("/mailings", f"/mailings/{xss_mailing}", "/admin/review?show_quiet=1", f"/admin/review/{human}",
                 f"/dead?mailing={xss_mailing}"):
        page = admin.get(path).text
        assert "<script" not in page and "<img src=x" not in page and "onerror=alert" not in page.replace(
            "onerror=alert(1)&gt;", "").replace("onerror=alert(2)&gt;", ""), path
        assert "&lt;script&gt;" in page, path
    detail = admin.get(f"/admin/review/{human}").text
    assert "&lt;img src=x onerror=alert(2)&gt;" in detail and "Grüße aus Köln" in detail
    assert XSS_BODY not in detail


# --- admin: review -------------------------------------------------------------------------

def test_review_queue_filters_by_category_and_action(admin: FlaskClient) -> None:
    page = admin.get("/admin/review?category=read_receipt").text
    assert page.count('class="verdict ') == 5 and "Lesebestätigung" in page  # 4 seeded, 1 captured
    assert 'class="verdict ' not in admin.get("/admin/review?category=read_receipt&action=move").text


def test_confirm_records_the_reviewer_and_undo_takes_it_back(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    answer = post_form(admin, "/admin/review/1", "/admin/review/1/confirm")
    assert answer.status_code == 302
    assert (store.get_verdict(1)["review"], store.get_verdict(1)["reviewed_by"]) == ("confirmed", ADMIN[0])
    post_form(admin, "/admin/review/1", "/admin/review/1/undo")
    assert store.get_verdict(1)["review"] == "pending"
    assert "Prüfung von #1 zurückgenommen." in admin.get("/admin/review/1").text


def test_confirm_from_the_queue_returns_to_the_same_filtered_queue(admin: FlaskClient) -> None:
    queue = "/admin/review?category=bounce"
    answer = post_form(admin, queue, "/admin/review/1/confirm", {"next": queue + "#v1"})
    assert answer.headers["Location"] == queue + "#v1"


def test_false_positive_in_dry_run_is_recorded_reopens_nothing_and_adds_a_sender_rule(
        admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    target = next(v for v in store.list_verdicts(category="auto_reply", limit=100)
                  if v["from_addr"] == "h.vogel@mail-example.de")
    page = f"/admin/review/{target['id']}"
    answer = post_form(admin, page, f"{page}/false-positive", {"note": "Frau Vogel antwortet selbst.",
                                                               "allow": "sender"})
    assert answer.status_code == 302
    verdict = store.get_verdict(target["id"])
    assert (verdict["review"], verdict["reviewed_by"]) == ("false_positive", ADMIN[0])
    reopen = [a for a in verdict["actions"] if a["kind"] == "reopen"]
    assert [a["state"] for a in reopen] == ["skipped"] and "Frau Vogel" in reopen[0]["plan"]["note"]["body"]
    assert store.is_allowed("Hanna Vogel <h.vogel@mail-example.de>").startswith("sender h.vogel@mail-example.de")
    text = admin.get(page).text
    assert "Am Ticket war nichts geändert worden" in text and "wiedereröffnen" in text
    again = post_form(admin, page, f"{page}/false-positive", {"allow": "none"})
    assert again.status_code == 302 and len([a for a in store.get_verdict(target["id"])["actions"]
                                             if a["kind"] == "reopen"]) == 1


def test_eml_download_is_absent_without_otrs_credentials_and_says_why(admin: FlaskClient) -> None:
    page = admin.get("/admin/review/1").text
    assert "<button type=\"button\" disabled>Mail (.eml) als Testfall herunterladen</button>" in page
    assert "Nur möglich, wenn OTRS-Zugangsdaten eingerichtet sind" in page
    assert admin.get("/admin/review/1/mail.eml").status_code == 404


def test_rules_page_shows_the_policy_read_only_and_manages_the_allowlist(admin: FlaskClient, app: Flask) -> None:
    page = admin.get("/admin/rules").text
    assert "eingebauten Voreinstellungen" in page and "Hier nur lesbar" in page and "schließen" in page
    assert post_form(admin, "/admin/rules", "/admin/rules", {"kind": "domain", "value": "@Kreisverband.Example.DE",
                                                             "note": "Geschäftsstelle"}).status_code == 302
    store = app.extensions["bouncer"].store
    [rule] = store.allowlist()
    assert (rule["kind"], rule["value"], rule["created_by"]) == ("domain", "kreisverband.example.de", ADMIN[0])
    for value in ("kein-punkt", ".de", "co.uk"):
        bad = post_form(admin, "/admin/rules", "/admin/rules", {"kind": "domain", "value": value})
        assert bad.status_code == 400 and "Keine gültige Adresse oder Domain." in bad.text
    big = post_form(admin, "/admin/rules", "/admin/rules", {"kind": "domain", "value": "gmx.de"})
    assert big.status_code == 302 and "großer Mail-Anbieter" in admin.get("/admin/rules").text
    store.remove_allow(next(r["id"] for r in store.allowlist() if r["value"] == "gmx.de"))
    post_form(admin, "/admin/rules", f"/admin/rules/allow/{rule['id']}/delete")
    assert store.allowlist() == []


def test_times_are_shown_in_berlin_time_with_german_dates(press: FlaskClient, app: Flask) -> None:
    sent = datetime.fromisoformat(app.extensions["bouncer"].store.get_mailing(
        mailing_id(app, PRESS_RELEASE[0]))["sent_at"].replace("Z", "+00:00"))
    assert sent == datetime(2026, 11, 24, 9, 26, tzinfo=timezone.utc)
    page = press.get(f"/mailings/{mailing_id(app, PRESS_RELEASE[0])}").text
    assert "24.11.2026 10:26" in page and "2026-11-24" not in page
    assert "24 Nov 2026, 10:26" in press.get(f"/mailings/{mailing_id(app, PRESS_RELEASE[0])}",
                                             headers={"Accept-Language": "en"}).text


def test_login_throttle_forgets_failures_after_its_window(tmp_path: Path) -> None:
    now = [1000.0]
    throttle = LoginState(tmp_path / "logins", clock=lambda: now[0])
    for _ in range(PAIR_LIMIT):
        throttle.failed("x", "10.0.0.1")
    assert throttle.retry_after("x", "10.0.0.1") == int(WINDOW) + 1
    assert throttle.retry_after("y", "10.0.0.1") == 0 and throttle.retry_after("x", "10.0.0.2") == 0
    now[0] += WINDOW + 1
    assert throttle.retry_after("x", "10.0.0.1") == 0
    for _ in range(PAIR_LIMIT):
        throttle.failed("z", "10.0.0.3")
    throttle.succeeded("z", "10.0.0.3")
    assert throttle.retry_after("z", "10.0.0.3") == 0


def test_evidence_is_shown_in_german_with_mail_values_verbatim(admin: FlaskClient, app: Flask) -> None:
    store = app.extensions["bouncer"].store
    bounce = store.list_verdicts(category="bounce", mailing_id=mailing_id(app, PRESS_RELEASE[0]), limit=1)[0]
    page = admin.get(f"/admin/review/{bounce['id']}").text
    assert "Zustellbericht (DSN): Berichtsteil message/delivery-status" in page
    assert re.search(r"Zustellbericht \(DSN\): Action: \w+, Status: \d\.\d\.\d", page)  # RFC 3464 names kept
    away = store.list_verdicts(category="auto_reply", limit=1)[0]
    assert "Kopfzeilen einer automatischen Antwort: Auto-Submitted:" in admin.get(f"/admin/review/{away['id']}").text
    english = admin.get(f"/admin/review/{bounce['id']}", headers={"Accept-Language": "en"}).text
    assert "Delivery report (DSN): report part message/delivery-status" in english
