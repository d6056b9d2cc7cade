"""The store on a real SQLite file: idempotency, dead addresses, mailing grouping, outbox, retention."""
from __future__ import annotations

import sqlite3
import threading
import zlib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from together import open_together

from bouncer.spool import Spool, spool_directory
from bouncer.store import migrations as migrations_module
from bouncer.store import (MIGRATIONS, MailingExists, MailMeta, NotFoundError, PlannedAction, Recorded, Store, iso,
                           subject_key)
from bouncer.store.allowlist import allow_warning
from bouncer.verdict import Original, Verdict
from clock import Clock

T0 = datetime(2026, 11, 28, 3, 14, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bouncer.sqlite"


@pytest.fixture
def store(db_path: Path, clock: Clock) -> Iterator[Store]:
    with Store(db_path, clock=clock) as s:
        yield s


@pytest.fixture
def newsletter(store: Store) -> int:
    """The mailing `bounce()` refers to, registered as the press office does: its bounces count."""
    return store.register_mailing("Newsletter November", T0 - timedelta(hours=1), "<nl-1@partei.de>")


_article = iter(range(1, 1_000_000))


def record(store: Store, verdict: Verdict, *, from_addr: str = "MAILER-DAEMON@mx.example.net",
           subject: str = "Undelivered Mail Returned to Sender", snippet: str | None = "The mail could not be delivered",
           in_reply_to: str | None = None, references: tuple[str, ...] = (), ticket_id: int = 100) -> int:
    article_id = next(_article)
    meta = MailMeta(ticket_id=ticket_id, article_id=article_id, from_addr=from_addr, subject=subject,
                    snippet=snippet, message_id=f"<a{article_id}@mx>", in_reply_to=in_reply_to,
                    references=references)
    recorded = store.record_event("webhook", verdict, meta)
    assert recorded is not None
    return recorded.verdict_id


def bounce(*recipients: str, kind: str = "hard", message_id: str | None = "<nl-1@partei.de>",
           subject: str | None = "Newsletter November", date: str | None = None, confidence: float = 0.97) -> Verdict:
    return Verdict(
        category="bounce", confidence=confidence, bounce_type=kind,  # type: ignore[arg-type]
        reason="user_unknown" if kind == "hard" else "mailbox_full",
        status="5.1.1" if kind == "hard" else "4.2.2", diagnostic="550 5.1.1 <x>: user unknown",
        recipients=recipients, evidence=("DSN Action: failed", f"Status: {kind}"),
        original=Original(message_id=message_id, subject=subject, date=date),
    )


def other(category: str, *, message_id: str | None = None, subject: str | None = None,
          confidence: float = 0.9) -> Verdict:
    return Verdict(category=category, confidence=confidence, evidence=(f"{category} evidence",),  # type: ignore[arg-type]
                   original=Original(message_id=message_id, subject=subject))


def address(store: Store, addr: str) -> dict | None:
    """The addresses row, read through a second connection as another worker would see it."""
    con = sqlite3.connect(store.path)
    con.row_factory = sqlite3.Row
    row = con.execute("SELECT * FROM addresses WHERE address = ?", [addr]).fetchone()
    con.close()
    return dict(row) if row else None


# --- opening and migrations --------------------------------------------------------------------

def test_open_creates_parent_folder_and_runs_migrations_once_on_reopen(db_path: Path, clock: Clock) -> None:
    Store(db_path, clock=clock).close()
    clock.advance(hours=1)
    with Store(db_path, clock=clock) as store:
        assert store.stats()["schema_version"] == len(MIGRATIONS)
    con = sqlite3.connect(db_path)
    applied = con.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert applied == [(version, iso(T0)) for version in range(1, len(MIGRATIONS) + 1)]
    assert {"events", "verdicts", "actions", "mailings", "bounces", "addresses", "allowlist"} <= tables
    assert "inbox" not in tables  # the payload spool is files since m004


def test_connection_uses_wal_foreign_keys_busy_timeout_and_normal_sync(store: Store) -> None:
    con = sqlite3.connect(store.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    pragmas = {p: store._db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("foreign_keys", "busy_timeout", "synchronous")}
    assert pragmas == {"foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1}
    assert store.ping()


def test_processes_opening_one_fresh_file_together_all_succeed(tmp_path: Path) -> None:
    """Two gunicorn workers booting on a new file: the switch to WAL must wait, not fail one of them."""
    for attempt in range(10):
        path = tmp_path / f"fresh-{attempt}.sqlite"
        assert open_together(Store, str(path)) == [0] * 4, f"attempt {attempt}"
        with Store(path) as store:
            assert store.stats()["schema_version"] == len(MIGRATIONS)
            assert store._db.journal_mode == "wal"


def test_ping_is_false_after_close(db_path: Path) -> None:
    store = Store(db_path)
    store.close()
    assert store.ping() is False


# --- events --------------------------------------------------------------------------------------

def test_an_article_is_recorded_once_whatever_the_source(store: Store, newsletter: int) -> None:
    first = store.record_event("webhook", bounce("a@example.org"), MailMeta(ticket_id=1, article_id=10))
    assert first is not None and store.event_id(1, 10) == first.event_id
    assert store.record_event("webhook", bounce("a@example.org"), MailMeta(ticket_id=1, article_id=10)) is None
    assert store.record_event("sweep", other("human"), MailMeta(ticket_id=1, article_id=10)) is None
    assert store.record_event("sweep", other("human"), MailMeta(ticket_id=1, article_id=11)) is not None
    assert store.event_id(1, 12) is None
    assert store.get_event(first.event_id)["status"] == "classified"
    assert address(store, "a@example.org")["hard_count"] == 1  # the repeated bounce counted nothing


def test_record_event_rejects_unknown_source(store: Store) -> None:
    with pytest.raises(ValueError, match="source"):
        store.record_event("mail", other("human"), MailMeta(ticket_id=1, article_id=1))


def test_an_article_is_recorded_once_across_two_stores_on_one_file(db_path: Path) -> None:
    with Store(db_path) as one, Store(db_path) as two:
        recorded = one.record_event("webhook", other("human"), MailMeta(ticket_id=5, article_id=50))
        assert recorded is not None
        assert two.record_event("webhook", other("human"), MailMeta(ticket_id=5, article_id=50)) is None
        assert two.event_id(5, 50) == recorded.event_id


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-per-thread"])
def test_two_threads_recording_the_same_articles_record_each_exactly_once(db_path: Path, shared: bool) -> None:
    stores = [Store(db_path)] * 2 if shared else [Store(db_path), Store(db_path)]
    stores[0].register_mailing("Newsletter November", T0, "<nl-1@partei.de>")
    barrier = threading.Barrier(2)
    results: list[list[Recorded | None]] = [[], []]

    def worker(n: int) -> None:
        barrier.wait()
        results[n] = [stores[n].record_event("webhook", bounce(f"r{article}@example.org"),
                                             MailMeta(ticket_id=7, article_id=article)) for article in range(200)]

    threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for article in range(200):
        assert (results[0][article] is None) + (results[1][article] is None) == 1
    assert stores[0].stats()["verdicts"]["bounce"] == 200
    assert address(stores[0], "r7@example.org")["hard_count"] == 1
    for s in set(stores):
        s.close()


def test_set_event_status_and_unknown_event(store: Store) -> None:
    recorded = store.record_event("sweep", other("human"), MailMeta(ticket_id=1, article_id=1))
    assert recorded is not None
    store.set_event_status(recorded.event_id, "failed", "OTRS timeout")
    assert store.get_event(recorded.event_id)["status_note"] == "OTRS timeout"
    with pytest.raises(NotFoundError):
        store.set_event_status(999, "acted")
    with pytest.raises(ValueError):
        store.set_event_status(recorded.event_id, "done")


def test_record_event_stores_verdict_marks_event_classified_and_decodes_json(store: Store) -> None:
    verdict_id = record(store, bounce("Anna@Example.org"), in_reply_to="<x@y>", references=("<r1@y>",))
    got = store.get_verdict(verdict_id)
    assert got["category"] == "bounce" and got["bounce_type"] == "hard" and got["confidence"] == 0.97
    assert got["evidence"] == ["DSN Action: failed", "Status: hard"]
    assert got["recipients"] == ["Anna@Example.org"]
    assert got["refs"] == ["<r1@y>"]
    assert got["from_addr"] == "mailer-daemon@mx.example.net" and got["from_domain"] == "mx.example.net"
    assert got["review"] == "pending"
    assert (got["event"]["status"], got["event"]["mail_source"]) == ("classified", "payload")
    assert [b["address"] for b in got["bounces"]] == ["anna@example.org"]
    assert got["actions"] == []  # none planned


def test_record_event_stores_the_planned_action_with_the_verdict(store: Store, clock: Clock) -> None:
    planned = PlannedAction("ticket_update", {"action": "close", "state": "closed successful"},
                            {"state": "new", "queue": "Presse"}, "callback", "pending")
    recorded = store.record_event("webhook", bounce("a@example.org"), MailMeta(ticket_id=3, article_id=30), planned)
    assert recorded is not None and recorded.action_id is not None
    (action,) = store.get_verdict(recorded.verdict_id)["actions"]
    assert (action["id"], action["event_id"], action["ticket_id"]) == (recorded.action_id, recorded.event_id, 3)
    assert (action["plan"], action["previous"]) == (planned.plan, planned.previous)
    assert (action["mode"], action["state"], action["next_attempt_at"]) == ("callback", "pending", iso(clock.now))
    assert [a["id"] for a in store.due_actions()] == [recorded.action_id]


def test_a_failure_inside_the_transaction_leaves_no_event_verdict_or_mailing(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """All or nothing: a half-recorded event would block its own recovery as a 'duplicate'."""
    real_insert = store._insert

    def insert(table: str, row: dict[str, Any]) -> int:
        if table == "actions":
            raise sqlite3.OperationalError("disk I/O error")
        return real_insert(table, row)

    monkeypatch.setattr(store, "_insert", insert)
    planned = PlannedAction("ticket_update", {"action": "close"}, None, "inline", "done")
    with pytest.raises(sqlite3.OperationalError):
        store.record_event("webhook", bounce("a@example.org"), MailMeta(ticket_id=1, article_id=1), planned)
    assert store.event_id(1, 1) is None
    assert store.list_mailings() == [] and store.list_verdicts() == []
    assert address(store, "a@example.org") is None
    monkeypatch.undo()
    assert store.record_event("webhook", bounce("a@example.org"), MailMeta(ticket_id=1, article_id=1), planned)


def test_hard_bounce_marks_address_dead_at_once(store: Store, newsletter: int) -> None:
    record(store, bounce("anna@example.org", "Bert <bert@example.org>"))
    dead = {a["address"]: a for a in store.dead_addresses()}
    assert set(dead) == {"anna@example.org", "bert@example.org"}
    assert dead["anna@example.org"]["dead_since"] == iso(T0)
    assert dead["anna@example.org"]["hard_count"] == 1
    assert dead["anna@example.org"]["last_reason"] == "user_unknown"


def test_soft_bounces_mark_dead_only_at_threshold_within_window(db_path: Path, clock: Clock) -> None:
    """Soft bounces of the weekly newsletters: three within 30 days kill the address."""
    with Store(db_path, clock=clock, soft_threshold=3, soft_window_days=30) as store:
        def weekly_soft_bounce() -> None:
            week = f"<nl-{clock.now:%Y%m%d}@partei.de>"
            store.register_mailing(f"Newsletter {clock.now:%d.%m.}", clock.now - timedelta(hours=1), week)
            record(store, bounce("full@example.org", kind="soft", message_id=week, subject=None))

        weekly_soft_bounce()
        clock.advance(days=20)
        weekly_soft_bounce()
        clock.advance(days=20)  # the first one has left the window
        weekly_soft_bounce()
        assert address(store, "full@example.org")["dead"] == 0
        assert address(store, "full@example.org")["soft_count"] == 3
        clock.advance(days=5)
        weekly_soft_bounce()
        row = address(store, "full@example.org")
        assert row["dead"] == 1 and row["dead_since"] == iso(clock.now)


def test_human_mail_from_dead_address_revives_it_and_old_bounces_no_longer_count(store: Store, clock: Clock, newsletter: int) -> None:
    record(store, bounce("anna@example.org", kind="soft"))
    record(store, bounce("anna@example.org", kind="hard"))
    clock.advance(days=1)
    record(store, other("human"), from_addr="Anna <ANNA@example.org>", subject="Re: Newsletter")
    row = address(store, "anna@example.org")
    assert row["dead"] == 0 and row["alive_since"] == iso(clock.now)
    clock.advance(days=1)
    record(store, bounce("anna@example.org", kind="soft"))
    assert address(store, "anna@example.org")["dead"] == 0  # one soft bounce since revival, not three
    record(store, bounce("anna@example.org", kind="hard"))
    assert address(store, "anna@example.org")["dead"] == 1


def test_human_mail_from_live_address_changes_nothing(store: Store) -> None:
    record(store, other("human"), from_addr="carla@example.org")
    assert address(store, "carla@example.org") is None


def test_false_positive_review_undoes_dead_unless_other_bounces_prove_it(store: Store, newsletter: int) -> None:
    wrong = record(store, bounce("anna@example.org", "bert@example.org"))
    record(store, bounce("bert@example.org"))
    store.set_review(wrong, "false_positive", "admin", "was an out-of-office")
    assert address(store, "anna@example.org")["dead"] == 0
    assert address(store, "anna@example.org")["hard_count"] == 0
    assert address(store, "bert@example.org")["dead"] == 1
    store.set_review(wrong, "confirmed", "admin")
    assert address(store, "anna@example.org")["dead"] == 1


def test_set_review_validates_and_records_who_and_when(store: Store, clock: Clock) -> None:
    verdict_id = record(store, bounce("a@example.org"))
    store.set_review(verdict_id, "confirmed", "hanna", "looks right")
    got = store.get_verdict(verdict_id)
    assert (got["review"], got["reviewed_by"], got["reviewed_at"], got["review_note"]) == (
        "confirmed", "hanna", iso(clock.now), "looks right")
    with pytest.raises(ValueError):
        store.set_review(verdict_id, "maybe", "hanna")
    with pytest.raises(NotFoundError):
        store.set_review(9999, "confirmed", "hanna")


# --- mailings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("subject, key", [
    ("Newsletter November", "newsletter november"),
    ("AW: WG: Re: Newsletter  November", "newsletter november"),
    ("Automatische Antwort: Newsletter November", "newsletter november"),
    ("Abwesenheitsnotiz: RE: Newsletter November", "newsletter november"),
    ("Out of Office: Newsletter November", "newsletter november"),
    ("Unzustellbar: Newsletter November", "newsletter november"),
    ("Undeliverable: Newsletter November", "newsletter november"),
    ("Gelesen: Newsletter November", "newsletter november"),
    ("Read: Fwd: Newsletter November", "newsletter november"),
    ("[Ticket#2026112810000012] Re: Newsletter November", "newsletter november"),
    ("Re: Newsletter November [Ticket#2026112810000012]", "newsletter november"),
    ("Re[2]: NEWSLETTER november", "newsletter november"),
    ("Reader survey", "reader survey"),
    ("Re:", ""),
    (None, ""),
])
def test_subject_key_strips_reply_auto_reply_and_ticket_prefixes(subject: str | None, key: str) -> None:
    assert subject_key(subject) == key


def test_bounces_with_the_same_original_message_id_share_a_mailing(store: Store) -> None:
    a = record(store, bounce("a@example.org", message_id="<nl-1@partei.de>", subject="Newsletter"))
    b = record(store, bounce("b@example.org", message_id="nl-1@partei.de", subject=None))
    assert store.get_verdict(a)["mailing_id"] == store.get_verdict(b)["mailing_id"] is not None


def test_auto_reply_links_by_in_reply_to_or_references(store: Store) -> None:
    first = record(store, bounce("a@example.org", message_id="<nl-1@partei.de>"))
    by_irt = record(store, other("auto_reply"), in_reply_to="<nl-1@partei.de>")
    by_ref = record(store, other("read_receipt"), references=("<other@x>", "<nl-1@partei.de>"))
    mailing = store.get_verdict(first)["mailing_id"]
    assert store.get_verdict(by_irt)["mailing_id"] == mailing
    assert store.get_verdict(by_ref)["mailing_id"] == mailing


def test_same_subject_within_seven_days_is_one_mailing_even_with_per_recipient_ids(store: Store, clock: Clock) -> None:
    a = record(store, bounce("a@example.org", message_id="<nl-a@partei.de>", subject="Newsletter November"))
    clock.advance(days=2)
    b = record(store, bounce("b@example.org", message_id="<nl-b@partei.de>", subject="AW: newsletter november"))
    c = record(store, other("auto_reply", subject="Automatische Antwort: Newsletter November"))
    ids = {store.get_verdict(v)["mailing_id"] for v in (a, b, c)}
    assert len(ids) == 1


def test_same_subject_after_the_window_or_other_subject_is_a_new_mailing(store: Store, clock: Clock) -> None:
    a = record(store, bounce("a@example.org", message_id=None, subject="Newsletter"))
    b = record(store, bounce("b@example.org", message_id=None, subject="Einladung Parteitag"))
    clock.advance(days=8)
    c = record(store, bounce("c@example.org", message_id=None, subject="Newsletter"))
    assert len({store.get_verdict(v)["mailing_id"] for v in (a, b, c)}) == 3


def test_window_is_measured_from_the_original_send_date(store: Store, clock: Clock) -> None:
    a = record(store, bounce("a@example.org", message_id=None, subject="Newsletter",
                             date="Mon, 23 Nov 2026 10:00:00 +0100"))
    assert store.get_mailing(store.get_verdict(a)["mailing_id"])["sent_at"] == "2026-11-23T09:00:00Z"
    clock.advance(days=5)  # 10 days after sending, but the bounce says it is the same send
    b = record(store, bounce("b@example.org", message_id=None, subject="Newsletter",
                             date="Mon, 23 Nov 2026 10:00:00 +0100"))
    assert store.get_verdict(a)["mailing_id"] == store.get_verdict(b)["mailing_id"]


def test_no_original_info_links_no_mailing_and_replies_never_create_one(store: Store) -> None:
    human = record(store, other("human"), in_reply_to="<agent-answer@otrs>", from_addr="x@example.org")
    assert store.get_verdict(human)["mailing_id"] is None
    assert store.link_mailing(None, None, None) is None
    assert store.link_mailing(None, "Re:", None, in_reply_to="<unknown@x>") is None
    assert store.list_mailings() == []


def test_register_mailing_adopts_auto_mailing_of_the_same_subject(store: Store, clock: Clock) -> None:
    auto = store.get_verdict(record(store, bounce("a@example.org", message_id=None, subject="Newsletter")))["mailing_id"]
    registered = store.register_mailing("Newsletter", T0 - timedelta(hours=2), message_id="<nl@partei.de>",
                                        recipient_count=12000)
    assert registered == auto
    mailing = store.get_mailing(auto)
    assert (mailing["origin"], mailing["recipient_count"], mailing["message_id"]) == ("manual", 12000, "<nl@partei.de>")
    with pytest.raises(MailingExists) as again:  # registering it again would overwrite it silently
        store.register_mailing("Newsletter (neu)", T0, message_id="nl@partei.de", origin="api")
    assert again.value.mailing_id == auto and store.get_mailing(auto)["subject"] == "Newsletter"
    assert store.register_mailing("Einladung", T0) != auto


# --- review queue ---------------------------------------------------------------------------------

def test_list_verdicts_newest_first_with_filters_and_action_summary(store: Store, clock: Clock) -> None:
    hard = record(store, bounce("a@example.org", confidence=0.99))
    clock.advance(hours=1)
    auto = record(store, other("auto_reply", confidence=0.6))
    clock.advance(hours=1)
    human = record(store, other("human", confidence=0.9), from_addr="p@example.org")
    event_id = store.get_verdict(hard)["event_id"]
    store.plan_action(event_id, hard, 100, "ticket_update", {"state": "closed successful"}, {"state": "new"},
                      "callback", "pending")
    store.set_review(auto, "false_positive", "admin")

    def ids(**filters: object) -> list[int]:
        return [v["id"] for v in store.list_verdicts(**filters)]

    assert ids() == [human, auto, hard]
    assert ids(category="bounce") == [hard]
    assert ids(review="false_positive") == [auto]
    assert ids(min_conf=0.7) == [human, hard]
    assert ids(max_conf=0.7) == [auto]
    assert ids(since=T0 + timedelta(hours=1)) == [human, auto]
    assert ids(until=T0 + timedelta(hours=1)) == [hard]
    assert ids(action_state="pending") == [hard]
    assert ids(limit=1, offset=1) == [auto]
    listed = store.list_verdicts(category="bounce")[0]
    assert listed["actions"] == [{"id": 1, "kind": "ticket_update", "action": None, "mode": "callback",
                                  "state": "pending", "attempts": 0, "last_error": None}]
    assert listed["evidence"] == ["DSN Action: failed", "Status: hard"]
    assert store.list_verdicts(category="human")[0]["actions"] == []


def test_get_verdict_includes_full_actions_and_event(store: Store) -> None:
    verdict_id = record(store, bounce("a@example.org"))
    event_id = store.get_verdict(verdict_id)["event_id"]
    action_id = store.plan_action(event_id, verdict_id, 100, "ticket_update", {"queue": "Bounces"},
                                  {"queue": "Raw"}, "dry-run", "dry-run")
    got = store.get_verdict(verdict_id)
    assert got["actions"][0]["id"] == action_id
    assert got["actions"][0]["plan"] == {"queue": "Bounces"} and got["actions"][0]["previous"] == {"queue": "Raw"}
    assert got["actions"][0]["next_attempt_at"] is None  # not in the outbox
    assert got["event"]["id"] == event_id
    assert store.get_verdict(12345) is None


# --- outbox -----------------------------------------------------------------------------------

def _pending(store: Store) -> int:
    verdict_id = record(store, bounce("a@example.org"))
    event_id = store.get_verdict(verdict_id)["event_id"]
    return store.plan_action(event_id, verdict_id, 100, "ticket_update", {"state": "closed"}, None, "callback", "pending")


def test_outbox_claim_fail_with_backoff_then_done(store: Store, clock: Clock) -> None:
    action_id = _pending(store)
    assert store.pending_count() == 1
    assert [a["id"] for a in store.due_actions()] == [action_id]
    assert store.claim_action(action_id) is True
    assert store.claim_action(action_id) is False  # the second worker does not get it
    assert store.due_actions() == []
    store.action_failed(action_id, "HTTP 503", clock.now + timedelta(minutes=2))
    assert store.due_actions() == [] and store.claim_action(action_id) is False  # backing off
    clock.advance(minutes=2)
    due = store.due_actions()
    assert [(a["id"], a["attempts"], a["last_error"]) for a in due] == [(action_id, 1, "HTTP 503")]
    assert store.claim_action(action_id) is True
    store.action_done(action_id)
    action = store.get_verdict(1)["actions"][0]
    assert (action["state"], action["attempts"], action["done_at"], action["last_error"]) == (
        "done", 2, iso(clock.now), None)
    assert store.pending_count() == 0 and store.due_actions() == []


def test_outbox_failure_without_retry_time_is_permanent(store: Store, clock: Clock) -> None:
    action_id = _pending(store)
    store.claim_action(action_id)
    store.action_failed(action_id, "ticket is merged", None)
    clock.advance(days=1)
    assert store.due_actions() == [] and store.pending_count() == 0
    assert store.stats()["outbox"]["failed"] == 1


def test_outbox_claim_of_a_crashed_worker_expires_after_the_lease(store: Store, clock: Clock) -> None:
    action_id = _pending(store)
    assert store.claim_action(action_id)
    clock.advance(minutes=4)
    assert store.due_actions() == [] and store.claim_action(action_id) is False
    clock.advance(minutes=1)
    assert [a["id"] for a in store.due_actions()] == [action_id]
    assert store.claim_action(action_id) is True


def test_outbox_orders_oldest_first_and_respects_limit(store: Store, clock: Clock) -> None:
    first = _pending(store)
    clock.advance(seconds=1)
    second = _pending(store)
    assert [a["id"] for a in store.due_actions()] == [first, second]
    assert [a["id"] for a in store.due_actions(limit=1)] == [first]


def test_plan_action_validates_kind_mode_and_state(store: Store) -> None:
    for bad in ({"kind": "delete"}, {"mode": "live"}, {"state": "maybe"}):
        args = {"kind": "ticket_update", "mode": "inline", "state": "pending"} | bad
        with pytest.raises(ValueError):
            store.plan_action(1, None, 1, plan={}, previous=None, **args)


# --- press pages --------------------------------------------------------------------------------

def test_mailing_counts_stats_and_failed_addresses(store: Store, clock: Clock, newsletter: int) -> None:
    record(store, bounce("a@example.org", "b@example.org"))
    record(store, bounce("c@web.de", kind="soft"))
    clock.advance(hours=2)
    record(store, other("auto_reply", message_id="<nl-1@partei.de>"))
    record(store, other("read_receipt"), in_reply_to="<nl-1@partei.de>")
    wrong = record(store, bounce("d@example.org"))
    store.set_review(wrong, "false_positive", "admin")
    record(store, bounce("x@example.org", message_id="<other@partei.de>", subject="Einladung"))

    mailings = {m["subject"]: m for m in store.list_mailings()}
    nl = mailings["Newsletter November"]
    # The false positive counts as the person's mail it was, not as a bounce and not as nothing.
    assert {k: nl[k] for k in ("hard", "soft", "auto_reply", "read_receipt", "human", "total")} == {
        "hard": 1, "soft": 1, "auto_reply": 1, "read_receipt": 1, "human": 1, "total": 5}
    # A mailing only that bounce named (anyone could write it): its bounce counts apart, as unverified.
    assert (mailings["Einladung"]["hard"], mailings["Einladung"]["unverified"]) == (0, 1)
    assert [m["subject"] for m in store.list_mailings(q="einl")] == ["Einladung"]

    stats = store.mailing_stats(nl["id"])
    assert stats["counts"]["total"] == 5 and stats["counts"]["human"] == 1 and stats["bucket"] == "hour"
    assert [(p["t"], p["hard"], p["soft"], p["auto_reply"]) for p in stats["timeline"]] == [
        ("2026-11-28T03:00:00Z", 1, 1, 0), ("2026-11-28T05:00:00Z", 0, 0, 1)]
    assert stats["top_reasons"][0] == {"reason": "user_unknown", "bounce_type": "hard", "n": 2}
    assert stats["top_domains"][0] == {"domain": "example.org", "n": 2, "hard": 2}
    assert [p["t"] for p in store.mailing_stats(nl["id"], bucket="day")["timeline"]] == ["2026-11-28"]
    assert store.mailing_stats(999) is None

    failed = store.failed_addresses(nl["id"])
    assert [(f["address"], f["bounce_type"], f["dead"]) for f in failed] == [
        ("a@example.org", "hard", 1), ("b@example.org", "hard", 1), ("c@web.de", "soft", 0)]


def test_dead_addresses_filter_by_mailing_and_time(store: Store, clock: Clock, newsletter: int) -> None:
    record(store, bounce("a@example.org"))
    clock.advance(days=10)
    store.register_mailing("Zwei", clock.now - timedelta(hours=1), "<two@partei.de>")
    record(store, bounce("b@example.org", message_id="<two@partei.de>", subject="Zwei"))
    mailing_two = store.list_mailings(q="Zwei")[0]["id"]
    assert [a["address"] for a in store.dead_addresses()] == ["b@example.org", "a@example.org"]
    assert [a["address"] for a in store.dead_addresses(mailing_id=mailing_two)] == ["b@example.org"]
    assert [a["address"] for a in store.dead_addresses(since=T0 + timedelta(days=1))] == ["b@example.org"]
    assert [a["address"] for a in store.dead_addresses(until=T0 + timedelta(days=1))] == ["a@example.org"]
    assert [a["address"] for a in store.dead_addresses(limit=1, offset=1)] == ["a@example.org"]


# --- allowlist --------------------------------------------------------------------------------

def test_allowlist_matches_sender_and_domain_case_insensitively(store: Store) -> None:
    sender = store.add_allow("sender", "Vorstand <Vorstand@Partei.DE>", "board", "admin")
    domain = store.add_allow("domain", "@Landesverband.Example", None, "admin")
    assert store.add_allow("sender", "vorstand@partei.de", "again", "admin") == sender
    assert store.is_allowed("VORSTAND@partei.de") == "sender vorstand@partei.de (board)"
    assert store.is_allowed("Kreis <kv@Landesverband.example>") == "domain landesverband.example"
    assert store.is_allowed("kv@ortsverein.landesverband.example") == "domain landesverband.example"
    assert store.is_allowed("someone@partei.de") is None
    assert store.is_allowed("landesverband.example@evil.org") is None
    assert store.is_allowed(None) is None
    assert [(r["kind"], r["value"]) for r in store.allowlist()] == [
        ("domain", "landesverband.example"), ("sender", "vorstand@partei.de")]
    store.add_allow("domain", "partei.de", None, "admin")
    store.add_allow("domain", "ortsverein.landesverband.example", None, "admin")
    assert store.is_allowed("VORSTAND@partei.de") == "sender vorstand@partei.de (board)"  # the sender rule wins
    assert store.is_allowed("someone@partei.de") == "domain partei.de"
    assert store.is_allowed("kv@ortsverein.landesverband.example") == "domain ortsverein.landesverband.example"
    assert store.remove_allow(domain) is True and store.remove_allow(domain) is False
    assert store.is_allowed("kv@landesverband.example") is None


def test_allowlist_rejects_invalid_values(store: Store) -> None:
    for kind, value in (("sender", "no-address"), ("domain", "a@b.de"), ("domain", "localhost"), ("ip", "x"),
                        ("domain", ".de"), ("domain", "de."), ("domain", "co.uk"), ("domain", "bad_label.example"),
                        ("domain", "192.0.2.1")):
        with pytest.raises(ValueError):
            store.add_allow(kind, value)
    assert store.allowlist() == []


def test_allowlist_warns_on_a_large_provider_domain_but_not_on_a_sender_there() -> None:
    assert allow_warning("domain", "GMX.de") == "large_provider" and allow_warning("domain", "gmail.com")
    assert allow_warning("sender", "someone@gmx.de") is None and allow_warning("domain", "lokalzeitung.example") is None


# --- retention and health -----------------------------------------------------------------------

def test_purge_forgets_content_but_keeps_counts_addresses_and_mailings(store: Store, clock: Clock, newsletter: int) -> None:
    old = record(store, bounce("a@example.org"))
    event_id = store.get_verdict(old)["event_id"]
    store.plan_action(event_id, old, 100, "ticket_update", {"state": "closed", "note": {"body": "quoted mail"}},
                      None, "inline", "done")
    mailing_id = store.get_verdict(old)["mailing_id"]
    clock.advance(days=100)
    recent = record(store, other("human"), from_addr="p@example.org", snippet="Ich trete aus der Partei aus")

    result = store.purge(90)
    assert (result["verdicts"], result["bounces"], result["actions"]) == (1, 1, 1)
    purged = store.get_verdict(old)
    assert purged["snippet"] is None and purged["subject"] is None and purged["original_subject"] is None
    assert purged["evidence"] == [] and purged["diagnostic"] is None and purged["purged_at"] == iso(clock.now)
    assert purged["bounces"][0]["diagnostic"] is None
    assert purged["actions"][0]["plan"] == {"state": "closed"}
    assert (purged["category"], purged["bounce_type"], purged["reason"], purged["mailing_id"]) == (
        "bounce", "hard", "user_unknown", mailing_id)
    assert purged["recipients"] == ["a@example.org"]
    assert store.get_verdict(recent)["snippet"] == "Ich trete aus der Partei aus"
    assert store.mailing_stats(mailing_id)["counts"]["hard"] == 1
    assert [a["address"] for a in store.dead_addresses()] == ["a@example.org"]
    assert store.purge(90)["verdicts"] == 0


def test_stats_counts_categories_events_outbox_and_last_event(store: Store, clock: Clock) -> None:
    assert store.stats()["last_event_at"] is None
    _pending(store)
    clock.advance(minutes=1)
    record(store, other("human"), from_addr="p@example.org")
    stats = store.stats()
    assert stats["verdicts"] == {"bounce": 1, "auto_reply": 0, "read_receipt": 0, "feedback_report": 0, "unsubscribe": 0,
                                 "human": 1}
    assert stats["events"]["classified"] == 2
    assert stats["outbox"] == {"pending": 1, "running": 0, "failed": 0}
    assert stats["last_event_at"] == iso(clock.now)


def test_failed_event_is_recorded_once_and_blocks_nothing_already_recorded(store: Store) -> None:
    item = Spool(spool_directory(store.path), store.clock).put(7, 70, "webhook", b"{not json")
    assert store.record_failed(item, "recovery failed: JSONDecodeError") is True
    event = store.get_event(store.event_id(7, 70))
    assert (event["status"], event["status_note"], event["source"]) == ("failed", "recovery failed: JSONDecodeError", "webhook")
    assert store.record_failed(item, "again") is False
    assert store.record_event("webhook", other("human"), MailMeta(ticket_id=7, article_id=70)) is None


def test_payloads_left_in_the_inbox_table_by_an_earlier_version_move_to_spool_files(
        db_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgrade right after a crash: the interrupted events must still be finished, none lost."""
    monkeypatch.setattr(migrations_module, "MIGRATIONS", MIGRATIONS[:3])
    with Store(db_path, clock=clock) as old:
        for article, payload in ((1, b'{"Event": {"ArticleID": 1}}'), (2, zlib.compress(b'{"Event": {"ArticleID": 2}}', 1))):
            event_id = old._conn.execute(
                "INSERT INTO events (ticket_id, article_id, source, received_at, status) "
                "VALUES (7, ?, 'webhook', ?, 'accepted')", [article, iso(clock.now)]).lastrowid
            old._conn.execute("INSERT INTO inbox (event_id, payload, received_at) VALUES (?, ?, ?)",
                              [event_id, payload, iso(clock.now)])
        assert old.record_event("webhook", other("human"), MailMeta(ticket_id=7, article_id=3)) is not None
    monkeypatch.undo()
    # The spool files are stamped with the real time: the new store's clock is two minutes past it.
    with Store(db_path, clock=Clock(datetime.now(timezone.utc) + timedelta(minutes=2))) as new:
        assert new.stats()["schema_version"] == len(MIGRATIONS)
        assert (new.event_id(7, 1), new.event_id(7, 2)) == (None, None)  # to be recorded by recovery
        assert new.event_id(7, 3) is not None
        spooled = sorted(Spool(spool_directory(db_path), new.clock).stale(), key=lambda item: item.article_id)
        assert [(i.ticket_id, i.article_id, i.source) for i in spooled] == [(7, 1, "webhook"), (7, 2, "webhook")]
        assert [i.path.read_bytes() for i in spooled] == [b'{"Event": {"ArticleID": 1}}', b'{"Event": {"ArticleID": 2}}']


def test_hard_bounce_about_our_ip_does_not_kill_the_address_at_once(store: Store, newsletter: int) -> None:
    blocked = Verdict(category="bounce", confidence=0.98, bounce_type="hard", reason="spam_blocked",
                      recipients=("clara@outlook.example",), status="5.7.1",
                      original=Original(message_id="<nl-1@partei.de>"))
    for article in (1, 2):
        store.record_event("webhook", blocked, MailMeta(ticket_id=40, article_id=article))
    assert store.dead_addresses() == []
    store.record_event("webhook", blocked, MailMeta(ticket_id=40, article_id=3))
    assert [a["address"] for a in store.dead_addresses()] == ["clara@outlook.example"]


# --- query plans: the per-event and outbox queries must not scan tables that grow with every event ---

BIG_TABLES = ("events", "verdicts", "actions", "bounces", "e", "v", "a", "b")  # and the aliases the store uses


def _statements(store: Store, work: Callable[[], object]) -> list[str]:
    """Every statement `work` runs on the store's connection, with its parameters filled in."""
    seen: list[str] = []
    store._conn.set_trace_callback(seen.append)
    try:
        work()
    finally:
        store._conn.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "DELETE", "WITH"))]


def _scans(store: Store, statement: str) -> list[str]:
    """The steps of a statement's plan that read a big table (or one of its indexes) from end to end."""
    plan = [row[3] for row in store._conn.execute(f"EXPLAIN QUERY PLAN {statement}")]
    return [step for step in plan if step.startswith("SCAN ") and step.split()[1] in BIG_TABLES]


def test_per_event_and_outbox_queries_use_indexes_not_table_scans(store: Store, clock: Clock) -> None:
    for n in range(30):
        record(store, bounce(f"r{n}@example.org", message_id=f"<nl-{n % 3}@partei.de>"), ticket_id=100 + n % 4)
    planned = PlannedAction("ticket_update", {"action": "close"}, None, "callback", "pending")
    work = {
        "record_event": lambda: store.record_event("webhook", bounce("x@example.org"),
                                                   MailMeta(ticket_id=7, article_id=999_001), planned),
        "event_id": lambda: store.event_id(7, 999_001),
        "machine_articles": lambda: store.machine_articles(101),
        "is_allowed": lambda: store.is_allowed("anna@mail.example.org"),
        "due_actions": lambda: store.due_actions(),
        "claim_action": lambda: store.claim_action(store.due_actions()[0]["id"]),
        "pending_count": store.pending_count,
        "review queue by ticket": lambda: store.list_verdicts(ticket_id=101),
        "mailing page": lambda: store.mailing_stats(store.list_mailings()[0]["id"]),
    }
    for name, call in work.items():
        statements = _statements(store, call)
        assert statements, name
        for statement in statements:
            assert _scans(store, statement) == [], f"{name}: {statement}"


def test_only_a_copy_of_our_original_creates_a_mailing_an_id_or_subject_alone_only_matches(store: Store) -> None:
    away = record(store, other("auto_reply", message_id="<pm-9@partei.de>", subject="PM 9"),
                  in_reply_to="<pm-9@partei.de>", subject="Automatische Antwort: PM 9")
    named = record(store, bounce("x@example.org", message_id=None, subject=None), subject="Unzustellbar: PM 9")
    assert store.get_verdict(away)["mailing_id"] is None and store.get_verdict(named)["mailing_id"] is None
    assert store.list_mailings() == []
    # The first mail with a copy creates it, and the out-of-office recorded before joins it.
    copy = record(store, bounce("y@example.org", message_id="<pm-9@partei.de>", subject="PM 9"))
    mailing = store.get_verdict(copy)["mailing_id"]
    assert mailing is not None and store.get_verdict(away)["mailing_id"] == mailing
    # From now on a bounce that only names it in its subject belongs to it too.
    later = record(store, bounce("z@example.org", message_id=None, subject=None), subject="Unzustellbar: PM 9")
    assert store.get_verdict(later)["mailing_id"] == mailing
    assert [m["total"] for m in store.list_mailings()] == [3]


def test_a_bounce_of_an_agents_ticket_answer_is_no_mailing(store: Store) -> None:
    answer = record(store, bounce("a@example.org", message_id="<1795.1@znuny>",
                                  subject="Re: [Ticket#2026120410000017] Frage zur Mitgliedschaft"))
    assert store.get_verdict(answer)["mailing_id"] is None and store.list_mailings() == []


def test_a_mailing_without_the_originals_date_has_an_unknown_send_time_until_a_reply_tells_it(
        store: Store, clock: Clock) -> None:
    first = record(store, bounce("a@example.org", message_id="<nl-7@partei.de>", subject="Newsletter", date=None))
    mailing = store.get_mailing(store.get_verdict(first)["mailing_id"])
    assert mailing["sent_known"] == 0
    clock.advance(hours=3)
    record(store, bounce("b@example.org", message_id="<nl-7@partei.de>", subject="Newsletter",
                         date="Mon, 23 Nov 2026 10:00:00 +0100"))
    mailing = store.get_mailing(mailing["id"])
    assert (mailing["sent_known"], mailing["sent_at"]) == (1, "2026-11-23T09:00:00Z")


# --- what each user needs next --------------------------------------------------------------------

def test_correcting_an_out_of_office_to_a_bounce_updates_counts_and_the_dead_list(store: Store, newsletter: int) -> None:
    record(store, bounce("a@example.org"))
    away = record(store, other("auto_reply", message_id="<nl-1@partei.de>"), from_addr="b@example.org")
    mailing = store.get_verdict(away)["mailing_id"]
    store.correct_verdict(away, "bounce", "hard", "admin", addresses=["B@Example.org"])
    corrected = store.get_verdict(away)
    assert (corrected["category"], corrected["bounce_type"], corrected["corrected_from"], corrected["review"]) == (
        "bounce", "hard", "auto_reply", "confirmed")
    assert address(store, "b@example.org")["dead"] == 1
    row = store.list_mailings()[0]
    assert (row["id"], row["hard"], row["auto_reply"]) == (mailing, 2, 0)
    # And back: no bounce any more, the address is not dead; the first judgement is kept.
    store.correct_verdict(away, "auto_reply", None, "admin")
    assert address(store, "b@example.org")["dead"] == 0
    assert store.get_verdict(away)["corrected_from"] == "auto_reply"
    with pytest.raises(ValueError):
        store.correct_verdict(away, "spam", None, "admin")
    with pytest.raises(NotFoundError):
        store.correct_verdict(9999, "human", None, "admin")


def test_bulk_confirm_takes_only_unreviewed_machine_mail_above_the_threshold(store: Store) -> None:
    sure = record(store, bounce("a@example.org", confidence=0.97))
    unsure = record(store, other("auto_reply", confidence=0.6))
    person = record(store, other("human", confidence=0.99), from_addr="p@example.org")
    assert store.confirm_many("admin", min_conf=0.9) == 1
    assert [store.get_verdict(v)["review"] for v in (sure, unsure, person)] == ["confirmed", "pending", "pending"]


def test_review_queue_search_and_hiding_quiet_personal_mail(store: Store) -> None:
    machine = record(store, bounce("a@example.org"), ticket_id=4711)
    person = record(store, other("human"), from_addr="petra.lang@zeitung-example.de", subject="Frage zur PM")
    assert [v["id"] for v in store.list_verdicts(hide_quiet=True)] == [machine]
    assert [v["id"] for v in store.list_verdicts(q="petra.lang")] == [person]
    assert [v["id"] for v in store.list_verdicts(q="zur PM")] == [person]
    assert [v["id"] for v in store.list_verdicts(q="4711")] == [machine]
    assert store.list_verdicts(q="100%_") == []  # LIKE wildcards are searched as text
    assert store.count_verdicts(hide_quiet=True) == 1


def test_address_history_and_mailing_people(store: Store, newsletter: int) -> None:
    record(store, bounce("x@example.org", kind="soft"))
    away = Verdict(category="auto_reply", confidence=0.9, return_date=date(2026, 12, 14),
                   original=Original(message_id="<nl-1@partei.de>"))
    record(store, away, from_addr="x@example.org")
    record(store, other("read_receipt", message_id="<nl-1@partei.de>"), from_addr="r@example.org")
    record(store, other("human"), from_addr="x@example.org", in_reply_to="<nl-1@partei.de>")
    history = store.address_history("X@example.org")
    assert [e["category"] for e in history["events"]] == ["human", "auto_reply", "bounce"]
    assert history["row"]["soft_count"] == 1 and history["events"][2]["mailing_subject"] == "Newsletter November"
    people = store.mailing_people(store.list_mailings()[0]["id"])
    assert [p["address"] for p in people["wrote"]] == ["x@example.org"]
    assert [(p["address"], p["return_date"]) for p in people["away"]] == [("x@example.org", "2026-12-14")]
    assert [p["address"] for p in people["read"]] == ["r@example.org"]
    assert store.find_addresses("@example.org") == ["r@example.org", "x@example.org"]
