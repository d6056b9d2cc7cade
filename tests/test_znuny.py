"""The Znuny wire format on real captures: invoker bodies, TicketGet answers, the inline answer."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bouncer import znuny
from corpus import SHARED

WIRE = SHARED / "otrs-wire"


def _body(name: str) -> dict:
    capture = json.loads((WIRE / f"{name}.json").read_text(encoding="utf-8"))
    return capture["body_json"] if "body_json" in capture else capture["response"]["body_json"]


def test_invoker_body_becomes_one_frozen_event() -> None:
    event = znuny.parse_event(_body("invoker-articlecreate-bounce-postfix-dsn-followup"))
    assert (event.ticket_id, event.article_id, event.old_state) == (2, 6, "new")
    assert event.ticket.queue == "Postmaster" and event.ticket.dynamic_fields["MailFlags"] == "bounce"
    assert event.article.sender_type == "customer" and not event.article.is_internal
    assert any(a.content_type.startswith("message/delivery-status") for a in event.article.attachments)
    assert event.others is not None and all(a.article_id != 6 for a in event.others)
    with pytest.raises(AttributeError):
        event.ticket_id = 3  # type: ignore[misc]


@pytest.mark.parametrize("body, message", [
    ({"Event": {}}, "no 'Ticket'"), ({"Ticket": {}}, "no 'Ticket.Article'"),
    ({"Ticket": {"Article": {"ArticleID": 5}}}, "TicketID"), ({"Ticket": {"TicketID": "x", "Article": {}}}, "TicketID"),
])
def test_a_body_that_is_no_article_event_is_refused(body: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        znuny.parse_event(body)


def test_ticket_get_answer_gives_tickets_with_their_articles() -> None:
    (ticket,) = znuny.parse_ticket_get(_body("rest-ticketget-bounce"))
    assert ticket.ticket_id == 2 and ticket.articles is not None and len(ticket.articles) >= 2
    first = ticket.articles[0]
    assert (first.article_id, first.article_number, first.sender_type) == (2, 1, "customer")
    assert ("From", "Alice Example <alice@example.com>") in first.headers
    with pytest.raises(ValueError):
        znuny.parse_ticket_get({"Error": {"ErrorCode": "TicketGet.AccessDenied"}})


def test_inline_answer_carries_the_history_fields_znuny_needs() -> None:
    answer = znuny.inline_answer(state="closed successful", queue=None, dynamic_fields={"MailClassification": "bounce-hard"},
                                 note=("[otrs-bouncer] bounce-hard", "body"), history_comment="[otrs-bouncer] close")
    assert answer["OTRS_TicketStateSet"] == "closed successful" and "OTRS_TicketQueueSet" not in answer
    assert answer["OTRS_TicketDynamicFieldSet_MailClassification"] == "bounce-hard"
    assert answer["OTRS_TicketArticleAdd"]["HistoryType"] == "AddNote"
    assert answer["OTRS_TicketArticleAdd"]["HistoryComment"] == "[otrs-bouncer] close"


# ---- TicketHistoryGet: the state a follow-up reopened the ticket from ---------------------------------
HISTORY = Path(__file__).resolve().parents[1] / "fixtures" / "znuny" / "rest-tickethistoryget-followup-reopened.json"


def test_the_state_znuny_reopened_a_ticket_from_for_a_follow_up_is_read_from_its_history() -> None:
    answer = json.loads(HISTORY.read_text(encoding="utf-8"))
    assert znuny.state_change_for(answer, 1620) == ("closed successful", "open")


def test_an_article_whose_arrival_changed_no_state_has_no_state_change() -> None:
    answer = json.loads(HISTORY.read_text(encoding="utf-8"))
    assert znuny.state_change_for(answer, 1618) is None  # the ticket's first mail: created as new
    assert znuny.state_change_for(answer, 4711) is None  # not on this ticket


def test_an_agent_s_state_change_before_the_previous_article_is_not_taken_for_the_follow_up_s() -> None:
    answer = json.loads(HISTORY.read_text(encoding="utf-8"))
    lines = answer["TicketHistory"][0]["History"]
    without_reopen = [line for line in lines if line["Name"] != "%%closed successful%%open%%"]
    changed = {"TicketHistory": [{**answer["TicketHistory"][0], "History": without_reopen}]}
    # The agent's close (%%new%%closed successful%%) came before the agent's own article 1619.
    assert znuny.state_change_for(changed, 1620) is None


def test_a_history_answer_without_history_is_a_format_error() -> None:
    with pytest.raises(znuny.ZnunyFormatError):
        znuny.state_change_for({"Error": {"ErrorCode": "TicketHistoryGet.AccessDenied"}}, 1)
