"""The outbox worker: a daemon thread that executes pending ticket updates in callback mode.

Each gunicorn worker runs one; claims with a lease (in the store) keep two workers from
doing the same action, and a Znuny outage only delays actions (backoff), never drops them.
"""
from __future__ import annotations

import logging
import threading

from .service import Service

log = logging.getLogger("bouncer.outbox")


class OutboxWorker:
    def __init__(self, service: Service, interval: float = 1.0) -> None:
        self.service, self.interval = service, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bouncer-outbox", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> int:
        """Recover interrupted events, then execute what is due; returns actions done."""
        self.service.recover()
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
