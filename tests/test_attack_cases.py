"""The attack cases (../shared/attack-cases): what comes from mail content is classified, a malformed
body is refused with 400 and leaves nothing behind, and nothing answers 500."""
from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from bouncer.cli import classify_path
from bouncer.config import Config
from bouncer.mime import MAX_PARTS, parse
from bouncer.service import Service
from corpus import SHARED
from hostile import article_mail

ATTACKS = SHARED / "attack-cases"
PASSWORD = "hook-pass-for-tests"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"webhook:{PASSWORD}".encode()).decode(),
        "Content-Type": "application/json"}
# A malformed body (not mail content): refused.
REFUSED = {"F10a-event-is-string.json": "'Event' must be an object",
           "F10b-ticketid-2pow63.json": "TicketID",
           "F10d-deeply-nested.json": "nested too deep"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    app = create_app(Config(db_path=str(tmp_path / "db.sqlite"), webhook_password=PASSWORD, log_json=False).validated())
    yield app.test_client()
    app.extensions["bouncer"].store.close()


def service_of(client: FlaskClient) -> Service:
    return client.application.extensions["bouncer"]


def leftovers(client: FlaskClient) -> list[str]:
    return sorted(p.name for p in service_of(client).spool.directory.iterdir())


def event_count(client: FlaskClient) -> int:
    return service_of(client).store._conn.execute("SELECT count(*) FROM events").fetchone()[0]


def post(client: FlaskClient, body: bytes | dict[str, Any], headers: dict[str, str] = AUTH) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/otrs/article-created", data=data, headers=headers)


def attack_files() -> list[Path]:
    return sorted(ATTACKS.glob("*.json"))


@pytest.mark.skipif(not ATTACKS.is_dir(), reason="shared attack cases not present")
@pytest.mark.parametrize("path", attack_files(), ids=lambda p: p.name)
def test_attack_case_is_classified_or_refused_with_400_and_never_answers_500(client: FlaskClient, path: Path) -> None:
    response = post(client, path.read_bytes())
    if path.name in REFUSED:
        assert response.status_code == 400
        assert REFUSED[path.name] in response.get_json()["error"]
        assert event_count(client) == 0
    else:
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["Result"] == "processed"
        assert event_count(client) == 1
    assert leftovers(client) == [], "nothing is left in the spool"


@pytest.mark.skipif(not ATTACKS.is_dir(), reason="shared attack cases not present")
@pytest.mark.parametrize("path", [*attack_files(), *sorted(ATTACKS.glob("*.eml"))], ids=lambda p: p.name)
def test_flask_classify_gives_every_attack_case_a_verdict(path: Path) -> None:
    verdict = classify_path(str(path))
    assert verdict.category in ("human", "bounce", "auto_reply", "read_receipt", "feedback_report")


def test_rfc2231_parameter_in_an_unknown_charset_is_read_and_named_in_the_evidence() -> None:
    mail = parse(b"From: a@b.example\nSubject: hi\nContent-Type: text/plain; name*=nope''%41\n\nbody\n")
    assert mail.params["name"] == "A"
    assert "unknown charset 'nope'" in (mail.error or "")


@pytest.mark.parametrize("charset", ["punycode", "idna", "rot13", "base64", "undefined", "x-unknown", "utf-8\x00"])
def test_a_part_in_a_charset_that_is_no_text_encoding_is_read_as_text(charset: str) -> None:
    raw = (f"From: a@b.example\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; "
           f"charset={charset}\n\nGr\xfc\xdfe\n--b--\n").encode("latin-1")
    assert parse(raw).parts[0].text.startswith("Gr")


@pytest.mark.parametrize("year", ["9999", "0001", "1"])
def test_an_enclosed_original_dated_in_an_implausible_year_is_recorded(client: FlaskClient, year: str) -> None:
    enclosed = f"From: presse@partei.example\nSubject: Newsletter\nDate: Fri, 31 Dec {year} 23:59:59 +0000\n\nText"
    body = invoker_body(1, 2, attachments=[{"ContentType": "message/rfc822", "Filename": "original.eml",
                                            "Content": base64.b64encode(enclosed.encode()).decode()}],
                        Subject="Automatische Antwort: Newsletter", DynamicField_AutoSubmitted="auto-replied")
    response = post(client, body)
    assert response.status_code == 200 and response.get_json()["Result"] == "processed"


@pytest.mark.parametrize("value", [12345, 1.5, ["a"], {"x": 1}, True])
def test_ses_json_with_a_subject_of_another_type_is_classified(client: FlaskClient, value: Any) -> None:
    ses = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": [
        {"emailAddress": "x@y.org", "status": "5.1.1"}]}, "mail": {"messageId": 7, "commonHeaders": {
            "subject": value, "messageId": value, "date": value, "from": [value]}}}
    response = post(client, invoker_body(1, 3, Body=json.dumps(ses), From="no-reply@amazonses.com"))
    assert response.status_code == 200
    assert response.get_json()["Category"] == "bounce"


def test_non_basic_authorization_is_401(client: FlaskClient) -> None:
    for header in ("Bearer x", "Digest username=webhook", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
        response = post(client, invoker_body(1, 4), {"Authorization": header, "Content-Type": "application/json"})
        assert response.status_code == 401, header
    assert leftovers(client) == [] and event_count(client) == 0


@pytest.mark.parametrize(("change", "reason"), [
    (lambda b: b.update(Event="ArticleCreate"), "'Event' must be an object"),
    (lambda b: b.update(Event=[1]), "'Event' must be an object"),
    (lambda b: b.update(Ticket=[]), "'Ticket'"),
    (lambda b: b["Ticket"].update(Article="x"), "'Ticket.Article'"),
    (lambda b: b["Event"].update(TicketID=2**63), "TicketID"),
    (lambda b: b["Event"].update(ArticleID=-1), "ArticleID"),
    (lambda b: b["Event"].update(ArticleID="²"), "ArticleID"),
    (lambda b: b["Event"].update(ArticleID="9" * 30), "ArticleID"),
])
def test_malformed_body_is_refused_with_400_and_leaves_nothing_behind(client: FlaskClient, change: Any,
                                                                      reason: str) -> None:
    body = invoker_body(5, 6)
    body["Ticket"]["TicketID"] = body["Ticket"]["Article"]["TicketID"] = None
    body["Ticket"]["Article"]["ArticleID"] = None
    change(body)
    response = post(client, body)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]
    assert leftovers(client) == [] and event_count(client) == 0


@pytest.mark.parametrize("field", ["Body", "Subject", "From", "To", "ContentType", "MessageID", "References",
                                   "Attachment", "DynamicField_AutoSubmitted"])
@pytest.mark.parametrize("value", [7, 2**70, None, [1, 2], {"a": "b"}, True, "\ud800"])
def test_article_fields_of_any_json_type_are_classified(client: FlaskClient, field: str, value: Any) -> None:
    response = post(client, invoker_body(7, 8, **{field: value}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert leftovers(client) == []


def test_a_million_empty_znuny_attachments_are_capped_like_raw_parts() -> None:
    article = invoker_body(1, 1, attachments=[{}] * 1_000_000)["Ticket"]["Article"]
    mail = article_mail(article)
    assert len(mail.parts) <= MAX_PARTS + 1
    assert f"only the first {MAX_PARTS} read" in (mail.error or "")


def invoker_body(ticket_id: int, article_id: int, attachments: list[Any] | None = None, **article: Any) -> dict[str, Any]:
    """A minimal Znuny invoker body (as in otrs-wire); `article` overrides Ticket.Article fields."""
    fields: dict[str, Any] = {
        "TicketID": ticket_id, "ArticleID": article_id, "ArticleNumber": 1, "SenderType": "customer",
        "CommunicationChannelID": 1, "From": "Max <max@example.org>", "To": "presse@partei.example",
        "Subject": "Frage", "Body": "Hallo", "ContentType": "text/plain; charset=utf-8",
        "MessageID": f"<a{article_id}@example.org>", "Attachment": attachments or []}
    fields.update(article)
    return copy.deepcopy({"Event": {"Event": "ArticleCreate", "TicketID": ticket_id, "ArticleID": article_id},
                          "Ticket": {"TicketID": ticket_id, "State": "new", "Queue": "Raw", "Article": fields}})


def test_a_large_znuny_attachment_is_sized_and_only_its_top_decoded() -> None:
    import tracemalloc

    from bouncer.mail import TEXT_CAP

    pdf = base64.encodebytes(b"%PDF-1.7" + b"\0" * (12 * 1024 * 1024)).decode()
    text = base64.encodebytes(("Zeile\r\n" * 400_000).encode()).decode().replace("\n", "\r\n")
    article = invoker_body(1, 1, attachments=[
        {"ContentType": "application/pdf", "Filename": "antragsbuch.pdf", "Content": pdf},
        {"ContentType": "text/plain; charset=utf-8", "Filename": "log.txt", "Content": text}])["Ticket"]["Article"]
    tracemalloc.start()
    mail = article_mail(article)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sizes = {p.filename: p.size for p in mail.parts}
    assert sizes["antragsbuch.pdf"] == 12 * 1024 * 1024 + 8 and sizes["log.txt"] == 7 * 400_000
    assert next(p for p in mail.parts if p.filename == "log.txt").text == ("Zeile\r\n" * 400_000)[:TEXT_CAP]
    assert peak < 4 * 1024 * 1024, "neither attachment is decoded whole"


@pytest.mark.parametrize("sender", ["Re: AW: Fwd: " * 400, "a: " * 2000, "x " + "a:" * 2000, " :" * 300,
                                    "a:" * 490 + "x <max@example.org>", "(" * 3000 + "x@y.de", "<" * 5000])
def test_a_from_that_the_standard_address_parser_cannot_take_is_recorded(client: FlaskClient, sender: str) -> None:
    """email.utils.parseaddr recursed out of the stack on "a:a:a:..." (found by bench/fuzz.py): 500."""
    response = post(client, invoker_body(9, 9, From=sender))
    assert response.status_code == 200 and response.get_json()["Result"] == "processed"
    assert leftovers(client) == []
