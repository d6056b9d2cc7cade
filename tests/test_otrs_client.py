"""OtrsClient against FakeZnuny: real HTTP, answers and request shapes from the otrs-wire captures."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fake_znuny import FakeZnuny, Wire

from bouncer.config import Config
from bouncer.otrs import AGENT_SESSION_COOKIE, Note, OtrsClient, OtrsError, OtrsUnavailable


@pytest.fixture
def client(fake_znuny: FakeZnuny) -> OtrsClient:
    return OtrsClient(fake_znuny.base_url, fake_znuny.webservice, fake_znuny.user, fake_znuny.password, timeout=5)


@pytest.fixture
def wire(fake_znuny: FakeZnuny) -> Wire:
    return fake_znuny.wire


def captured_request(wire: Wire, name: str) -> dict[str, Any]:
    """The JSON body of a captured request, with its placeholder SessionID removed."""
    body = wire.request_body(name)
    body.pop("SessionID", None)
    return body


def sent(fake: FakeZnuny, operation: str) -> dict[str, Any]:
    """The JSON body of the last request for `operation`, without its SessionID."""
    body = dict(fake.requests_for(operation)[-1].json)
    body.pop("SessionID")
    return body


class _NeverValid(set[str]):
    """A session store that forgets at once: every session is refused, even a fresh one."""

    def add(self, element: str) -> None:
        pass


def test_client_from_config_talks_to_the_configured_znuny(fake_znuny: FakeZnuny) -> None:
    config = Config(otrs_url=fake_znuny.base_url, otrs_user=fake_znuny.user, otrs_password=fake_znuny.password)

    assert OtrsClient.from_config(config).ticket_get(2)["TicketID"] == 2


def test_client_from_config_without_credentials_is_refused() -> None:
    with pytest.raises(ValueError):
        OtrsClient.from_config(Config(otrs_url="http://znuny.example/otrs"))


# -- sessions ------------------------------------------------------------------------------


def test_session_is_created_once_and_reused_for_later_calls(fake_znuny: FakeZnuny, client: OtrsClient,
                                                            wire: Wire) -> None:
    client.ticket_get(2)
    client.ticket_get(3)

    creates = fake_znuny.requests_for("SessionCreate")
    assert len(creates) == 1
    assert creates[0].method == "POST" and creates[0].path.endswith("/Webservice/BounceWebhook/Session")
    assert set(creates[0].json) == set(wire.request_body("sessioncreate"))
    assert creates[0].headers["Accept"] == wire.rest("sessioncreate")["request"]["headers"]["Accept"]
    session_ids = {r.json["SessionID"] for r in fake_znuny.requests_for("TicketGet")}
    assert session_ids == {client.session_id()} and session_ids <= fake_znuny.sessions


def test_bad_credentials_raise_a_permanent_error_that_does_not_show_the_password(fake_znuny: FakeZnuny) -> None:
    client = OtrsClient(fake_znuny.base_url, "BounceWebhook", fake_znuny.user, "wrong-s3cret", timeout=5)

    with pytest.raises(OtrsError) as caught:
        client.ticket_get(2)

    assert caught.value.code == "SessionCreate.AuthFail"
    assert caught.value.retryable is False
    assert "wrong-s3cret" not in str(caught.value) and "wrong-s3cret" not in repr(client)
    assert fake_znuny.requests_for("TicketGet") == []


def test_expired_session_is_renewed_once_and_the_call_succeeds(fake_znuny: FakeZnuny, client: OtrsClient) -> None:
    client.ticket_get(2)
    fake_znuny.expire_sessions()

    client.ticket_update(2, state="closed successful")

    assert len(fake_znuny.requests_for("SessionCreate")) == 2
    first, second = fake_znuny.requests_for("TicketUpdate")
    assert first.json["SessionID"] != second.json["SessionID"] == client.session_id()
    assert fake_znuny.tickets[2]["State"] == "closed successful"


def test_session_refused_even_after_relogin_gives_up_after_one_retry(fake_znuny: FakeZnuny,
                                                                     client: OtrsClient) -> None:
    fake_znuny.sessions = _NeverValid()

    with pytest.raises(OtrsError) as caught:
        client.ticket_get(2)

    assert caught.value.code == "TicketGet.AuthFail"
    assert caught.value.retryable is False
    assert len(fake_znuny.requests_for("SessionCreate")) == 2
    assert len(fake_znuny.requests_for("TicketGet")) == 2


# -- TicketGet -----------------------------------------------------------------------------


def test_ticket_get_returns_the_ticket_dict_shaped_like_the_minimal_capture(client: OtrsClient, wire: Wire) -> None:
    ticket = client.ticket_get(2)

    captured = wire.answer("ticketget-minimal")["Ticket"][0]
    assert set(ticket) == set(captured)
    assert ticket["TicketNumber"] == captured["TicketNumber"] == "2026112810000011"
    assert (ticket["State"], ticket["Queue"]) == ("new", "Postmaster")


def test_ticket_get_options_bring_articles_and_dynamic_fields(fake_znuny: FakeZnuny, client: OtrsClient) -> None:
    ticket = client.ticket_get(2, AllArticles=True, DynamicFields=1)

    assert [a["ArticleID"] for a in ticket["Article"]] == [2, 4, 6]
    assert {"Name": "MailFlags", "Value": "bounce"} in ticket["DynamicField"]
    assert {"Name": "AutoSubmitted", "Value": "auto-replied"} in ticket["Article"][2]["DynamicField"]
    assert "Attachment" not in ticket["Article"][2]
    assert fake_znuny.requests_for("TicketGet")[-1].json["AllArticles"] == 1


def test_ticket_get_sends_the_session_in_the_body_never_in_the_url(fake_znuny: FakeZnuny, client: OtrsClient,
                                                                   wire: Wire) -> None:
    client.ticket_get(2, AllArticles=1, DynamicFields=1)

    request = fake_znuny.requests_for("TicketGet")[-1]
    assert (request.method, request.query) == ("POST", {})
    assert request.path.endswith("/Webservice/BounceWebhook/Ticket/2")
    assert set(request.json) == set(wire.request_body("ticketget-post-body"))


def test_ticket_get_of_an_unknown_ticket_is_a_permanent_error(client: OtrsClient) -> None:
    with pytest.raises(OtrsError) as caught:
        client.ticket_get(999999)

    assert caught.value.code == "TicketGet.AccessDenied"
    assert caught.value.retryable is False


# -- TicketUpdate --------------------------------------------------------------------------


def test_close_sends_the_captured_body_and_the_ticket_is_closed(fake_znuny: FakeZnuny, client: OtrsClient,
                                                                wire: Wire) -> None:
    answer = client.ticket_update(2, state="closed successful")

    request = fake_znuny.requests_for("TicketUpdate")[-1]
    assert request.method == "PATCH" and request.path.endswith("/Webservice/BounceWebhook/Ticket/2")
    assert sent(fake_znuny, "TicketUpdate") == captured_request(wire, "ticketupdate-close")
    assert answer == wire.answer("ticketupdate-close")
    ticket = client.ticket_get(2)
    assert (ticket["State"], ticket["StateType"]) == ("closed successful", "closed")


def test_queue_move_sends_the_captured_body(fake_znuny: FakeZnuny, client: OtrsClient, wire: Wire) -> None:
    client.ticket_update(5, queue="Bounces")

    assert sent(fake_znuny, "TicketUpdate") == captured_request(wire, "ticketupdate-queue")
    assert client.ticket_get(5)["Queue"] == "Bounces"


def test_one_dynamic_field_is_sent_as_an_object_like_the_capture(fake_znuny: FakeZnuny, client: OtrsClient,
                                                                 wire: Wire) -> None:
    client.ticket_update(2, dynamic_fields={"MailClassification": "bounce"})

    assert sent(fake_znuny, "TicketUpdate") == captured_request(wire, "ticketupdate-dynamicfield")
    assert {"Name": "MailClassification", "Value": "bounce"} in client.ticket_get(2, DynamicFields=1)["DynamicField"]


def test_note_is_internal_and_sent_exactly_like_the_captured_note(fake_znuny: FakeZnuny, client: OtrsClient,
                                                                  wire: Wire) -> None:
    captured = captured_request(wire, "ticketupdate-note")

    answer = client.ticket_update(2, note=Note(captured["Article"]["Subject"], captured["Article"]["Body"]))

    assert sent(fake_znuny, "TicketUpdate") == captured
    assert isinstance(answer["ArticleID"], int) and answer["TicketID"] == "2"
    note = client.ticket_get(2, AllArticles=1)["Article"][-1]
    assert note["ArticleID"] == answer["ArticleID"]
    assert (note["SenderType"], note["IsVisibleForCustomer"]) == ("agent", 0)
    assert note["Subject"] == "Bounce detected"


def test_combined_update_sends_everything_in_one_call_and_ends_like_the_capture(
        fake_znuny: FakeZnuny, client: OtrsClient, wire: Wire) -> None:
    captured = captured_request(wire, "ticketupdate-combined")

    client.ticket_update(
        4, state="closed successful", queue="Misc",
        dynamic_fields={"MailClassification": "auto-reply", "MailFlags": "ooo"},
        note=Note("Auto-reply detected", "Closed by webhook (Auto-Submitted: auto-replied)."),
    )

    assert len(fake_znuny.requests_for("TicketUpdate")) == 1
    body = sent(fake_znuny, "TicketUpdate")
    assert body["Ticket"] == captured["Ticket"]
    assert body["DynamicField"] == captured["DynamicField"]
    # The capture sent MimeType+Charset; we send the note capture's equivalent ContentType.
    assert body["Article"] == {**wire.request_body("ticketupdate-note")["Article"],
                               "Subject": "Auto-reply detected",
                               "Body": "Closed by webhook (Auto-Submitted: auto-replied)."}
    after = wire.answer("ticketget-after-combined")["Ticket"][0]
    ticket = client.ticket_get(4, DynamicFields=1)
    assert {k: ticket[k] for k in ("State", "StateType", "Queue", "QueueID")} == \
        {k: after[k] for k in ("State", "StateType", "Queue", "QueueID")}
    assert ticket["DynamicField"] == after["DynamicField"]


def test_pending_time_is_sent_as_a_diff_in_minutes(fake_znuny: FakeZnuny, client: OtrsClient, wire: Wire) -> None:
    client.ticket_update(3, state="pending reminder", pending_minutes=1440)

    assert sent(fake_znuny, "TicketUpdate") == captured_request(wire, "ticketupdate-pending")


def test_update_without_changes_is_refused_before_any_request(fake_znuny: FakeZnuny, client: OtrsClient) -> None:
    with pytest.raises(ValueError):
        client.ticket_update(2)

    assert fake_znuny.received == []


def test_update_of_an_unknown_ticket_is_a_permanent_error(client: OtrsClient) -> None:
    with pytest.raises(OtrsError) as caught:
        client.ticket_update(999999, state="closed successful")

    assert caught.value.code == "TicketUpdate.AccessDenied"
    assert caught.value.retryable is False


def test_unknown_state_is_a_permanent_error_and_changes_nothing(fake_znuny: FakeZnuny, client: OtrsClient) -> None:
    with pytest.raises(OtrsError) as caught:
        client.ticket_update(2, state="no such state", queue="Misc")

    assert caught.value.code == "TicketUpdate.InvalidParameter"
    assert caught.value.retryable is False
    assert (fake_znuny.tickets[2]["State"], fake_znuny.tickets[2]["Queue"]) == ("new", "Postmaster")


# -- TicketSearch --------------------------------------------------------------------------


def test_search_by_dynamic_field_returns_int_ids_like_the_capture(fake_znuny: FakeZnuny, client: OtrsClient,
                                                                  wire: Wire) -> None:
    found = client.ticket_search(DynamicField_MailFlags={"Equals": "bounce"})

    assert found == [int(i) for i in wire.answer("ticketsearch-dynamicfield")["TicketID"]] == [5, 2]
    request = fake_znuny.requests_for("TicketSearch")[-1]
    assert request.method == "POST" and request.path.endswith("/Webservice/BounceWebhook/TicketSearch")
    assert sent(fake_znuny, "TicketSearch") == captured_request(wire, "ticketsearch-dynamicfield")


def test_search_with_list_criteria_sends_the_captured_body(fake_znuny: FakeZnuny, client: OtrsClient,
                                                           wire: Wire) -> None:
    captured = captured_request(wire, "ticketsearch-title")

    found = client.ticket_search(**captured)

    assert sent(fake_znuny, "TicketSearch") == captured
    assert found == [int(i) for i in wire.answer("ticketsearch-title")["TicketID"]]


def test_search_without_matches_returns_an_empty_list(client: OtrsClient) -> None:
    assert client.ticket_search(DynamicField_MailClassification={"Equals": "nothing-has-this"}) == []


# -- AgentTicketPlain ----------------------------------------------------------------------


def test_article_plain_returns_the_raw_mail_fetched_with_the_session_cookie(
        fake_znuny: FakeZnuny, client: OtrsClient, wire: Wire) -> None:
    raw = client.article_plain(2, 6)

    assert raw.startswith(b"Return-Path: <>\nDelivered-To: support@helpdesk.example\n")
    assert raw == wire.http("web-agentticketplain-download-bounce-postfix-dsn.http").body
    request = fake_znuny.requests_for("AgentTicketPlain")[-1]
    assert request.path == "/znuny/index.pl"
    assert request.query == {"Action": "AgentTicketPlain", "TicketID": "2", "ArticleID": "6",
                             "Subaction": "Download"}
    assert request.cookies == {AGENT_SESSION_COOKIE: client.session_id()}


def test_article_plain_renews_an_expired_session_once(fake_znuny: FakeZnuny, client: OtrsClient) -> None:
    client.session_id()
    fake_znuny.expire_sessions()

    raw = client.article_plain(3, 7)

    assert b"X-Auto-Response-Suppress: All" in raw
    assert len(fake_znuny.requests_for("SessionCreate")) == 2
    assert len(fake_znuny.requests_for("AgentTicketPlain")) == 2


def test_article_plain_login_page_is_an_error_not_a_mail(fake_znuny: FakeZnuny, client: OtrsClient) -> None:
    fake_znuny.sessions = _NeverValid()

    with pytest.raises(OtrsError) as caught:
        client.article_plain(2, 6)

    assert caught.value.code == "AgentTicketPlain.AuthFail"
    assert caught.value.retryable is False


# -- outages -------------------------------------------------------------------------------


def test_server_answering_503_is_retryable_and_recovers_after_up(fake_znuny: FakeZnuny,
                                                                 client: OtrsClient) -> None:
    client.ticket_get(2)
    fake_znuny.down("503")

    with pytest.raises(OtrsUnavailable) as caught:
        client.ticket_update(2, state="closed successful")
    assert caught.value.retryable is True
    assert caught.value.code == "TicketUpdate.HTTP503"
    assert fake_znuny.tickets[2]["State"] == "new"

    fake_znuny.up()
    client.ticket_update(2, state="closed successful")
    assert fake_znuny.tickets[2]["State"] == "closed successful"


def test_refused_connection_is_retryable_and_recovers_after_up(fake_znuny: FakeZnuny, client: OtrsClient) -> None:
    fake_znuny.down("refuse")

    with pytest.raises(OtrsUnavailable) as caught:
        client.ticket_get(2)
    assert caught.value.code == "SessionCreate.Unreachable"
    assert caught.value.retryable is True
    assert fake_znuny.password not in str(caught.value)

    fake_znuny.up()
    assert client.ticket_get(2)["TicketID"] == 2


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


def test_no_answer_within_the_timeout_is_retryable(silent_port: int) -> None:
    client = OtrsClient(f"http://127.0.0.1:{silent_port}/otrs", "BounceWebhook", "agent", "pw", timeout=0.2)

    with pytest.raises(OtrsUnavailable) as caught:
        client.session_id()

    assert caught.value.code == "SessionCreate.Timeout"
    assert caught.value.retryable is True
