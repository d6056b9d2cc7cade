"""The one package that touches SQLite: events, verdicts, the action outbox, mailings, addresses.

Three users share it. The webhook needs speed, idempotency and never to lose an accepted
event; the press pages need per-mailing counts and dead addresses; the admin review queue
needs filtered listings. One module per concern, each a part of `Store`:

- db.py: the connection, the cross-process writer lock, the WAL checkpointer, times as text;
- migrations.py: the schema's history, one registered function per migration;
- events.py: the event write path (one transaction per event) and the admin's review;
- addresses.py: when an address is dead (the rules, derived from its bounces);
- mailings.py: which mailing a reply belongs to;
- outbox.py: planned actions and the outbox callback mode drains;
- allowlist.py: senders and domains that are never machine mail;
- runs.py: sweeps and catch-up rounds, with their watermark and reports;
- retention.py: forgetting mail content after the retention period;
- read.py and rows.py: the read model for pages, API and metrics, as typed rows.

`Store` is only their sum: one object per process, so every part shares one connection and
one lock. The payload spool (bouncer/spool.py) lives beside the database, not in it.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlite_utils.db import NotFoundError

from ..subjects import subject_key
from .allowlist import Allowlist
from .db import iso, parse_iso, utcnow
from .events import Events, MailMeta, PlannedAction, Recorded
from .mailings import MailingExists
from .migrations import MIGRATIONS, migrate
from .read import ReadModel
from .retention import Retention
from .runs import Runs

__all__ = [
    "MIGRATIONS", "MailMeta", "MailingExists", "NotFoundError", "PlannedAction", "Recorded", "Store", "iso",
    "parse_iso", "subject_key", "utcnow",
]


class Store(Events, Allowlist, Retention, ReadModel, Runs):
    """All persistence for one process. Thread-safe through one lock around one connection."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], datetime] = utcnow,
        soft_threshold: int = 3,
        soft_window_days: int = 30,
        count_unverified: bool = False,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        super().__init__(path, clock=clock, soft_threshold=soft_threshold, soft_window_days=soft_window_days,
                         count_unverified=count_unverified, lease=lease)
        migrate(self)
        if "bounce_check" in self._db["verdicts"].columns_dict:  # m011 is applied (not so in a test of older ones)
            with self._write():  # bounces from before verification (m011) are checked by today's rules
                self._verify("v.bounce_check IS NULL")
