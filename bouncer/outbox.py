"""The outbox worker: a daemon thread that executes pending ticket updates and keeps the store tidy.

Each gunicorn worker runs one; claims with a lease (in the store) keep two workers from
doing the same action, and a Znuny outage only delays actions (backoff), never drops them.
It also finishes events a crash interrupted, and applies the retention setting
(snippets and evidence older than BOUNCER_RETENTION_DAYS are purged) every few hours.
"""
from __future__ import annotations

import logging
import threading
import time

from .service import Service

log = logging.getLogger("bouncer.outbox")
PURGE_EVERY = 6 * 3600.0  # seconds between retention purges


class OutboxWorker:
    def __init__(self, service: Service, interval: float = 1.0) -> None:
        self.service, self.interval = service, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_purge = 0.0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bouncer-outbox", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> int:
        """Recover interrupted events, purge what retention says, settle inline answers Znuny never
        confirmed, execute what is due; returns actions done."""
        self.service.recover()
        now = time.monotonic()
        if now >= self._next_purge:
            purged = self.service.store.purge(self.service.config.retention_days)
            log.info("retention purge", extra={"retention_days": self.service.config.retention_days, **purged})
            self._next_purge = now + PURGE_EVERY
        self.service.confirm_sent()
        return self.service.run_outbox()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # a bug or a locked database must not kill the thread
                log.exception("outbox round failed")
                busy = 0
            if not busy:
                self._stop.wait(self.interval)
