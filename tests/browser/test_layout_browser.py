"""Every page fits the screen: at 1280 px (desktop) and 390 px (phone) no element reaches past the viewport,
so nothing needs sideways scrolling and nothing is off-screen (a table's last column, a remove button)."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from bouncer.store import MailMeta
from bouncer.verdict import Verdict

from .conftest import Live
from .pages_seed import ADMIN, PRESS_RELEASE
from .test_pages_browser import log_in

WIDTHS = {"desktop": 1280, "phone": 390}
LONG_SENDER = "microsoftexchange5c1d8f2e9a7b4c3d2e1f0a9b8c7d6e5f@diario-sur.example.es"
# Every element's box against the viewport; text that overflows its own box counts too (scrollWidth).
_OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.right > width + 0.5 || box.left < -0.5) {  // off-screen to the right or left
      wide.push(`${el.tagName.toLowerCase()}.${el.className} ${Math.round(box.left)}..${Math.round(box.right)} ${(el.textContent || '').trim().slice(0, 30)}`);
    }
  }
  return {width, scroll: document.documentElement.scrollWidth, wide: wide.slice(0, 8)};
}"""


def _paths(live: Live) -> dict[str, str]:
    """Every page, with real ids from the seeded database."""
    store = live.app.extensions["bouncer"].store
    release = next(m["id"] for m in store.list_mailings(limit=100) if m["message_id"] == PRESS_RELEASE[0])
    bounce = store.list_verdicts(category="bounce", mailing_id=release, limit=1)[0]["id"]
    person = store.list_verdicts(category="human", limit=1)[0]["id"]
    store.add_allow("sender", "sehr.lange.adresse.der.pressestelle@landesverband-beispiel.example", note="Presse")
    # Machine mail about no mailing from a sender as long as Exchange's system mailboxes are.
    store.record_event("webhook", Verdict(category="bounce", confidence=0.97, bounce_type="hard", reason="user_unknown",
                                          recipients=("presseverteiler.landesverband.nord@diario-sur.example.es",)),
                       MailMeta(ticket_id=990001, article_id=990001, from_addr=LONG_SENDER,
                                subject="Unzustellbar: Einladung zur Pressekonferenz des Landesverbands am Donnerstag"))
    return {
        "mailings": "/mailings", "mailing": f"/mailings/{release}", "mailing-days": f"/mailings/{release}?bucket=day",
        "dead": "/dead", "dead-of-mailing": f"/dead?mailing={release}", "review": "/admin/review",
        "bounce": f"/admin/review/{bounce}", "person": f"/admin/review/{person}", "rules": "/admin/rules",
        "no-mailing": "/mailings/none", "address": "/addresses?q=redaktion@tageblatt-example.de",
        "address-search": "/addresses?q=example", "review-all": "/admin/review?show_quiet=1", "status": "/admin/status", "sweeps": "/admin/sweeps", "users": "/admin/users", "not-found": "/mailings/99999",
        "bad-filter": "/dead?since=30.11.2026",
    }


def assert_fits(page: Page, what: str) -> None:
    found = page.evaluate(_OVERFLOW_JS)
    assert found["scroll"] <= found["width"] and found["wide"] == [], f"{what}: {found}"


@pytest.mark.parametrize("size", WIDTHS)
def test_every_page_fits_the_viewport_without_sideways_scrolling(page: Page, live: Live, size: str) -> None:
    page.set_viewport_size({"width": WIDTHS[size], "height": 900})
    page.goto(live.url + "/login")
    assert_fits(page, f"login at {size}")
    log_in(page, live, ADMIN)
    for name, path in _paths(live).items():
        page.goto(live.url + path)
        expect(page.locator("h1")).to_be_visible()
        assert_fits(page, f"{name} ({path}) at {size}")


def test_a_long_sender_about_no_mailing_is_cut_short_and_leaves_the_subject_its_room(page: Page, live: Live) -> None:
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
    log_in(page, live, ADMIN)
    _paths(live)
    page.goto(live.url + "/mailings/none")
    sender = page.locator(f'span.clip[title="{LONG_SENDER}"]')
    expect(sender).to_have_text(LONG_SENDER)  # the whole address is there, shown cut short
    row = page.locator("tr", has=sender)
    subject = row.locator("td.subject-cell").bounding_box()
    assert subject is not None and subject["width"] >= 200, subject  # words, not letters stacked
    assert_fits(page, "/mailings/none with a long sender")


def test_the_correction_form_stacks_its_fields_on_a_phone(page: Page, live: Live) -> None:
    page.set_viewport_size({"width": WIDTHS["phone"], "height": 900})
    log_in(page, live, ADMIN)
    page.goto(live.url + _paths(live)["bounce"])
    form = page.locator("form#correct").bounding_box()
    kind = page.locator("form#correct select").bounding_box()
    addresses = page.locator("form#correct input[name=addresses]").bounding_box()
    assert form and kind and addresses
    for box in (kind, addresses):  # neither field reaches past the form's box
        assert form["x"] <= box["x"] and box["x"] + box["width"] <= form["x"] + form["width"] + 0.5, (form, box)
    assert addresses["y"] >= kind["y"] + kind["height"], (kind, addresses)  # one field a line
