"""The real app on 127.0.0.1 (werkzeug server in a thread, real SQLite file, FakeZnuny as OTRS) and
Debian's Chromium driven by Playwright (it cannot download its own browser here)."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from bouncer.config import Config
from bouncer.spool import Spool, spool_directory
from bouncer.store import Store
from clock import Clock
from fake_znuny import FakeZnuny

from .pages_seed import SENT, WEBHOOK, drain_outbox, page_config, seed_mailings, wire_captures

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The README's screenshots are rewritten only on request (BOUNCER_REFRESH_SCREENSHOTS=1); otherwise
# the screenshot test writes to a temporary folder, so a test run leaves the work tree as it was.
DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
REFRESH_SCREENSHOTS = os.environ.get("BOUNCER_REFRESH_SCREENSHOTS", "") not in ("", "0")
# The app's clock while the captures arrive: fixed, so refreshed screenshots show the same times every run.
CAPTURES_AT = SENT + timedelta(days=2)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the screenshot test writes: docs/screenshots on request, else a temporary folder."""
    return DOC_SCREENSHOTS if REFRESH_SCREENSHOTS else tmp_path / "screenshots"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium (make test does)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A German browser, as the association's staff use: the pages must come in German."""
    return {**browser_context_args, "locale": "de-DE", "timezone_id": "Europe/Berlin",
            "viewport": {"width": 1280, "height": 900}, "accept_downloads": True}


@dataclass
class Live:
    url: str
    app: Flask
    config: Config
    znuny: FakeZnuny

    def drain_outbox(self) -> int:
        return drain_outbox(self.app)


@pytest.fixture
def live(tmp_path: Path, fake_znuny: FakeZnuny, wire_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    """The app in callback mode against the fake Znuny, its database filled the real way: the two
    seeded mailings through the Service, then every captured invoker request over HTTP."""
    # The production default, Secure cookies: Chromium treats http://127.0.0.1 as a secure origin.
    monkeypatch.delenv("BOUNCER_COOKIE_SECURE", raising=False)
    config = page_config(tmp_path, otrs=fake_znuny)
    seed_mailings(config, wire_dir)
    app = create_app(config)
    service = app.extensions["bouncer"]
    service.store.close()  # the same file behind a fixed clock (see CAPTURES_AT)
    clock = Clock(CAPTURES_AT)
    service.store = Store(config.db_path, clock=clock, soft_threshold=service.policy.dead_soft_bounces,
                          soft_window_days=service.policy.dead_window_days)
    service.spool = Spool(spool_directory(config.db_path), clock)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        for path, body in wire_captures(wire_dir):
            answer = requests.post(url + path, data=body, auth=WEBHOOK, timeout=10,
                                   headers={"Content-Type": "application/json"})
            assert answer.status_code == 200, answer.text
        drain_outbox(app)
        yield Live(url, app, config, fake_znuny)
    finally:
        server.shutdown()
        thread.join(5)
        app.extensions["bouncer"].store.close()
