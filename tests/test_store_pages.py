"""The store queries the pages added: the review queue's filters, dead-address counts, revived addresses."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path
from typing import Iterator

import pytest

from bouncer.store import MailMeta, PlannedAction, Store
from bouncer.verdict import Original, Verdict
from clock import Clock

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
PR = Original(message_id="<pm-1@presse.example.de>", subject="Pressemitteilung Klimaplan")
OTHER = Original(message_id="<mb-1@mitglieder.example.de>", subject="Mitgliederbrief")


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store(tmp_path / "bouncer.sqlite", clock=clock) as s:
        for original in (PR, OTHER):  # registered by the press office: their bounces count
            s.register_mailing(str(original.subject), T0 - timedelta(days=1), original.message_id)
        yield s


_articles = count(1)


def record(store: Store, verdict: Verdict, *, from_addr: str = "MAILER-DAEMON@mx.example.net",
           action: str | None = "close", state: str = "done", in_reply_to: str | None = None) -> int:
    """A verdict the way the service records it, with one ticket update planned as `action`."""
    article_id = next(_articles)
    planned = None if action is None else PlannedAction(
        "ticket_update", {"action": action}, {"state": "open"}, "callback", state)
    recorded = store.record_event("webhook", verdict, MailMeta(
        ticket_id=7, article_id=article_id, from_addr=from_addr, subject="Undelivered", in_reply_to=in_reply_to),
        planned)
    assert recorded is not None
    return recorded.verdict_id


def hard(address: str, original: Original = PR, confidence: float = 0.98) -> Verdict:
    return Verdict(category="bounce", confidence=confidence, bounce_type="hard", reason="user_unknown",
                   status="5.1.1", recipients=(address,), evidence=("dsn",), original=original)


def soft(address: str) -> Verdict:
    return Verdict(category="bounce", confidence=0.95, bounce_type="soft", reason="mailbox_full",
                   status="4.2.2", recipients=(address,), evidence=("dsn",), original=PR)


def test_review_queue_filters_by_planned_action_not_by_a_later_reopen(store: Store) -> None:
    closed = record(store, hard("a@example.org"), action="close")
    tagged = record(store, hard("b@example.org"), action="tag")
    store.plan_action(1, closed, 7, "reopen", {"action": "reopen"}, None, "callback", "pending")
    assert [v["id"] for v in store.list_verdicts(action="close")] == [closed]
    assert [v["id"] for v in store.list_verdicts(action="tag")] == [tagged]
    assert store.list_verdicts(action="reopen") == []


def test_review_queue_lists_each_verdicts_actions_with_planned_action_mode_and_state(store: Store) -> None:
    verdict_id = record(store, hard("a@example.org"), action="close", state="dry-run")
    [row] = store.list_verdicts()
    assert row["id"] == verdict_id and row["evidence"] == ["dsn"] and row["recipients"] == ["a@example.org"]
    assert [(a["kind"], a["action"], a["mode"], a["state"]) for a in row["actions"]] == [
        ("ticket_update", "close", "callback", "dry-run")]


def test_review_queue_filters_by_category_state_confidence_date_review_and_mailing(store: Store,
                                                                                    clock: Clock) -> None:
    old = record(store, hard("a@example.org", confidence=0.7), state="failed")
    clock.now += timedelta(days=2)
    new = record(store, hard("b@example.org", original=OTHER))
    reply = record(store, Verdict(category="auto_reply", confidence=0.9, evidence=("ooo",)),
                   from_addr="c@example.org", in_reply_to=PR.message_id, action="tag", state="pending")
    store.set_review(new, "confirmed", "admin")
    assert [v["id"] for v in store.list_verdicts()] == [reply, new, old]  # newest first
    assert [v["id"] for v in store.list_verdicts(category="bounce")] == [new, old]
    assert [v["id"] for v in store.list_verdicts(action_state="failed")] == [old]
    assert [v["id"] for v in store.list_verdicts(max_conf=0.8)] == [old]
    assert [v["id"] for v in store.list_verdicts(min_conf=0.85, max_conf=0.95)] == [reply]
    assert [v["id"] for v in store.list_verdicts(since=T0 + timedelta(days=1))] == [reply, new]
    assert [v["id"] for v in store.list_verdicts(until=T0 + timedelta(days=1))] == [old]
    assert [v["id"] for v in store.list_verdicts(review="confirmed")] == [new]
    pr_mailing = store.get_verdict(old)["mailing_id"]  # type: ignore[index]
    assert [v["id"] for v in store.list_verdicts(mailing_id=pr_mailing)] == [reply, old]
    assert [v["id"] for v in store.list_verdicts(limit=1, offset=1)] == [new]


def test_count_dead_addresses_matches_dead_addresses_for_every_filter(store: Store, clock: Clock) -> None:
    record(store, hard("a@example.org"))
    clock.now += timedelta(days=3)
    record(store, hard("b@example.org", original=OTHER))
    for _ in range(3):
        clock.now += timedelta(days=1)
        record(store, soft("c@example.org"))
    mailing = store.get_verdict(1)["mailing_id"]  # type: ignore[index]
    for filters in ({}, {"mailing_id": mailing}, {"since": T0 + timedelta(days=1)},
                    {"until": T0 + timedelta(days=1)}, {"mailing_id": mailing, "since": T0 + timedelta(days=4)}):
        assert store.count_dead_addresses(**filters) == len(store.dead_addresses(**filters)), filters
    assert store.count_dead_addresses() == 3
    assert store.count_dead_addresses(mailing_id=mailing) == 2


def test_revived_addresses_are_those_that_wrote_as_a_person_after_dying(store: Store, clock: Clock) -> None:
    record(store, hard("back@example.org"))
    record(store, hard("gone@example.org"))
    record(store, hard("other@example.org", original=OTHER))
    clock.now += timedelta(days=1)
    record(store, Verdict(category="human", confidence=0.9), from_addr="Back <back@example.org>", action=None)
    record(store, Verdict(category="human", confidence=0.9), from_addr="other@example.org", action=None)
    revived = store.revived_addresses()
    assert [r["address"] for r in revived] == ["back@example.org", "other@example.org"]
    assert revived[0]["alive_since"] == "2026-11-29T09:00:00Z"
    pr_mailing = store.get_verdict(1)["mailing_id"]  # type: ignore[index]
    assert [r["address"] for r in store.revived_addresses(mailing_id=pr_mailing)] == ["back@example.org"]
    assert [r["address"] for r in store.dead_addresses()] == ["gone@example.org"]
    assert len(store.revived_addresses(limit=1)) == 1


def test_failed_addresses_come_a_page_at_a_time_with_total_and_alive_since(store: Store, clock: Clock) -> None:
    for address in ("c@b.example.org", "a@b.example.org", "z@a.example.org", "b@b.example.org"):
        record(store, hard(address))
    clock.now += timedelta(days=1)
    record(store, Verdict(category="human", confidence=0.9), from_addr="a@b.example.org", action=None)
    mailing = store.get_verdict(1)["mailing_id"]  # type: ignore[index]
    everything = store.failed_addresses(mailing)
    assert [r["address"] for r in everything] == [r["address"] for r in store.failed_addresses(mailing)] == [
        "z@a.example.org", "a@b.example.org", "b@b.example.org", "c@b.example.org"]
    page = store.failed_addresses(mailing, limit=2, offset=1)
    assert [(r["address"], r["total"], r["dead"], r["alive_since"]) for r in page] == [
        ("a@b.example.org", 4, 0, "2026-11-29T09:00:00Z"), ("b@b.example.org", 4, 1, None)]
    assert store.failed_addresses(9999) == []
