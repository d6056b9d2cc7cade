"""Every page fits the screen: at 1280 px (desktop) and 390 px (phone) no element reaches past the viewport,
so nothing needs sideways scrolling and nothing is off-screen (a table's last column, a remove button)."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from .conftest import Live
from .pages_seed import ADMIN, PRESS_RELEASE
from .test_pages_browser import log_in

WIDTHS = {"desktop": 1280, "phone": 390}
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
