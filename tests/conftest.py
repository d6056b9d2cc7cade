"""Shared fixtures."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from browser.pages_seed import ADMIN, https_client, log_in
from fake_znuny import FakeZnuny, default_wire_dir


@pytest.fixture(scope="session")
def wire_dir() -> Path:
    """The real Znuny 7.0.19 captures (../shared/otrs-wire, or OTRS_WIRE_DIR)."""
    directory = default_wire_dir()
    if not (directory / "README.md").is_file():
        pytest.fail(f"otrs-wire captures not found in {directory}; set OTRS_WIRE_DIR")
    return directory


@pytest.fixture
def fake_znuny(wire_dir: Path) -> Iterator[FakeZnuny]:
    """A fresh fake Znuny on 127.0.0.1 serving the captures; stopped (and checked) after the test."""
    with FakeZnuny(wire_dir) as fake:
        yield fake


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    """An admin logged in to the module's `app` over HTTPS (the session cookie is Secure)."""
    client = https_client(app)
    log_in(client, ADMIN)
    return client
