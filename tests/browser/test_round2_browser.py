"""Each user's new paths, clicked through in Chromium (German): the press officer's address search,
who answered a mailing, registering a mailing first and picking one by subject; the admin's quiet
queue, search, bulk confirm, correcting a category, status and users."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import Live
from .pages_seed import ADMIN, PRESS, PRESS_RELEASE
from .test_pages_browser import log_in


def test_press_officer_follows_a_reply_to_the_addresses_history(page: Page, live: Live) -> None:
    log_in(page, live, PRESS)
    page.get_by_role("link", name=PRESS_RELEASE[1]).click()
    people = page.locator("#people")
    expect(people.locator("table.away")).to_contain_text("02.12.2026")  # back on, as the out-of-office said
    expect(people.locator("table.read")).to_contain_text("t.richter@blatt-example.de")
    people.locator("table.wrote").get_by_role("link", name="redaktion@tageblatt-example.de").click()
    expect(page.get_by_role("heading", name="Adresssuche")).to_be_visible()
    expect(page.locator("dl.meta")).to_contain_text("wieder erreichbar")
    history = page.locator("table.history")
    expect(history).to_contain_text("Unzustellbar (hart)")
    expect(history).to_contain_text("Persönliche Mail")
    page.get_by_label("Adresse oder ein Teil davon").fill("posteo")
    page.get_by_role("button", name="Suchen").click()
    page.get_by_role("link", name="s.krause@posteo-example.de").click()
    expect(page.locator("dl.meta")).to_contain_text("tot")


def test_press_officer_registers_a_mailing_first_and_picks_dead_addresses_by_subject(page: Page, live: Live) -> None:
    log_in(page, live, PRESS)
    page.get_by_text("Aussendung eintragen (vor oder nach dem Versand)").click()
    page.get_by_label("Betreff").first.fill("PM 131/2026: Haushalt 2027")
    page.get_by_label("Versandt am").fill("2026-12-08T10:00")
    page.get_by_role("button", name="Eintragen").click()
    expect(page.get_by_role("heading", name="PM 131/2026: Haushalt 2027")).to_be_visible()
    expect(page.locator(".no-replies")).to_be_visible()
    page.get_by_role("link", name="Tote Adressen", exact=True).click()
    picker = page.get_by_label("Aussendung")
    option = picker.locator("option", has_text=PRESS_RELEASE[1][:40]).get_attribute("value")
    picker.select_option(value=option)
    page.get_by_role("button", name="Filtern").click()
    expect(page.locator(".total")).to_have_text("6 tote Adressen")


def test_admin_searches_confirms_in_bulk_and_corrects_a_category(page: Page, live: Live) -> None:
    log_in(page, live, ADMIN)
    page.get_by_role("link", name="Prüfliste").click()
    expect(page.locator(".quiet-note")).to_be_visible()
    page.get_by_label("Absender, Betreff oder Ticketnummer suchen").fill("a.becker@zeitung-example.de")
    page.get_by_role("button", name="Filtern").click()
    expect(page.locator("li.verdict")).to_have_count(1)
    page.locator("li.verdict").get_by_role("link", name=re.compile("Details")).click()
    expect(page.get_by_role("button", name="Als Fehlalarm markieren und wiedereröffnen")).to_be_visible()
    page.get_by_label("Diese Mail ist in Wahrheit").select_option("hard")
    page.get_by_label("Unzustellbare Adressen (bei einer Unzustellbarkeit; durch Komma getrennt)").fill(
        "a.becker@zeitung-example.de")
    page.get_by_role("button", name="Berichtigung speichern").click()
    expect(page.locator(".flash").first).to_contain_text("berichtigt")
    page.goto(live.url + "/dead")
    expect(page.locator("table.dead")).to_contain_text("a.becker@zeitung-example.de")

    page.goto(live.url + "/admin/review")
    bulk = page.locator("form.bulk button")
    expect(bulk).to_contain_text("ungeprüften Entscheidungen bestätigen")
    bulk.click()
    expect(page.locator(".flash").first).to_contain_text("Entscheidungen bestätigt.")
    expect(page.locator("form.bulk")).to_have_count(0)


def test_a_persons_mail_offers_no_false_positive(page: Page, live: Live) -> None:
    person = live.app.extensions["bouncer"].store.list_verdicts(category="human", limit=1)[0]["id"]
    log_in(page, live, ADMIN, f"/admin/review/{person}")
    expect(page.get_by_role("button", name="Berichtigung speichern")).to_be_visible()
    expect(page.get_by_role("button", name="Als Fehlalarm markieren und wiedereröffnen")).to_have_count(0)


def test_admin_reads_the_status_panel_and_adds_a_user(page: Page, live: Live) -> None:
    log_in(page, live, ADMIN)
    page.get_by_role("link", name="Status").click()
    expect(page.locator("dl.status")).to_contain_text("über REST")
    expect(page.locator("dl.status")).to_contain_text("gesetzt")
    page.get_by_role("link", name="Benutzer").click()
    page.get_by_label("Benutzername").fill("redaktion2")
    page.get_by_label("Passwort").fill("Ein-langes-Passwort-1")
    page.get_by_role("button", name="Benutzer speichern").click()
    expect(page.locator("table.users")).to_contain_text("redaktion2")
    page.get_by_role("button", name="Benutzer redaktion2 entfernen").click()
    expect(page.locator("table.users")).not_to_contain_text("redaktion2")
