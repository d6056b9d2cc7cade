"""Page and API parameters a logged-in user can send: never 500 (attack case F12). A filter value that
is there but unreadable is 400 with the reason, an id beyond SQLite's INTEGER is an unknown id (404),
a bad page number is page one."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from browser.pages_seed import ADMIN, https_client, log_in, page_config

HUGE = "99999999999999999999"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = create_app(page_config(Path(tmp_path_factory.mktemp("params"))))
    yield app
    app.extensions["bouncer"].store.close()


@pytest.mark.parametrize(("path", "status"), [
    ("/mailings?page=%C2%B2", 400), (f"/mailings?page={HUGE}", 200), ("/dead?mailing=%C2%B2", 400),
    ("/dead?since=0001-01-01", 400), ("/dead?until=9999-12-31", 400), ("/dead.csv?until=9999-12-31", 400),
    ("/admin/review?mailing=abc", 400), ("/admin/review?since=0001-01-01", 400), (f"/dead?mailing={HUGE}", 400),
    (f"/mailings/{HUGE}", 404), (f"/admin/review/{HUGE}", 404), (f"/mailings/{HUGE}/failed.csv", 404),
])
def test_page_parameters_never_answer_500(app: Flask, path: str, status: int) -> None:
    client = https_client(app)
    log_in(client, ADMIN)
    answer = client.get(path)
    assert answer.status_code == status, answer.text[:300]
    if status == 400:
        assert "Dieser Filter ist nicht lesbar" in answer.text


@pytest.mark.parametrize(("path", "status"), [
    (f"/api/v1/dead?offset={HUGE}", 400), ("/api/v1/mailings?limit=%C2%B2", 400),
    ("/api/v1/alive-again?mailing=%C2%B2", 400), ("/api/v1/dead?until=9999-12-31", 400),
    (f"/api/v1/mailings/{HUGE}", 404), ("/api/v1/dead?since=1899-12-31", 400),
])
def test_api_parameters_never_answer_500(app: Flask, path: str, status: int) -> None:
    answer = https_client(app).get(path, auth=ADMIN)
    assert answer.status_code == status, answer.text[:300]
    if status == 400:
        assert "expected" in answer.get_json()["error"]
