"""The payload spool on a real directory: unique names, age, exclusive claims, claims that die with their process."""
from __future__ import annotations

import multiprocessing
import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bouncer.spool import Spool
from clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def spool(tmp_path: Path, clock: Clock) -> Spool:
    return Spool(tmp_path / "bouncer.sqlite-spool", clock)


def test_payload_is_kept_private_until_dropped_and_counted_meanwhile(spool: Spool) -> None:
    item = spool.put(4, 10, "webhook", b'{"Event": {}}')
    assert (item.ticket_id, item.article_id, item.source) == (4, 10, "webhook")
    assert item.path.read_bytes() == b'{"Event": {}}'
    assert stat.S_IMODE(item.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(spool.directory.stat().st_mode) == 0o700
    assert spool.count() == 1
    spool.drop(item)
    spool.drop(item)  # dropping twice (recovery and the late request) is harmless
    assert spool.count() == 0


def test_one_article_spooled_twice_gets_two_files_even_from_two_spools(spool: Spool, clock: Clock) -> None:
    """Two deliveries of one article, in two Stores of one process: neither overwrites the other."""
    other = Spool(spool.directory, clock)
    items = [spool.put(4, 10, "webhook", b"1"), spool.put(4, 10, "webhook", b"2"), other.put(4, 10, "webhook", b"3")]
    assert len({i.path for i in items}) == 3
    assert sorted(i.path.read_bytes() for i in items) == [b"1", b"2", b"3"]


def test_only_payloads_older_than_the_grace_period_are_stale_oldest_first(spool: Spool, clock: Clock) -> None:
    young = spool.put(1, 3, "webhook", b"young")
    old = spool.put(1, 2, "sweep", b"old")
    older = spool.put(1, 1, "webhook", b"older")
    now = clock.now.timestamp()
    os.utime(old.path, (now - 120, now - 120))
    os.utime(older.path, (now - 300, now - 300))
    (spool.directory / "notes.txt").write_text("not ours")  # foreign files are left alone
    assert spool.stale(older_than=60) == [older, old]
    assert spool.stale(older_than=60, limit=1) == [older]
    clock.advance(seconds=61)
    assert spool.stale(older_than=60) == [older, old, young]
    assert spool.count() == 3


def test_a_claimed_payload_is_not_handed_to_a_second_claim(spool: Spool) -> None:
    item = spool.put(4, 10, "webhook", b"payload")
    with spool.claim(item) as first:
        with spool.claim(item) as second:
            assert (first, second) == (b"payload", None)
    with spool.claim(item) as again:
        assert again == b"payload"


def test_a_dropped_payload_cannot_be_claimed(spool: Spool) -> None:
    item = spool.put(4, 10, "webhook", b"payload")
    spool.drop(item)
    with spool.claim(item) as payload:
        assert payload is None


def _claim_and_die(directory: str, name: str, claimed: Any, die: Any) -> None:
    spool = Spool(directory, Clock())
    (item,) = [i for i in spool.stale(older_than=-60) if i.path.name == name]
    with spool.claim(item) as payload:
        assert payload is not None
        claimed.set()
        die.wait(10)
        os._exit(0)  # killed mid-recovery: no unlock, no cleanup


def test_a_claim_dies_with_its_process_and_the_payload_waits_for_the_next(spool: Spool) -> None:
    item = spool.put(4, 10, "webhook", b"payload")
    context = multiprocessing.get_context("fork")
    claimed, die = context.Event(), context.Event()
    child = context.Process(target=_claim_and_die, args=(str(spool.directory), item.path.name, claimed, die))
    child.start()
    assert claimed.wait(10)
    with spool.claim(item) as payload:
        assert payload is None  # another worker's recovery is on it
    die.set()
    child.join(10)
    assert child.exitcode == 0
    with spool.claim(item) as payload:
        assert payload == b"payload"
    assert spool.stale(older_than=-timedelta(minutes=1).total_seconds()) == [item]  # still there until dropped
