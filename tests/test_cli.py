"""`flask --app app classify`, run as users run it: a real subprocess, files, folders, stdin, JSON bodies."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from corpus import FIXTURES, REPO, SHARED

FIELDS = {"path", "category", "bounce_type", "reason", "recipients", "status", "diagnostic", "confidence",
          "evidence", "original_message_id", "original_subject", "return_date"}


def run_cli(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "BOUNCER_DB_PATH": str((cwd or REPO) / "cli-test.sqlite"), "BOUNCER_LOG_JSON": "1"}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "classify", *args], cwd=REPO,
                          input=stdin, capture_output=True, env=env, timeout=120)


def json_lines(result: subprocess.CompletedProcess[bytes]) -> list[dict]:
    return [json.loads(line) for line in result.stdout.decode().splitlines() if line.startswith("{")]


def test_json_output_has_every_field_for_a_bounce_fixture(tmp_path: Path) -> None:
    mail = FIXTURES / "bounce_hard" / "postfix-dsn-pressemitteilung-user-unknown.eml"
    result = run_cli("--json", str(mail), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (line,) = json_lines(result)
    assert FIELDS <= set(line)
    assert (line["path"], line["category"], line["bounce_type"]) == (str(mail), "bounce", "hard")


def test_a_folder_is_walked_recursively_in_sorted_order_yielding_only_mails(tmp_path: Path) -> None:
    result = run_cli("--json", str(FIXTURES), cwd=tmp_path)
    paths = [line["path"] for line in json_lines(result)]
    assert len(paths) == len(list(FIXTURES.glob("*/*.eml")))  # not README.md, not the .expect.json sidecars
    assert all(p.endswith(".eml") for p in paths)
    assert paths == sorted(paths, key=lambda p: (str(Path(p).parent), Path(p).name))


def test_a_folder_yields_mails_by_their_first_line_and_invoker_bodies_but_no_notes_or_sidecars(tmp_path: Path) -> None:
    folder = tmp_path / "mails"
    folder.mkdir()
    raw = (FIXTURES / "auto_reply" / "exchange-automatische-antwort-de-bis-12-01.eml").read_bytes()
    capture = (SHARED / "otrs-wire" / "invoker-articlecreate-bounce-postfix-dsn-followup.json").read_bytes()
    inputs = {"a.eml": raw, "b.txt": raw, "c": raw, "d.mbox": b"From MAILER-DAEMON Mon Nov 30 10:00:00 2026\n" + raw,
              "e.json": capture}
    notes = {"README.md": b"# Testmails\n\nHier liegen Mails.\n", "a.expect.json": b'{"status": "5.1.1"}',
             "notes.txt": b"Notizen zur Sammlung\n", "other.json": b'{"Name": "kein Invoker"}', "empty": b""}
    for name, data in {**inputs, **notes}.items():
        (folder / name).write_bytes(data)
    result = run_cli("--json", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [Path(line["path"]).name for line in json_lines(result)] == sorted(inputs)


def test_stdin_is_read_for_a_dash(tmp_path: Path) -> None:
    raw = (FIXTURES / "auto_reply" / "exchange-automatische-antwort-de-bis-12-01.eml").read_bytes()
    (line,) = json_lines(run_cli("--json", "-", stdin=raw, cwd=tmp_path))
    assert (line["path"], line["category"], line["return_date"]) == ("-", "auto_reply", "2027-01-12")


@pytest.mark.parametrize("wrapped", [True, False], ids=["capture-wrapper", "bare-body"])
def test_a_znuny_invoker_body_goes_through_the_article_adapter(tmp_path: Path, wrapped: bool) -> None:
    capture = json.loads((SHARED / "otrs-wire" / "invoker-articlecreate-bounce-postfix-dsn-followup.json").read_text())
    target = tmp_path / "body.json"
    target.write_text(json.dumps(capture if wrapped else capture["body_json"]))
    (line,) = json_lines(run_cli("--json", str(target), cwd=tmp_path))
    assert (line["category"], line["bounce_type"], line["recipients"]) == ("bounce", "hard", ["alice@example.com"])


def test_a_body_that_is_no_invoker_request_is_human_with_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = run_cli("--json", str(broken), cwd=tmp_path)
    assert result.returncode == 0
    assert [(line["category"], bool(line["error"])) for line in json_lines(result)] == [("human", True)]


@pytest.mark.parametrize("kind", ["missing", "under-a-file", "no-permission"])
def test_an_input_that_cannot_be_read_is_an_error_on_stderr_and_the_others_are_still_classified(
        tmp_path: Path, kind: str) -> None:
    bad = tmp_path / "fehlt.eml"
    if kind == "no-permission":
        if os.geteuid() == 0:
            pytest.skip("root reads any file")
        bad.write_bytes(b"Subject: x\n\nx\n")
        bad.chmod(0)
    elif kind == "under-a-file":
        (tmp_path / "datei.eml").write_bytes(b"Subject: x\n\nx\n")
        bad = tmp_path / "datei.eml" / "fehlt.eml"
    good = FIXTURES / "bounce_hard" / "postfix-dsn-pressemitteilung-user-unknown.eml"
    result = run_cli("--json", str(bad), str(good), cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot read {bad}" in result.stderr.decode()
    assert [line["path"] for line in json_lines(result)] == [str(good)]


def test_table_output_names_category_and_path(tmp_path: Path) -> None:
    mail = FIXTURES / "read_receipt" / "exchange-gelesen-de.eml"
    result = run_cli(str(mail), cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.decode().startswith("read_receipt") and str(mail) in result.stdout.decode()


def test_no_path_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(cwd=tmp_path)
    assert result.returncode == 2
    assert b"Missing argument" in result.stderr


def test_user_add_command_starts_no_background_work(tmp_path: Path) -> None:
    """`flask --app app user add` loads the app but must not recover, purge or drain the outbox."""
    env = {**os.environ, "BOUNCER_DB_PATH": str(tmp_path / "data" / "bouncer.sqlite"), "BOUNCER_LOG_JSON": "0",
           "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "user", "add", "lena", "--role", "press",
                             "--password", "Lenas-Passwort-7"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "added lena (press)" in result.stdout
    for line in ("otrs-bouncer ready", "retention purge", "outbox"):
        assert line not in result.stderr + result.stdout


def test_create_app_starts_no_thread(tmp_path: Path) -> None:
    from app import create_app
    from bouncer.config import Config

    before = {t.name for t in threading.enumerate()}
    app = create_app(Config(db_path=str(tmp_path / "b.sqlite"), log_json=False))
    assert {t.name for t in threading.enumerate()} - before == set()
    app.extensions["bouncer"].store.close()
