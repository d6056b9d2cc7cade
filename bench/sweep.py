"""Sweep speed: tickets per second against the fake Znuny (2,000 open tickets from the dev corpus) and,
when it answers, against a real Znuny (a dry run only: it reads, never changes anything there).

The fake is tests/fake_znuny.py over real HTTP on 127.0.0.1, in its own process, serving tickets
built from the dev corpus as Znuny posted it (tests/corpus_tickets.py); the sweep is the real one (bouncer/sweep.py)
through the whole app on a fresh SQLite file: a dry run, then an apply at an unthrottled rate
(every planned ticket gets its TicketUpdate). The real Znuny is asked for its open tickets
through the BounceWebhook web service (docs/znuny-setup.md).

    python bench/sweep.py                            # last line: key=value summary
    python bench/sweep.py --tickets 500 --no-real
    python bench/sweep.py --real-url http://127.0.0.1/znuny --real-password ...

Target (issue "Backlog sweep"): 2,000 tickets in under 5 minutes unthrottled against the fake.
"""
from __future__ import annotations

import argparse
import copy
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from app import create_app  # noqa: E402
from bouncer.config import Config  # noqa: E402
from bouncer.otrs import OtrsClient, OtrsError  # noqa: E402
from bouncer.sweep import SweepOptions, SweepReport, run_sweep  # noqa: E402
from corpus_tickets import build_tickets  # noqa: E402
from fake_znuny import FakeZnuny  # noqa: E402

TARGET_SECONDS = 300.0


def sweep_once(config: Config, apply: bool, limit: int | None = None) -> SweepReport:
    app = create_app(config)
    service = app.extensions["bouncer"]
    try:
        _, report = run_sweep(service, SweepOptions(apply=apply, rate=0, limit=limit))
    finally:
        service.store.close()
    return report


def line(name: str, report: SweepReport) -> str:
    counts = report.counts()
    return (f"{name:<22} {len(report.results):6d} tickets {report.seconds:8.1f} s {report.tickets_per_second:8.1f}/s"
            f"   close {counts['close']} move {counts['move']} tag {counts['tag'] + counts['restore']}"
            f" leave {counts['leave']} errors {counts['error']} failed {counts['failed']}")


def serve_fake(tickets: int, conn: Connection) -> None:
    """The fake Znuny in its own process (as a real one is), so its work is not counted as the sweep's:
    sends (base_url, user, password), then answers "updates" with the number of TicketUpdates."""
    logging.disable(logging.INFO)
    built = build_tickets(tickets)
    with FakeZnuny() as fake:
        for item in built:
            fake.add_ticket(copy.deepcopy(item.ticket))
        conn.send((fake.base_url, fake.user, fake.password))
        while conn.recv() == "updates":
            conn.send(len(fake.requests_for("TicketUpdate")))


def bench_fake(tickets: int, folder: Path) -> tuple[SweepReport, SweepReport]:
    print(f"building {tickets} tickets from the dev corpus in the fake Znuny's own process ...", flush=True)
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve_fake, args=(tickets, theirs), daemon=True)
    server.start()
    try:
        url, user, password = ours.recv()
        config = Config(db_path=str(folder / "fake.sqlite"), otrs_url=url, otrs_user=user, otrs_password=password,
                        log_json=False, users_file=str(folder / "users.toml"))
        dry = sweep_once(config, apply=False)
        print(line("fake dry run", dry), flush=True)
        applied = sweep_once(config, apply=True)
        print(line("fake apply", applied), flush=True)
        ours.send("updates")
        updates = ours.recv()
        ours.send("stop")
    finally:
        server.join(30)
        if server.is_alive():
            server.terminate()
    planned = sum(dry.counts()[a] for a in ("close", "move", "tag", "restore"))
    if updates != planned:
        print(f"MISMATCH: {planned} tickets planned, {updates} updated", flush=True)
    return dry, applied


def bench_real(args: argparse.Namespace, folder: Path) -> SweepReport | None:
    client = OtrsClient(args.real_url, args.webservice, args.real_user, args.real_password, timeout=10)
    try:
        client.session_id()
    except OtrsError as exc:
        print(f"real Znuny at {args.real_url} not usable ({exc.code}): skipped", flush=True)
        return None
    config = Config(db_path=str(folder / "real.sqlite"), otrs_url=args.real_url, otrs_user=args.real_user,
                    otrs_password=args.real_password, otrs_webservice=args.webservice, log_json=False,
                    users_file=str(folder / "users.toml"))
    report = sweep_once(config, apply=False, limit=args.real_tickets)
    print(line("real dry run", report), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=2000, help="tickets in the fake Znuny")
    parser.add_argument("--no-real", action="store_true", help="skip the real Znuny")
    parser.add_argument("--real-url", default=os.environ.get("BENCH_ZNUNY_URL", "http://127.0.0.1/znuny"))
    parser.add_argument("--real-user", default=os.environ.get("BENCH_ZNUNY_USER", "root@localhost"))
    parser.add_argument("--real-password", default=os.environ.get("ZNUNY_ADMIN_PW", "znuny-admin-pw"))
    parser.add_argument("--webservice", default="BounceWebhook")
    parser.add_argument("--real-tickets", type=int, default=300, help="at most this many real tickets")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # one log line per ticket would measure the terminal
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.monotonic()
        dry, applied = bench_fake(args.tickets, folder)
        print(f"fake total {time.monotonic() - started:.1f} s (building tickets included)", flush=True)
        real = None if args.no_real else bench_real(args, folder)
    worst = max(dry.seconds, applied.seconds)
    ok = worst < TARGET_SECONDS and not dry.counts()["error"] and not applied.counts()["failed"]
    real_part = (f"real_tickets={len(real.results)} real_dry_run_tps={real.tickets_per_second:.1f} "
                 f"real_errors={real.counts()['error']}" if real else "real=absent")
    print(f"fake_tickets={len(dry.results)} fake_dry_run_tps={dry.tickets_per_second:.1f} "
          f"fake_dry_run_s={dry.seconds:.1f} fake_apply_tps={applied.tickets_per_second:.1f} "
          f"fake_apply_s={applied.seconds:.1f} fake_acted={applied.counts()['done']} {real_part} "
          f"target_s={TARGET_SECONDS:.0f} ok={'yes' if ok else 'no'}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
