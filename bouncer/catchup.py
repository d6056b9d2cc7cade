"""The catch-up: mails that came while we were down, found in Znuny and processed once.

Znuny never retries a failed synchronous invoker call, so an article created while the
service was stopped (or unreachable) has no event here. Every BOUNCER_CATCHUP_MINUTES one
worker asks TicketSearch for tickets with articles created since the last round ended (the
first round: since the newest recorded event), minus an overlap for clock skew, reads them
with TicketGet and hands each incoming article without an event to `Service.process` as the
invoker body it would have been (source "catchup"), except that it lists all the ticket's
articles as they are now: a later mail by a person makes the ticket a conversation, so a late
machine verdict tags it and never closes it. The events' unique (ticket, article)
index keeps a late webhook delivery and the catch-up from both acting. In inline mode nobody
waits for an answer, so updates go through the outbox, as for an event finished after a crash.

A round is a row of the runs table (kind "catchup"): its watermark `until` advances only when
the round finished, so a Znuny outage during a round is looked at again by the next one.
"""
from __future__ import annotations

import fcntl
import logging
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import fastjson, znuny
from .otrs import OtrsError
from .service import Service, own_article
from .store import parse_iso

log = logging.getLogger("bouncer.catchup")
KEEP_RUNS = 500  # catch-up rounds kept in the runs table (one every few minutes adds up)


class CatchUp:
    """Periodic catch-up for one process; `run_once` is one round (tests call it directly)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.interval = service.config.catchup_minutes * 60
        self.overlap = timedelta(minutes=service.config.catchup_overlap_minutes)
        self._lock_path = Path(f"{service.config.db_path}-catchup.lock")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bouncer-catchup", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once(min_gap=self.interval / 2)
            except Exception:  # a bug or a locked database must not end the thread
                log.exception("catch-up round failed")
            self._stop.wait(self.interval)

    def run_once(self, min_gap: float = 0.0) -> dict[str, Any] | None:
        """One round; None when another worker holds the round, one ended less than `min_gap`
        seconds ago, or nothing was ever recorded (a new installation: that is the sweep's work)."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            return self._round(min_gap)

    def _round(self, min_gap: float) -> dict[str, Any] | None:
        store, otrs = self.service.store, self.service.otrs
        if otrs is None:
            return None
        last = store.last_run("catchup", status="done")
        now = store.clock()
        if last and last.get("finished_at") and (now - parse_iso(last["finished_at"])).total_seconds() < min_gap:
            return None
        since = parse_iso(last["until"]) if last and last.get("until") else store.newest_event_time()
        if since is None:
            return None
        look_from = since - self.overlap
        run_id = store.start_run("catchup", self.service.config.mode, {"since": look_from.isoformat()}, "service")
        counts: Counter[str] = Counter(dict.fromkeys(("tickets", "processed", "duplicate", "ignored", "errors"), 0))
        try:
            for ticket_id in otrs.tickets_with_articles_since(look_from, self.service.config.otrs_zone):
                counts["tickets"] += 1
                self._ticket(ticket_id, look_from, counts)
        except OtrsError as exc:  # Znuny unreachable: the watermark stays, the next round looks again
            log.warning("catch-up round failed", extra={"error": exc.code})
            store.finish_run(run_id, "failed", dict(counts), error=f"{exc.code}: {exc.message}")
            return dict(counts)
        store.finish_run(run_id, "done", dict(counts), until=now)
        store.prune_runs("catchup", KEEP_RUNS)
        if counts["processed"]:
            log.info("catch-up processed missed articles", extra=dict(counts))
        return dict(counts)

    def _ticket(self, ticket_id: int, look_from: datetime, counts: Counter[str]) -> None:
        """Every incoming article of the ticket created since `look_from` that has no event.

        A first TicketGet without attachments tells whether there is one (usually not: the webhook
        saw them); only then is the ticket read with attachments (paged as the sweep does)."""
        service, otrs, zone = self.service, self.service.otrs, self.service.config.otrs_zone
        assert otrs is not None  # _round returns early without a client
        recorded = service.store.event_sources(ticket_id)

        def missed_in(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [a for a in articles if _id(a) not in recorded and not own_article(znuny.parse_article(a))
                    and (znuny.znuny_time(a.get("CreateTime"), zone) or look_from) >= look_from]

        try:
            if not missed_in(znuny.ticket_articles(otrs.ticket_get(ticket_id, AllArticles=True))):
                return
            ticket, articles, partial = otrs.ticket_with_articles(ticket_id)
            missed = missed_in(articles)
            if {_id(a) for a in missed} & partial and not service.config.fetch_raw:
                full = otrs.customer_articles(ticket_id, {_id(a) for a in missed})
                articles = [full.get(_id(a), a) for a in articles]
                missed = [full.get(_id(a), a) for a in missed]
        except OtrsError as exc:
            counts["errors"] += 1
            log.warning("catch-up: ticket not read", extra={"ticket_id": ticket_id, "error": exc.code})
            return
        for article in missed:
            # Every article the ticket has now, not only those before this one: a person who wrote
            # after the machine mail makes it a conversation, so the late verdict tags and never closes.
            body = znuny.invoker_body(ticket, article, articles)
            try:
                outcome = service.process(znuny.parse_event(body), fastjson.dumps(body).encode(), source="catchup",
                                          late=True)
            except Exception:
                counts["errors"] += 1
                log.exception("catch-up: article failed", extra={"ticket_id": ticket_id, "article_id": _id(article)})
                continue
            counts[outcome.status] += 1
            if outcome.status == "processed" and outcome.plan is not None:
                counts[f"action_{outcome.plan.action}"] += 1


def _id(article: Mapping[str, Any]) -> int:
    try:
        return int(article.get("ArticleID") or 0)
    except (TypeError, ValueError):
        return 0
