"""`flask --app app sweep`: the backlog sweep from a terminal (engine: bouncer/sweep.py).

On a terminal a rich progress bar shows done/total, rate, ETA and counts; elsewhere (cron,
CI, a pipe) one plain line every few seconds. The first Ctrl-C ends the sweep after the ticket
in hand and says how to go on; a second one stops at once (nothing is acted on twice either
way: see bouncer/sweep.py).
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .otrs import OtrsError
from .sweep import DEFAULT_RATE, SweepOptions, SweepReport, TicketResult, run_sweep

PLAIN_EVERY = 5.0  # seconds between plain progress lines
ACTION_COLUMNS = ("close", "move", "tag", "restore", "leave", "error")


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command("sweep")
@click.option("--queue", "queues", multiple=True, metavar="NAME",
              help="Only this queue (repeatable). Default: every queue the agent may read.")
@click.option("--created-after", metavar="DATE", help="Only tickets created at or after (YYYY-MM-DD[THH:MM], UTC).")
@click.option("--created-before", metavar="DATE", help="Only tickets created at or before (YYYY-MM-DD[THH:MM], UTC).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many tickets, oldest first.")
@click.option("--dry-run/--apply", "dry_run", default=True, show_default=True,
              help="Dry run: change nothing, report what would be done. Apply: act and record.")
@click.option("--rate", type=click.FloatRange(min=0), default=DEFAULT_RATE, show_default=True,
              help="Tickets acted on per second (--apply); 0: as fast as Znuny answers.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="Where to write the per-ticket CSV. Default: sweep-<time>.csv in the current folder.")
@with_appcontext
def sweep_command(queues: tuple[str, ...], created_after: str | None, created_before: str | None, limit: int | None,
                  dry_run: bool, rate: float, csv_path: str | None) -> None:
    """Sweep Znuny's open tickets: judge the mails we never saw and (with --apply) act as the webhook would."""
    service = current_app.extensions["bouncer"]
    if service.otrs is None:
        raise click.UsageError("the sweep needs BOUNCER_OTRS_URL, BOUNCER_OTRS_USER and BOUNCER_OTRS_PASSWORD")
    options = SweepOptions(queues=queues, created_after=_when(created_after), created_before=_when(created_before),
                           limit=limit, apply=not dry_run, rate=rate)
    console = Console(stderr=True)
    stop = threading.Event()
    display = _Display(console, options)
    try:
        with _first_sigint_sets(stop, console), display:
            run_id, report = run_sweep(service, options, started_by="command line", on_found=display.found,
                                       on_result=display.result, should_stop=stop.is_set)
    except OtrsError as exc:
        raise click.ClickException(f"Znuny: {exc.code}: {exc.message}") from None
    path = Path(csv_path or f"sweep-{datetime.now():%Y%m%d-%H%M%S}.csv")
    path.write_text(report.csv_text(), encoding="utf-8")
    out = Console()
    out.print(summary_table(report))
    out.print(category_table(report))
    counts = report.counts()
    verb = "acted on" if options.apply else "would act on"
    acted = sum(counts[a] for a in ("close", "move", "tag", "restore"))
    out.print(f"Sweep #{run_id}: {len(report.results)} of {report.total} tickets in {report.seconds:.1f} s "
              f"({report.tickets_per_second:.1f}/s); {verb} {acted}; errors {counts['error']}, "
              f"failed updates {counts['failed']}. Report: {path}")
    if not options.apply:
        out.print("Dry run: nothing was changed in Znuny or recorded. Add --apply to act.")
    if report.interrupted:
        again = " ".join(sys.argv[1:]) or "sweep"
        out.print(f"Stopped after {len(report.results)} of {report.total} tickets. To go on, run the same command "
                  f"again (flask {again}): tickets already handled are skipped, none is acted on twice.")
        sys.exit(130)


def summary_table(report: SweepReport) -> Table:
    """Per queue: tickets, and what was (or would be) done."""
    title = "Sweep (applied)" if report.options.apply else "Sweep (dry run: what would be done)"
    table = Table(title=title)
    table.add_column("Queue")
    for name in ("tickets", *ACTION_COLUMNS):
        table.add_column(name, justify="right")
    total: Counter[str] = Counter()
    for queue, counts in report.by_queue().items():
        total.update(counts)
        table.add_row(queue, *(str(counts[c]) for c in ("tickets", *ACTION_COLUMNS)))
    table.add_row("all", *(str(total[c]) for c in ("tickets", *ACTION_COLUMNS)), style="bold")
    return table


def category_table(report: SweepReport) -> Table:
    """Per category of the mail that decided (or would have decided) the ticket."""
    table = Table(title="By category")
    table.add_column("Category")
    for name in ACTION_COLUMNS[:-1]:
        table.add_column(name, justify="right")
    for category, counts in report.by_category().items():
        table.add_row(category, *(str(counts[c]) for c in ACTION_COLUMNS[:-1]))
    return table


class _Display:
    """A rich progress bar on a terminal, plain lines otherwise."""

    def __init__(self, console: Console, options: SweepOptions) -> None:
        self.console, self.options = console, options
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self._last_line = 0.0
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> _Display:
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console)
            self._progress.__enter__()
            self._task = self._progress.add_task("sweep", total=None, counts="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
        elif self.total:
            self._line(final=True)

    def found(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        if self._progress is not None:
            self._progress.update(self._task, total=total)
        else:
            self.console.print(f"sweep: {total} open tickets found ({'apply' if self.options.apply else 'dry run'})",
                               highlight=False)

    def result(self, result: TicketResult) -> None:
        self.done += 1
        self.counts["error" if result.status == "error" else result.action] += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, counts=self._counts())
        elif time.monotonic() - self._last_line >= PLAIN_EVERY:
            self._line()

    def _counts(self) -> str:
        return " ".join(f"{name} {self.counts[name]}" for name in ACTION_COLUMNS if self.counts[name])

    def _line(self, final: bool = False) -> None:
        self._last_line = time.monotonic()
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        self.console.print(f"sweep: {self.done}/{self.total} tickets, {rate:.1f}/s, "
                           f"{'done' if final else f'ETA {int(eta // 60)}m{int(eta % 60):02d}s'}, {self._counts()}",
                           highlight=False, soft_wrap=True)


@contextmanager
def _first_sigint_sets(stop: threading.Event, console: Console) -> Iterator[None]:
    """Ctrl-C once: finish the ticket in hand, then stop. Twice: stop now (KeyboardInterrupt)."""
    previous: Callable[[int, FrameType | None], Any] | int | None = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        console.print("Stopping after the ticket in hand (Ctrl-C again to stop at once) ...", highlight=False)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
