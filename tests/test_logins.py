"""Lockouts and sessions across workers: the login throttle counts per (name, client address) and per
name in SQLite, one user's failures never lock out another, logout ends the session server-side,
and a `next=` with CR/LF is a safe redirect."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from bouncer.config import Config
from bouncer.web.loginstate import NAME_LIMIT, PAIR_LIMIT, LoginState, client_address
from together import open_together
from browser.pages_seed import ADMIN, PRESS, csrf_token, https_client, log_in, page_config

PROXY_HEADER = "X-Forwarded-For"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return replace(page_config(tmp_path), client_address_header=PROXY_HEADER).validated()


@pytest.fixture
def workers(config: Config) -> Iterator[tuple[Flask, Flask]]:
    """Two apps on one database, as two gunicorn workers are."""
    apps = (create_app(config), create_app(config))
    yield apps
    for app in apps:
        app.extensions["bouncer"].store.close()


def try_login(client: FlaskClient, user: tuple[str, str], address: str, next_path: str = "") -> int:
    page = client.get("/login", headers={PROXY_HEADER: address})
    answer = client.post("/login" + (f"?next={next_path}" if next_path else ""), headers={PROXY_HEADER: address},
                         data={"csrf_token": csrf_token(page.text), "username": user[0], "password": user[1]})
    return answer.status_code


def test_failures_are_counted_across_workers(workers: tuple[Flask, Flask]) -> None:
    first, second = (https_client(app) for app in workers)
    for number in range(PAIR_LIMIT):
        assert try_login(first if number % 2 else second, (ADMIN[0], "guess"), "198.51.100.7") == 401
    assert try_login(first, ADMIN, "198.51.100.7") == 429
    assert try_login(second, ADMIN, "198.51.100.7") == 429


def test_behind_a_proxy_one_user_s_failures_never_lock_out_another(workers: tuple[Flask, Flask]) -> None:
    """All users reach us through one proxy (one socket address): only the header tells them apart,
    and even from one address a name's failures do not block another name."""
    client = https_client(workers[0])
    for _ in range(PAIR_LIMIT * 3):
        try_login(client, (PRESS[0], "guess"), "203.0.113.5")
    assert try_login(https_client(workers[0]), ADMIN, "203.0.113.5") == 302
    assert try_login(https_client(workers[1]), PRESS, "203.0.113.9") == 302


def test_a_name_attacked_from_many_addresses_stays_open_from_an_address_it_used_before(config: Config) -> None:
    now = [5000.0]
    state = LoginState(Path(config.db_path + "-test-logins"), clock=lambda: now[0])
    state.succeeded("admin", "192.0.2.10")
    for number in range(NAME_LIMIT):
        state.failed("admin", f"10.0.{number // 250}.{number % 250}")
    assert state.retry_after("admin", "10.9.9.9") > 0, "a new address waits once the name is under attack"
    assert state.retry_after("admin", "192.0.2.10") == 0, "the admin's own address still gets in"
    assert state.retry_after("presse", "10.9.9.9") == 0


def test_the_client_address_is_the_proxy_s_last_entry() -> None:
    assert client_address("127.0.0.1", "6.6.6.6, 198.51.100.7") == "198.51.100.7"
    assert client_address("127.0.0.1", None) == "127.0.0.1"
    assert client_address(None, " ") == "-"


def test_logout_ends_the_session_in_every_worker(workers: tuple[Flask, Flask]) -> None:
    client = https_client(workers[0])
    log_in(client, PRESS)
    cookie = client.get_cookie("bouncer_session", domain="bouncer.example.org")
    assert cookie is not None
    other = https_client(workers[1])
    other.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path, secure=cookie.secure)
    assert other.get("/mailings").status_code == 200
    page = client.get("/mailings")
    assert client.post("/logout", data={"csrf_token": csrf_token(page.text)}).status_code == 302
    assert other.get("/mailings").status_code == 302, "a copy of the old cookie no longer opens pages"
    log_in(other, PRESS)
    assert other.get("/mailings").status_code == 200


@pytest.mark.parametrize("target", ["/mailings%0d%0aX-Injected:1", "/dead%0aSet-Cookie:x=1", "/%09/evil.example",
                                    "/mailings%00"])
def test_next_with_control_characters_is_a_safe_redirect(workers: tuple[Flask, Flask], target: str) -> None:
    client = https_client(workers[0])
    page = client.get("/login")
    answer = client.post(f"/login?next={target}",
                         data={"csrf_token": csrf_token(page.text), "username": PRESS[0], "password": PRESS[1]})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/mailings" and "X-Injected" not in answer.headers


def test_workers_opening_a_fresh_login_file_together_all_boot(tmp_path: Path) -> None:
    """gunicorn's workers booting on a new install open the login file at one moment: the switch to
    WAL must wait its turn, not fail a worker (which made gunicorn shut down)."""
    for attempt in range(10):
        path = tmp_path / f"fresh-{attempt}-logins"
        assert open_together(LoginState, str(path)) == [0] * 4, f"attempt {attempt}"
        assert LoginState(path)._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
