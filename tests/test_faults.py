"""Faults: a full disk, a payload that kills every worker recovering it, unwritable storage, probes.

Afterwards every accepted event has exactly one verdict and nothing accepted is lost: a call we could
not store is answered 503 (Znuny logs it; the catch-up finds the article), never left half-written.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from bouncer.config import Config
from bouncer.spool import MAX_RECOVERIES, Spool
from bouncer.store import Store
from bouncer.store.db import BUSY_SECONDS

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "fault-pass"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"webhook:{PASSWORD}".encode()).decode(),
        "Content-Type": "application/json"}


def invoker_body(ticket_id: int, article_id: int, padding: int = 0) -> bytes:
    article = {"TicketID": ticket_id, "ArticleID": article_id, "ArticleNumber": 1, "SenderType": "customer",
               "From": "MAILER-DAEMON@mx.example", "Subject": "Undelivered Mail Returned to Sender",
               "Body": "This is the mail system. I'm sorry to have to inform you that your message could not be "
                       "delivered.\n<nobody@example.org>: 550 5.1.1 user unknown\n" + "x" * padding,
               "ContentType": "text/plain; charset=utf-8"}
    return json.dumps({"Event": {"Event": "ArticleCreate", "TicketID": ticket_id, "ArticleID": article_id},
                       "Ticket": {"TicketID": ticket_id, "State": "new", "Queue": "Raw", "Article": article}}).encode()


def config_at(directory: Path, **overrides: Any) -> Config:
    return Config(db_path=str(directory / "bouncer.sqlite"), webhook_password=PASSWORD, log_json=False,
                  **overrides).validated()


def verdict_counts(db_path: str) -> list[tuple[int, str, int]]:
    """(article, event status, verdicts) per recorded event."""
    store = Store(db_path)
    try:
        return [tuple(row) for row in store._conn.execute(
            "SELECT e.article_id, e.status, count(v.id) FROM events e LEFT JOIN verdicts v ON v.event_id = e.id "
            "GROUP BY e.id ORDER BY e.article_id")]
    finally:
        store.close()


# ---- a full disk (a small tmpfs) ------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: needs root and a kernel that lets this container mount; skipped elsewhere."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}): full-disk test skipped")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk; returns the filler to delete to give the space back."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


def test_full_disk_answers_503_leaves_no_file_and_loses_nothing_accepted(small_disk: Path) -> None:
    config = config_at(small_disk / "data", min_free_mb=1)
    app = create_app(config)
    client: FlaskClient = app.test_client()
    service = app.extensions["bouncer"]
    assert client.post("/otrs/article-created", data=invoker_body(1, 1), headers=AUTH).status_code == 200
    assert client.get("/readyz").status_code == 200

    filler = fill(small_disk)
    answers = [client.post("/otrs/article-created", data=invoker_body(1, n, padding=40_000), headers=AUTH)
               for n in range(2, 6)]
    assert {a.status_code for a in answers} <= {200, 503}, [a.get_data(as_text=True) for a in answers]
    assert 503 in {a.status_code for a in answers}
    assert not [p.name for p in service.spool.directory.iterdir() if p.name.endswith(".part")], "no half payload"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and any("free" in p for p in ready.get_json()["problems"])

    filler.unlink()
    assert client.get("/readyz").status_code == 200
    for item in service.spool.stale(older_than=-1):  # what was spooled but not recorded: recovery finishes it
        os.utime(item.path, (0, 0))
    service.recover()
    for n in range(2, 6):  # Znuny's re-delivery (or the catch-up) of what was refused
        answer = client.post("/otrs/article-created", data=invoker_body(1, n, padding=40_000), headers=AUTH)
        assert answer.status_code == 200 and answer.get_json()["Result"] in ("processed", "duplicate")
    service.store.close()
    counts = verdict_counts(config.db_path)
    assert [(article, verdicts) for article, _, verdicts in counts] == [(n, 1) for n in range(1, 6)]
    assert "failed" not in {status for _, status, _ in counts}


def test_a_failed_spool_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(tmp_path / "spool", clock=lambda: __import__("datetime").datetime.now())

    def no_space(fd: int, data: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", no_space)
    with pytest.raises(OSError):
        spool.put(1, 2, "webhook", b"{}")
    monkeypatch.undo()
    assert list((tmp_path / "spool").iterdir()) == []


# ---- a payload that kills the worker recovering it --------------------------------------------------

KILLER = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from app import create_app
from bouncer.config import Config
app = create_app(Config(db_path={db!r}, webhook_password="x", log_json=False).validated())
service = app.extensions["bouncer"]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # as gunicorn's timeout or the OOM killer would
service._classify_and_act = die
for item in service.spool.stale(older_than=-1):
    os.utime(item.path, (0, 0))
service.recover()
"""


def test_a_payload_that_kills_every_recovering_worker_is_recorded_failed_after_bounded_recoveries(
        tmp_path: Path) -> None:
    config = config_at(tmp_path)
    app = create_app(config)
    service = app.extensions["bouncer"]
    item = service.spool.put(7, 70, "webhook", invoker_body(7, 70))
    os.utime(item.path, (0, 0))
    script = KILLER.format(repo=str(REPO), db=config.db_path)
    for _ in range(MAX_RECOVERIES):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
        assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-500:]
        assert item.path.exists(), "a killed recovery leaves the payload for the next"
    assert service.recover() == 0  # one more would be the fourth: given up
    assert not item.path.exists() and not list(service.spool.directory.iterdir())
    event = service.store.get_event(service.store.event_id(7, 70))
    assert event["status"] == "failed" and "given up after 3 recoveries" in event["status_note"]
    service.store.close()


# ---- probes -------------------------------------------------------------------------------------------

def test_readyz_reports_low_free_space_and_unwritable_storage(tmp_path: Path) -> None:
    app = create_app(config_at(tmp_path, min_free_mb=10**9))
    client = app.test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503 and any("MB free" in p for p in answer.get_json()["problems"])
    service = app.extensions["bouncer"]
    service.spool.directory.chmod(0o500)
    try:
        if os.access(service.spool.directory, os.W_OK):
            pytest.skip("running as a user whom file modes do not stop (root without DAC checks)")
        assert "spool not writable" in client.get("/readyz").get_json()["problems"]
    finally:
        service.spool.directory.chmod(0o700)
        service.store.close()


def test_probe_token_guards_readyz_and_metrics_but_not_livez(tmp_path: Path) -> None:
    app = create_app(config_at(tmp_path, probe_token="s3cret-probe"))
    client = app.test_client()
    assert client.get("/livez").status_code == 200
    for path in ("/readyz", "/metrics"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer s3cret-probe"}).status_code == 200
    app.extensions["bouncer"].store.close()


# ---- a long SQLite writer and reader in another process -----------------------------------------------

HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE" if sys.argv[2] == "write" else "BEGIN")
conn.execute("SELECT count(*) FROM events").fetchone()
print("holding", flush=True)
time.sleep(float(sys.argv[3]))
conn.execute("ROLLBACK")
"""


def hold(db_path: str, kind: str, seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", HOLDER, db_path, kind, str(seconds)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "holding"
    return process


def test_a_long_writer_elsewhere_gets_503_and_the_spooled_event_is_finished_once_afterwards(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    app = create_app(config)
    client: FlaskClient = app.test_client()
    service = app.extensions["bouncer"]
    assert client.post("/otrs/article-created", data=invoker_body(2, 1), headers=AUTH).status_code == 200

    writer = hold(config.db_path, "write", BUSY_SECONDS + 3)  # e.g. a sqlite3 shell left in a transaction
    answer = client.post("/otrs/article-created", data=invoker_body(2, 2), headers=AUTH)
    assert answer.status_code == 503 and "storage unavailable" in answer.get_json()["error"]
    writer.communicate(timeout=30)

    assert [p.name for p in service.spool.directory.iterdir()], "the accepted payload waits in the spool"
    for item in service.spool.stale(older_than=-1):
        os.utime(item.path, (0, 0))
    assert service.recover() == 1
    again = client.post("/otrs/article-created", data=invoker_body(2, 2), headers=AUTH)  # Znuny's re-delivery
    assert again.get_json()["Result"] == "duplicate"
    service.store.close()
    assert [(a, n) for a, _, n in verdict_counts(config.db_path)] == [(1, 1), (2, 1)]


def test_a_long_reader_elsewhere_does_not_stop_the_webhook(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    app = create_app(config)
    client: FlaskClient = app.test_client()
    assert client.post("/otrs/article-created", data=invoker_body(3, 1), headers=AUTH).status_code == 200
    reader = hold(config.db_path, "read", 5)  # a report or a backup reading for a while (WAL: readers never block)
    try:
        for n in range(2, 12):
            assert client.post("/otrs/article-created", data=invoker_body(3, n), headers=AUTH).status_code == 200
    finally:
        reader.communicate(timeout=30)
    app.extensions["bouncer"].store.close()
    assert [n for _, _, n in verdict_counts(config.db_path)] == [1] * 11
