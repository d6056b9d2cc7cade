"""The backlog sweep: open tickets in Znuny, judged and acted on as the webhook would have.

Per ticket: TicketGet with all articles (paged for long tickets, see
`OtrsClient.ticket_with_articles`); the incoming mails we hold no event for are judged oldest
first through `Service.judge`, exactly the webhook's classify -> plan path, each seeing the
articles the ticket had when it came in. Only the ticket's newest article by a person (customer
or agent; Znuny's own auto-responses and our notes do not count) decides what happens to the
ticket: if that is a machine mail we have not judged, its plan is the ticket's plan, with the
webhook's safety (a ticket holding a person's message is tagged, never closed or moved). Older
unjudged mails are recorded with no action; an article the webhook (or an earlier sweep)
recorded is not judged again, so a ticket whose newest mail was decided is left alone.

A dry run writes nothing anywhere. `apply` records each judged article as the webhook does
(event source "sweep") and then carries out the ticket's one update at the given rate. The
event rows are the resume point: a second run skips every article the first one recorded, and
an update is claimed in the outbox before it is sent, so no ticket is acted on twice.
"""
from __future__ import annotations

import csv
import io
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from . import znuny
from .otrs import OtrsError
from .policy import MARKER, Plan, label
from .service import Judgement, Service, own_article
from .znuny import PERSON_SENDER_TYPES

log = logging.getLogger("bouncer.sweep")

DEFAULT_RATE = 2.0  # tickets acted on per second: gentle on a production Znuny
PAGE_SIZE = 30  # articles per TicketGet page
LEAVE = "leave"
CSV_HEADER = ("ticket_number", "ticket_id", "queue", "age_days", "category", "confidence", "evidence",
              "planned_action", "why", "status", "error")
_OLDER = "an older mail of the ticket: the sweep judges a ticket by its newest mail"


@dataclass(frozen=True)
class SweepOptions:
    """What to sweep and how (the command's options; see docs/sweep.md)."""

    queues: tuple[str, ...] = ()  # empty: every queue the agent may read
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int | None = None  # at most this many tickets, oldest first
    apply: bool = False
    rate: float = DEFAULT_RATE  # tickets acted on per second; 0: as fast as Znuny answers
    page_size: int = PAGE_SIZE

    def describe(self) -> dict[str, Any]:
        return {"queues": list(self.queues), "created_after": self.created_after and self.created_after.isoformat(),
                "created_before": self.created_before and self.created_before.isoformat(), "limit": self.limit,
                "apply": self.apply, "rate": self.rate}


@dataclass(frozen=True)
class TicketResult:
    """One ticket's line in the report. `status`: planned (dry run), done, queued (the service's
    outbox had claimed it), failed (Znuny refused the update), unchanged, error (could not read)."""

    ticket_id: int
    number: str = ""
    queue: str = ""
    age_days: float | None = None
    category: str = ""
    confidence: float | None = None
    evidence: str = ""
    action: str = LEAVE  # close | move | tag | restore | leave
    why: str = ""
    status: str = "unchanged"
    error: str = ""
    judged: int = 0  # articles judged on this ticket

    def row(self) -> tuple[Any, ...]:
        return (self.number, self.ticket_id, self.queue, "" if self.age_days is None else f"{self.age_days:.1f}",
                self.category, "" if self.confidence is None else f"{self.confidence:.2f}", self.evidence,
                self.action, self.why, self.status, self.error)


@dataclass
class SweepReport:
    """Every ticket's result, in order, and whether the run stopped early."""

    options: SweepOptions
    total: int = 0  # tickets found
    results: list[TicketResult] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def tickets_per_second(self) -> float:
        return len(self.results) / self.seconds if self.seconds > 0 else 0.0

    def counts(self) -> Counter[str]:
        """Tickets by planned action, plus `error` and `failed` for what went wrong."""
        counts: Counter[str] = Counter(r.action for r in self.results if r.status != "error")
        counts["error"] = sum(r.status == "error" for r in self.results)
        counts["failed"] = sum(r.status == "failed" for r in self.results)
        counts["done"] = sum(r.status == "done" for r in self.results)
        return counts

    def by_queue(self) -> dict[str, Counter[str]]:
        """Per queue: tickets, and tickets by action (close, move, tag, restore, leave, error)."""
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for r in self.results:
            out[r.queue or "?"]["tickets"] += 1
            out[r.queue or "?"]["error" if r.status == "error" else r.action] += 1
        return dict(sorted(out.items()))

    def by_category(self) -> dict[str, Counter[str]]:
        """Per category of the deciding mail: tickets by action."""
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for r in self.results:
            if r.status != "error":
                out[r.category or "-"][r.action] += 1
        return dict(sorted(out.items()))

    def summary(self) -> dict[str, Any]:
        """What the runs table keeps and the admin page shows."""
        return {"found": self.total, "swept": len(self.results), "interrupted": self.interrupted,
                "seconds": round(self.seconds, 1), "tickets_per_second": round(self.tickets_per_second, 2),
                "actions": dict(self.counts()), "queues": {q: dict(c) for q, c in self.by_queue().items()},
                "categories": {k: dict(c) for k, c in self.by_category().items()}}

    def csv_text(self) -> str:
        """One row per ticket (CSV_HEADER), RFC 4180 with CRLF as the csv module writes it."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_HEADER)
        writer.writerows(r.row() for r in self.results)
        return buffer.getvalue()


class Sweep:
    """One sweep over Znuny's open tickets, through the process's `Service` (store, policy, client)."""

    def __init__(self, service: Service, options: SweepOptions, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if service.otrs is None:
            raise ValueError("the sweep needs BOUNCER_OTRS_URL, BOUNCER_OTRS_USER and BOUNCER_OTRS_PASSWORD")
        self.service, self.options, self.otrs = service, options, service.otrs
        self._clock, self._sleep = clock, sleep
        self._next_slot = 0.0

    def find(self) -> list[int]:
        """The open tickets to sweep, oldest first (TicketSearch; raises OtrsError)."""
        o = self.options
        ids = self.otrs.open_ticket_ids(o.queues, o.created_after, o.created_before,
                                        zone=self.service.config.otrs_zone)
        return ids[: o.limit] if o.limit else ids

    def run(self, ticket_ids: list[int], on_result: Callable[[TicketResult], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> SweepReport:
        """Sweep these tickets in order; `should_stop` is asked after each ticket (Ctrl-C)."""
        report = SweepReport(self.options, total=len(ticket_ids))
        started = time.monotonic()
        for ticket_id in ticket_ids:
            result = self.ticket(ticket_id)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
            if should_stop() and len(report.results) < len(ticket_ids):
                report.interrupted = True
                break
        report.seconds = time.monotonic() - started
        return report

    def ticket(self, ticket_id: int) -> TicketResult:
        """Judge one ticket (and act, when applying); every failure becomes the ticket's `error`."""
        try:
            return self._ticket(ticket_id)
        except OtrsError as exc:
            log.warning("sweep: ticket not read", extra={"ticket_id": ticket_id, "error": exc.code})
            return TicketResult(ticket_id, status="error", error=f"{exc.code}: {exc.message}", why="Znuny refused")
        except Exception as exc:  # a ticket we cannot read must not end a sweep of thousands
            log.exception("sweep: ticket failed", extra={"ticket_id": ticket_id})
            return TicketResult(ticket_id, status="error", error=f"{type(exc).__name__}: {exc}")

    # ---- one ticket ------------------------------------------------------------------------------
    def _ticket(self, ticket_id: int) -> TicketResult:
        ticket, articles, partial = self.otrs.ticket_with_articles(ticket_id, self.options.page_size)
        base = TicketResult(ticket_id, number=str(ticket.get("TicketNumber") or ""),
                            queue=str(ticket.get("Queue") or ""),
                            age_days=_age_days(ticket.get("Created"), self.service.config.otrs_zone))
        recorded = self.service.store.event_sources(ticket_id)
        parsed = {_id(a): znuny.parse_article(a) for a in articles}
        people = [a for a in articles
                  if parsed[_id(a)].sender_type in PERSON_SENDER_TYPES and not _ours(parsed[_id(a)])]
        newest = people[-1] if people else None
        candidates = [a for a in articles if not own_article(parsed[_id(a)]) and _id(a) not in recorded]
        if not candidates:
            return replace(base, why=_left_because(newest, recorded) if newest else "no incoming mail to judge")
        articles = self._with_attachments(ticket_id, articles, candidates, partial)
        judged = self._judge(ticket, articles, candidates)
        deciding = judged[-1] if newest is not None and _id(newest) == judged[-1].article_id else None
        older = [replace(j, plan=Plan(action="none", why=_OLDER)) for j in judged if j is not deciding]
        shown = deciding or judged[-1]
        result = replace(base, category=label(shown.verdict), confidence=shown.verdict.confidence,
                         evidence=" | ".join(shown.verdict.evidence[:3]), judged=len(judged))
        if deciding is None:
            result = replace(result, why=_left_because(newest, recorded) if newest else "no article by a person")
        elif deciding.plan.action == "none":
            result = replace(result, why=deciding.plan.why)
        else:
            result = replace(result, action=deciding.plan.action, why=deciding.plan.why, status="planned")
        if not self.options.apply:
            return result
        return self._apply(result, older, deciding)

    def _with_attachments(self, ticket_id: int, articles: list[dict[str, Any]], candidates: list[dict[str, Any]],
                          partial: set[int]) -> list[dict[str, Any]]:
        """Attachments for judged articles beyond the first page of a long ticket (not needed when the
        raw mail is fetched instead)."""
        missing = {_id(a) for a in candidates} & partial
        if not missing or (self.service.config.fetch_raw and self.service.otrs is not None):
            return articles
        full = self.otrs.customer_articles(ticket_id, missing, self.options.page_size)
        candidates[:] = [full.get(_id(a), a) for a in candidates]
        return [full.get(_id(a), a) for a in articles]

    def _judge(self, ticket: Mapping[str, Any], articles: list[dict[str, Any]],
               candidates: Iterable[Mapping[str, Any]]) -> list[Judgement]:
        """Oldest first, each with the articles before it, as the invoker would have sent them; machine
        verdicts so far count as no conversation for the later ones (a dry run records none)."""
        position = {_id(a): i for i, a in enumerate(articles)}
        machine: set[int] = set()
        judged = []
        for article in candidates:
            upto = articles[: position[_id(article)] + 1]
            one = self.service.judge(znuny.parse_event(znuny.invoker_body(ticket, article, upto)), machine)
            if one.verdict.is_machine:
                machine.add(one.article_id)
            judged.append(one)
        return judged

    def _apply(self, result: TicketResult, older: list[Judgement], deciding: Judgement | None) -> TicketResult:
        """Record every judged article (source "sweep"), then carry out the ticket's update once."""
        for one in older:
            self.service.record(one, "sweep", "callback", "pending")
        if deciding is None:
            return result
        recorded = self.service.record(deciding, "sweep", "callback", "pending")
        if recorded is None:
            return replace(result, action=LEAVE, status="unchanged", why="recorded meanwhile by another path")
        if recorded.action_id is None or deciding.plan.is_empty:
            return result
        self._pace()
        if not self.service.store.claim_action(recorded.action_id):
            return replace(result, status="queued")
        error = self.service.execute({"id": recorded.action_id, "event_id": recorded.event_id,
                                      "ticket_id": result.ticket_id, "plan": deciding.plan.as_dict(), "attempts": 0})
        if error is not None:
            return replace(result, status="failed", error=f"{error.code}: {error.message}")
        return replace(result, status="done")

    def _pace(self) -> None:
        """At most `rate` updates per second."""
        if self.options.rate <= 0:
            return
        now = self._clock()
        if self._next_slot > now:
            self._sleep(self._next_slot - now)
            now = self._next_slot
        self._next_slot = now + 1.0 / self.options.rate


def run_sweep(service: Service, options: SweepOptions, *, started_by: str | None = None,
              on_found: Callable[[int], None] | None = None,
              on_result: Callable[[TicketResult], None] | None = None,
              should_stop: Callable[[], bool] = lambda: False) -> tuple[int, SweepReport]:
    """A whole sweep as the command and the admin page run it: find, sweep, and keep the run (mode,
    settings, summary, CSV report) in the runs table. Returns the run's id and the report."""
    sweep = Sweep(service, options)
    run_id = service.store.start_run("sweep", "apply" if options.apply else "dry-run", options.describe(), started_by)
    report = SweepReport(options)
    try:
        ids = sweep.find()
        if on_found is not None:
            on_found(len(ids))
        report = sweep.run(ids, on_result, should_stop)
    except BaseException as exc:
        service.store.finish_run(run_id, "failed", report.summary(), report=report.csv_text(),
                                 error=f"{type(exc).__name__}: {exc}")
        raise
    service.store.finish_run(run_id, "interrupted" if report.interrupted else "done", report.summary(),
                             report=report.csv_text())
    return run_id, report


def _left_because(newest: Mapping[str, Any], recorded: Mapping[int, str]) -> str:
    """Why a ticket whose newest article by a person is not ours to judge now is left as it is."""
    if _id(newest) in recorded:
        return f"its newest mail was decided before ({recorded[_id(newest)]})"
    return f"its newest article is an agent's ({_id(newest)})"


def _ours(article: znuny.Article) -> bool:
    """Our own notes say nothing about the ticket."""
    return MARKER in article.subject or (article.body or "").startswith(MARKER)


def _id(article: Mapping[str, Any] | None) -> int:
    try:
        return int((article or {}).get("ArticleID") or 0)
    except (TypeError, ValueError):
        return 0


def _age_days(created: Any, zone: Any) -> float | None:
    moment = znuny.znuny_time(created, zone)
    return None if moment is None else (datetime.now(UTC) - moment).total_seconds() / 86400
