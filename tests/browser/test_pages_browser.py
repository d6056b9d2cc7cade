"""The pages in a real browser: log in, read a mailing, export, review, reopen through the fake Znuny.

Every test runs the real app (werkzeug server, real SQLite, the fake Znuny as OTRS) in Debian's
Chromium with a German browser locale. Selectors use the German labels a user sees.
"""
from __future__ import annotations

import base64
import csv
import io
import re
from pathlib import Path

from playwright.sync_api import Browser, Dialog, Page, expect

from .conftest import Live
from .pages_seed import ADMIN, PRESS, PRESS_RELEASE, XSS_SUBJECT, capture, variant


def log_in(page: Page, live: Live, user: tuple[str, str], path: str = "/") -> None:
    page.goto(live.url + path)
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Benutzername").fill(user[0])
    page.get_by_label("Passwort").fill(user[1])
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("button", name=f"{user[0]} abmelden")).to_be_visible()


def count(page: Page, kind: str) -> str:
    return page.locator(f'.counts li[data-kind="{kind}"] .n').inner_text()


def read_csv(path: str | Path) -> list[list[str]]:
    text = Path(path).read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_press_officer_opens_a_mailing_sees_counts_and_plot_and_exports_failed_addresses(
        page: Page, live: Live) -> None:
    log_in(page, live, PRESS)
    expect(page.get_by_role("heading", name="Aussendungen")).to_be_visible()
    page.get_by_role("link", name=PRESS_RELEASE[1]).click()

    expect(page.get_by_role("heading", name=PRESS_RELEASE[1])).to_be_visible()
    assert [count(page, k) for k in ("hard", "soft", "auto_reply", "read_receipt", "unsubscribe", "human", "total")] == [
        "6", "4", "5", "3", "1", "2", "21"]
    plot = page.locator("img.plot")
    expect(plot).to_be_visible()
    # Visible comes before loaded: wait for the plot to have loaded (a busy machine draws it later).
    page.wait_for_function("() => { const i = document.querySelector('img.plot'); "
                           "return i !== null && i.complete && i.naturalWidth > 0; }", timeout=30_000)
    svg = page.request.get(live.url + plot.get_attribute("src"))
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<script" not in svg.body() and b"Reaktionen pro Stunde" in svg.body()
    expect(page.locator("table.failed")).to_contain_text("s.krause@posteo-example.de")
    expect(page.locator("table.failed tr", has_text="redaktion@tageblatt-example.de")).to_contain_text(
        "wieder erreichbar")

    with page.expect_download() as download:
        page.get_by_role("link", name="Unzustellbare Adressen exportieren (CSV)").click()
    rows = read_csv(download.value.path())
    assert rows[0][:2] == ["Adresse", "Domain"]
    assert {row[0] for row in rows[1:]} == {
        "redaktion@tageblatt-example.de", "m.mueller@lokalzeitung-example.de", "info@radio-example.de",
        "politik@wochenblatt-example.de", "j.schulz@freenet-example.de", "desk@agentur-example.com",
        "s.krause@posteo-example.de", "nachrichten@sender-example.de"}


def test_press_officer_sees_who_asked_to_be_taken_off_the_list_and_exports_the_addresses(
        page: Page, live: Live) -> None:
    log_in(page, live, PRESS)
    page.get_by_role("link", name=PRESS_RELEASE[1]).click()
    section = page.locator("#opt-outs")
    expect(section.get_by_role("heading", name="Abmeldungen")).to_be_visible()
    expect(section.locator("table.opt-outs")).to_contain_text("j.albers@stadtblatt-example.de")
    assert count(page, "unsubscribe") == "1"
    with page.expect_download() as download:
        section.get_by_role("link", name="Zu streichende Adressen exportieren (CSV)").click()
    rows = read_csv(download.value.path())
    assert rows[0] == ["Adresse", "Letzte Bitte", "Bitten", "Aussendung"]
    assert [row[0] for row in rows[1:]] == ["j.albers@stadtblatt-example.de"]


def test_press_officer_filters_dead_addresses_by_mailing_and_exports_them(page: Page, live: Live) -> None:
    log_in(page, live, PRESS, "/dead")
    expect(page.get_by_role("heading", name="Tote Adressen")).to_be_visible()
    page.goto(live.url + "/mailings")
    page.get_by_role("link", name=PRESS_RELEASE[1]).click()
    page.get_by_role("link", name="Tote Adressen dieser Aussendung").click()

    expect(page.locator(".total")).to_have_text("6 tote Adressen")
    dead = page.locator("table.dead")
    expect(dead).to_contain_text("s.krause@posteo-example.de")  # three soft bounces within the window
    expect(dead).not_to_contain_text("redaktion@tageblatt-example.de")  # wrote to us since
    expect(dead).not_to_contain_text("nachrichten@sender-example.de")  # one soft bounce only
    expect(page.locator("table.revived")).to_contain_text("redaktion@tageblatt-example.de")

    page.get_by_label("Tot seit (ab)").fill("2030-01-01")
    page.get_by_role("button", name="Filtern").click()
    expect(page.locator(".total")).to_have_text("0 tote Adressen")
    page.get_by_label("Tot seit (ab)").fill("2026-11-24")
    page.get_by_role("button", name="Filtern").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Als CSV exportieren").click()
    rows = read_csv(download.value.path())
    assert rows[0][:3] == ["Adresse", "Domain", "Tot seit"]
    assert len(rows) == 1 + 6


def test_press_officer_cannot_open_the_list_verdicts(page: Page, live: Live) -> None:
    log_in(page, live, PRESS)
    expect(page.get_by_role("link", name="Prüfliste")).to_have_count(0)
    page.goto(live.url + "/admin/review")
    expect(page.get_by_role("heading", name="Nicht erlaubt")).to_be_visible()


def test_admin_marks_a_false_positive_and_the_fake_znuny_receives_the_reopen(page: Page, live: Live) -> None:
    log_in(page, live, ADMIN)
    page.get_by_role("link", name="Prüfliste").click()
    page.get_by_label("Art").select_option("auto_reply")
    page.get_by_role("button", name="Filtern").click()
    item = page.locator("li.verdict", has_text="carol@example.net").first
    expect(item).to_contain_text("schließen")  # what was done: closed, via REST, done
    expect(item).to_contain_text("erledigt")
    expect(item.get_by_role("link", name="Ticket 4 in OTRS")).to_have_attribute(
        "href", f"{live.config.otrs_url}/index.pl?Action=AgentTicketZoom;TicketID=4")
    item.get_by_role("link", name="Fehlalarm …").click()

    page.get_by_label("Warum (kommt in die interne Notiz am Ticket)").fill("Carol schreibt uns wirklich.")
    page.get_by_label("diese Domain nie als Maschinenpost werten").check()
    before = len(live.znuny.requests_for("TicketUpdate"))
    page.get_by_role("button", name="Als Fehlalarm markieren und wiedereröffnen").click()
    expect(page.locator(".flash").first).to_contain_text("das Ticket wird in OTRS wiedereröffnet")
    expect(page.locator(".meta")).to_contain_text("Fehlalarm")

    assert live.drain_outbox() == 1
    reopen = live.znuny.requests_for("TicketUpdate")[before:]
    assert len(reopen) == 1 and reopen[0].path.endswith("/Ticket/4")
    sent = reopen[0].json
    assert sent["Ticket"]["State"] == "new" and sent["Ticket"]["Queue"] == "Postmaster"
    assert sent["DynamicField"] == {"Name": "MailClassification", "Value": ""}
    assert "Carol schreibt uns wirklich." in sent["Article"]["Body"]
    assert live.znuny.tickets[4]["State"] == "new"
    page.reload()
    expect(page.locator("ul.actions")).to_contain_text("wiedereröffnen")

    page.get_by_role("link", name="Regeln").click()
    expect(page.locator("table.allowlist")).to_contain_text("example.net")
    # From now on the classifier honours the rule: Carol's next auto-reply counts as a person's mail.
    body = variant(capture(live.znuny.wire.dir, "ooo-vacation-generic-newticket"), ticket_id=4, article_id=5001,
                   replace={})
    answer = page.request.post(live.url + "/otrs/article-created", data=body,
                               headers={"Authorization": _basic(live)})
    assert answer.json()["Category"] == "human"


def _basic(live: Live) -> str:
    token = base64.b64encode(f"{live.config.webhook_user}:{live.config.webhook_password}".encode()).decode()
    return f"Basic {token}"


def test_admin_confirms_a_decision_and_takes_the_review_back(page: Page, live: Live) -> None:
    log_in(page, live, ADMIN, "/admin/review?category=bounce")
    item = page.locator("li.verdict").first
    item.get_by_role("button", name="Bestätigen").click()
    expect(page.locator(".flash").first).to_contain_text("bestätigt")
    expect(page.locator("li.verdict").first.locator(".badge.review")).to_have_text("bestätigt")
    page.locator("li.verdict").first.get_by_role("link", name=re.compile("Details")).click()
    page.get_by_role("button", name="Prüfung zurücknehmen").click()
    expect(page.locator(".meta .badge.review")).to_have_text("ungeprüft")


def test_admin_downloads_the_raw_mail_from_otrs_as_eml(page: Page, live: Live) -> None:
    verdict_id = next(v["id"] for v in live.app.extensions["bouncer"].store.list_verdicts(limit=500)
                      if (v["ticket_id"], v["article_id"]) == (2, 6))
    log_in(page, live, ADMIN, f"/admin/review/{verdict_id}")
    with page.expect_download() as download:
        page.get_by_role("link", name="Mail (.eml) als Testfall herunterladen").click()
    assert download.value.suggested_filename == "ticket-2-article-6.eml"
    raw = Path(download.value.path()).read_bytes()
    assert b"Undelivered Mail Returned to Sender" in raw


def test_admin_adds_and_removes_an_allowlist_rule_beside_the_read_only_policy(page: Page, live: Live) -> None:
    log_in(page, live, ADMIN, "/admin/rules")
    expect(page.locator("table.policy")).to_contain_text("schließen")
    expect(page.get_by_text("Hier nur lesbar")).to_be_visible()
    page.get_by_label("Art").select_option("domain")
    page.get_by_label("Adresse oder Domain").fill("Landesverband-Example.de")
    page.get_by_role("button", name="Hinzufügen").click()
    expect(page.locator("table.allowlist")).to_contain_text("landesverband-example.de")
    page.get_by_role("button", name="Regel landesverband-example.de entfernen").click()
    expect(page.locator(".flash").first).to_have_text("Regel entfernt.")
    expect(page.locator("table.allowlist")).to_have_count(0)


def test_markup_in_subjects_and_bodies_of_strangers_stays_inert_on_every_page(page: Page, live: Live) -> None:
    dialogs: list[Dialog] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog), dialog.dismiss()))
    log_in(page, live, ADMIN)
    store = live.app.extensions["bouncer"].store
    mailing_id = next(m["id"] for m in store.list_mailings(limit=100) if m["subject"] == XSS_SUBJECT)
    verdicts = [v["id"] for v in store.list_verdicts(limit=500) if v["subject"] == XSS_SUBJECT]
    pages = ["/mailings", f"/mailings/{mailing_id}", f"/dead?mailing={mailing_id}", "/admin/review?show_quiet=1",
             *[f"/admin/review/{v}" for v in verdicts]]
    for path in pages:
        response = page.goto(live.url + path)
        assert response is not None and "script-src" not in response.headers["content-security-policy"]
        assert "default-src 'none'" in response.headers["content-security-policy"]
        expect(page.get_by_text(XSS_SUBJECT).filter(visible=True).first).to_be_visible()  # not the picker's <option>
        assert page.locator("script").count() == 0, path
        assert page.locator("img[src='x']").count() == 0, path
        assert page.title() != "pwned"
    assert dialogs == []


def test_an_english_browser_gets_english_pages(browser: Browser, live: Live) -> None:
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(live.url + "/")
    page.get_by_label("User name").fill(PRESS[0])
    page.get_by_label("Password").fill(PRESS[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Mailings")).to_be_visible()
    expect(page.get_by_role("link", name="Dead addresses")).to_be_visible()
    context.close()


SHOTS = {
    "mailings": "/mailings",
    "mailing": None,  # the press release, found at run time
    "dead": "/dead",
    "review": "/admin/review",
    "verdict": None,  # a bounce of the press release
    "rules": "/admin/rules",
}
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
MAX_SHOT_HEIGHT = 2400  # the review queue has 50 items: its top is what the README needs


def shoot(page: Page, path: Path) -> None:
    height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_SHOT_HEIGHT)
    page.screenshot(path=path, full_page=True,
                    clip={"x": 0, "y": 0, "width": page.viewport_size["width"], "height": height})


def test_screenshots_of_every_page_at_desktop_and_phone_width(page: Page, live: Live, screenshots: Path) -> None:
    """Writes <page>-<size>.png of every page (docs/screenshots, shown in the README, on request)."""
    screenshots.mkdir(parents=True, exist_ok=True)
    store = live.app.extensions["bouncer"].store
    release = next(m["id"] for m in store.list_mailings(limit=100) if m["message_id"] == PRESS_RELEASE[0])
    bounce = store.list_verdicts(category="bounce", mailing_id=release, limit=1)[0]["id"]
    paths = {**SHOTS, "mailing": f"/mailings/{release}", "verdict": f"/admin/review/{bounce}"}
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.context.clear_cookies()
        page.goto(live.url + "/login")
        shoot(page, screenshots / f"login-{size}.png")
        log_in(page, live, ADMIN)
        for name, path in paths.items():
            page.goto(live.url + path)
            page.wait_for_load_state("networkidle")
            shoot(page, screenshots / f"{name}-{size}.png")
    assert len(list(screenshots.glob("*.png"))) >= 2 * (len(paths) + 1)

