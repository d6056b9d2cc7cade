"""The admin's sweep page over Flask's test client against the fake Znuny: last sweep and catch-up,
a dry-run sweep started from the browser with its downloadable report, and the review filter by source."""
from __future__ import annotations

import copy
import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from bouncer.sweep import SweepOptions, run_sweep
from browser.pages_seed import ADMIN, PRESS, csrf_token, https_client, log_in, page_config
from corpus_tickets import build_tickets
from fake_znuny import FakeZnuny


@pytest.fixture
def app(fake_znuny: FakeZnuny, tmp_path: Path) -> Iterator[Flask]:
    for item in build_tickets(60):
        fake_znuny.add_ticket(copy.deepcopy(item.ticket))
    app = create_app(page_config(tmp_path, fake_znuny))
    yield app
    app.extensions["bouncer"].store.close()


def wait_for_run(app: Flask, seconds: float = 60) -> dict:
    store = app.extensions["bouncer"].store
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = store.last_run("sweep")
        if run and run["status"] != "running":
            return run
        time.sleep(0.1)
    raise AssertionError("the dry-run sweep did not finish")


def test_a_dry_run_started_on_the_page_changes_nothing_and_its_report_downloads(
        app: Flask, admin: FlaskClient, fake_znuny: FakeZnuny) -> None:
    assert "No sweep yet" in admin.get("/admin/sweeps", headers={"Accept-Language": "en"}).text
    page = admin.get("/admin/sweeps")
    assert page.status_code == 200 and "Noch kein Sweep" in page.text
    answer = admin.post("/admin/sweeps", data={"csrf_token": csrf_token(page.text), "queues": "Presse, LV"})
    assert answer.status_code == 302
    run = wait_for_run(app)
    assert (run["mode"], run["status"], run["started_by"]) == ("dry-run", "done", ADMIN[0])
    assert run["params"]["queues"] == ["Presse", "LV"] and run["summary"]["found"] == 20
    assert not fake_znuny.requests_for("TicketUpdate")
    page = admin.get("/admin/sweeps")
    assert f"/admin/sweeps/{run['id']}.csv" in page.text
    download = admin.get(f"/admin/sweeps/{run['id']}.csv", headers={"Accept-Language": "en"})
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["ticket_number", "ticket_id", "queue"] and len(rows) == 21
    assert {r[2] for r in rows[1:]} == {"Presse", "LV"}


def test_a_second_sweep_is_refused_while_one_runs_anywhere(app: Flask, admin: FlaskClient) -> None:
    store = app.extensions["bouncer"].store
    store.start_run("sweep", "apply", {}, "command line")  # e.g. an admin's --apply in a shell
    page = admin.get("/admin/sweeps", headers={"Accept-Language": "en"})
    answer = admin.post("/admin/sweeps", data={"csrf_token": csrf_token(page.text)},
                        headers={"Accept-Language": "en"}, follow_redirects=True)
    assert "already running" in answer.text
    assert [r["mode"] for r in store.runs("sweep")] == ["apply"]


def test_the_form_needs_its_csrf_token(admin: FlaskClient, fake_znuny: FakeZnuny, app: Flask) -> None:
    assert admin.post("/admin/sweeps", data={"queues": "Presse"}).status_code in (400, 403)
    assert app.extensions["bouncer"].store.last_run("sweep") is None


def test_press_may_not_open_the_sweep_page(app: Flask) -> None:
    client = https_client(app)
    log_in(client, PRESS)
    assert client.get("/admin/sweeps").status_code == 403
    assert https_client(app).get("/admin/sweeps").status_code == 302  # to the login


def test_last_catchup_is_shown_and_review_filters_by_source(app: Flask, admin: FlaskClient) -> None:
    service = app.extensions["bouncer"]
    run_sweep(service, SweepOptions(apply=True, rate=0, queues=("Presse",)))
    store = service.store
    run_id = store.start_run("catchup", "callback", {"since": "2026-11-30T00:00:00+00:00"}, "service")
    store.finish_run(run_id, "done", {"tickets": 3, "processed": 2, "action_close": 1})
    page = admin.get("/admin/sweeps", headers={"Accept-Language": "en"}).text
    assert "mails processed 2" in page and "closed 1" in page and "applied" in page
    swept = store.list_verdicts(source="sweep", limit=1000)
    assert swept
    review = admin.get("/admin/review?source=sweep", headers={"Accept-Language": "en"}).text
    assert f'id="v{swept[0]["id"]}"' in review
    assert '<span class="badge source">sweep</span>' in review
    assert 'id="v' not in admin.get("/admin/review?source=webhook").text
