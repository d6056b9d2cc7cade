"""Webhook throughput, latency and lost events through real gunicorn against a fake Znuny, on 127.0.0.1.

gunicorn runs gunicorn.conf.py with 2 workers on a fresh SQLite file; the fake Znuny is
tests/fake_znuny.py (answers from ../shared/otrs-wire). Events are the captured invoker
requests (bounces, out-of-office replies, a read receipt, human mail), each with its own
TicketID/ArticleID, posted the way Znuny posts them (Connection: close), a few at a time
(--clients, from one selector thread). Three phases:

  inline    events/s and p50/p99 latency; lost = events posted - verdicts recorded
  callback  the same, then the outbox drains; lost also counts ticket updates that never
            reached the fake Znuny (duplicates are reported apart)
  burst     5,000 events at once in callback mode (a member mailing's backwash), drained

    python bench/webhook.py                  # prints figures, last line key=value summary
    python bench/webhook.py --events 1000 --clients 4

Targets (issue "Webhook"): >= 500 events/s and p99 < 50 ms inline; the burst drained, 0 lost.
Exit status 1 when any event is lost.
"""
from __future__ import annotations

import argparse
import base64
import copy
import http.client
import json
import logging
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fake_znuny import FakeZnuny, default_wire_dir  # noqa: E402

from bouncer.store import Store  # noqa: E402

# A backwash mix: bounces, out-of-office replies, a read receipt, and people answering.
SCENARIOS = ("bounce-exim-unknown-msgid-newticket", "bounce-postfix-dsn-followup", "ooo-vacation-generic-newticket",
             "ooo-exchange-followup", "read-receipt-mdn-followup", "human-reply-followup", "newticket-customer-plain")
USER, PASSWORD, TOKEN = "webhookuser", "bench-password", "test-token-123"
WORKERS = 2
BOOT_SECONDS = 60.0
DRAIN_SECONDS = 300.0
HTTP_TIMEOUT = 30.0
FIRST_TICKET = 100_000  # far above the captured tickets (2-5), one new ticket per event
# The addresses the captured bounces report as failed; a mailing's backwash names many members.
RECIPIENTS = ("nobody@example.net", "alice@example.com")


@dataclass(frozen=True)
class Event:
    ticket_id: int
    path: str
    body: bytes


class Events:
    """Captured invoker requests, rewritten so every event has its own ticket and article."""

    def __init__(self, wire_dir: Path) -> None:
        self.templates = []
        for scenario in SCENARIOS:
            capture = json.loads((wire_dir / f"invoker-articlecreate-{scenario}.json").read_text(encoding="utf-8"))
            self.templates.append((capture["body_json"], dict(capture["headers"])))
        self.headers = {name: value for name, value in self.templates[0][1].items()
                        if name.lower() not in ("host", "content-length", "authorization")}
        self.headers["Authorization"] = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.next_ticket = FIRST_TICKET

    def make(self, count: int) -> list[Event]:
        """`count` new events (bodies built before the clock starts)."""
        events = []
        for _ in range(count):
            template, _headers = self.templates[(self.next_ticket - FIRST_TICKET) % len(self.templates)]
            ticket_id, article_id = self.next_ticket, self.next_ticket * 10
            self.next_ticket += 1
            body = _own_recipients(_renumber(template, ticket_id, article_id), f"m{ticket_id}.")
            events.append(Event(ticket_id, f"/otrs/article-created/{ticket_id}/{article_id}", body))
        return events


def _renumber(template: dict[str, Any], ticket_id: int, article_id: int) -> dict[str, Any]:
    """The template with its ticket and triggering article renumbered everywhere they appear."""
    body = copy.deepcopy(template)
    old_article = int(body["Event"]["ArticleID"])
    body["Event"].update(TicketID=ticket_id, ArticleID=article_id)
    body["Event"]["OldTicketData"]["TicketID"] = ticket_id
    ticket = body["Ticket"]
    ticket["TicketID"] = ticket_id
    ticket["Article"].update(TicketID=ticket_id, ArticleID=article_id)
    for article in ticket.get("Articles", []):
        article["TicketID"] = ticket_id
        if int(article["ArticleID"]) == old_article:
            article["ArticleID"] = article_id
    return body


def _own_recipients(body: dict[str, Any], prefix: str) -> bytes:
    """The body as JSON, each of RECIPIENTS given `prefix`, in the text and in the base64 attachments,
    so every bounce is about its own member as in a real backwash, not about one address 5,000 times."""
    def swap(text: str) -> str:
        for address in RECIPIENTS:
            text = text.replace(address, prefix + address)
        return text

    for article in [body["Ticket"]["Article"], *body["Ticket"].get("Articles", [])]:
        for attachment in article.get("Attachment") or []:
            content = base64.b64decode(attachment["Content"]).decode("latin-1")
            attachment["Content"] = base64.b64encode(swap(content).encode("latin-1")).decode("ascii")
    return swap(json.dumps(body)).encode()


def register_tickets(fake: FakeZnuny, events: list[Event]) -> None:
    """Give the fake a ticket for each event, so its TicketUpdates succeed as on a real Znuny."""
    for event in events:
        fake.tickets[event.ticket_id] = {"TicketID": event.ticket_id, "TicketNumber": str(2026_0000_0000 + event.ticket_id),
                                         "State": "new", "StateID": 1, "StateType": "new", "Queue": "Postmaster",
                                         "QueueID": 1, "Title": "bench", "DynamicField": [], "Article": []}


@dataclass
class Gunicorn:
    process: subprocess.Popen[bytes]
    port: int
    db_path: Path


@contextmanager
def gunicorn(mode: str, workdir: Path, extra_env: dict[str, str]) -> Iterator[Gunicorn]:
    """gunicorn with gunicorn.conf.py on a free loopback port; SIGTERM (then kill) on the way out."""
    db_path = workdir / f"{mode}.sqlite"
    log = workdir / f"gunicorn-{mode}.log"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("BOUNCER_") and key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(BOUNCER_BIND="127.0.0.1:0", BOUNCER_WORKERS=str(WORKERS), BOUNCER_MODE=mode,
               BOUNCER_DB_PATH=str(db_path), BOUNCER_WEBHOOK_USER=USER, BOUNCER_WEBHOOK_PASSWORD=PASSWORD,
               BOUNCER_WEBHOOK_TOKEN=TOKEN, **extra_env)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py"), "app:create_app()"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + BOOT_SECONDS
        port = 0
        while time.monotonic() < deadline and process.poll() is None:
            text = log.read_text(errors="replace")
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            if found and text.count("otrs-bouncer ready") == WORKERS:
                port = int(found.group(1))
                break
            time.sleep(0.05)
        if not port:
            raise RuntimeError(f"gunicorn did not start:\n{log.read_text(errors='replace')[-2000:]}")
        yield Gunicorn(process, port, db_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def get_json(port: int, path: str) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


@dataclass
class Run:
    """What the client saw: per-request latency, answers, wall time."""

    latencies: list[float]
    answers: list[dict[str, Any]]
    errors: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def expected_updates(self) -> set[int]:
        """Tickets our answers promised an update for (every answer whose action is not 'none')."""
        return {int(a["ticket_id"]) for a in self.answers if a.get("Action") not in (None, "none")}


def post_all(port: int, events: list[Event], headers: dict[str, str], clients: int) -> Run:
    """Post every event once, `clients` requests in flight, one connection per request as Znuny does.

    The client shares the machine's two cores with the server, so it takes as little of them
    as it can: each request's bytes (request line, Host, Content-Length, the captured invoker
    headers with `Connection: TE, close`, the body) are built before the clock starts, and one
    thread drives all connections through the selector (non-blocking sockets). A thread per
    connection cost 0.75 ms of CPU per event against 0.2 ms this way (against a WSGI app
    that does nothing), time the server then lacked.
    """
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    requests = [(f"POST {event.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Encoding: identity\r\n"
                 f"Content-Length: {len(event.body)}\r\n{head}\r\n").encode("latin-1") + event.body
                for event in events]
    latencies: list[float] = []
    answers: list[dict[str, Any]] = []
    errors = 0
    waiting = iter(zip(events, requests))
    selector = selectors.DefaultSelector()

    def start() -> None:
        """Open the next request's connection, if any is left."""
        item = next(waiting, None)
        if item is None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))  # EINPROGRESS: writable once connected
        selector.register(sock, selectors.EVENT_WRITE,
                          _Exchange(item[0], sock, memoryview(item[1]), time.perf_counter()))

    def finish(exchange: _Exchange) -> None:
        nonlocal errors
        selector.unregister(exchange.sock)
        exchange.sock.close()
        latencies.append(time.perf_counter() - exchange.started)
        answer = exchange.answer()
        if answer is None:
            errors += 1
        else:
            answers.append({**answer, "ticket_id": exchange.event.ticket_id})
        start()

    started = time.perf_counter()
    for _ in range(clients):
        start()
    while selector.get_map():
        ready = selector.select(HTTP_TIMEOUT)
        if not ready:  # nothing moved for HTTP_TIMEOUT: every open exchange counts as an error
            for key in list(selector.get_map().values()):
                finish(key.data)
            continue
        for key, mask in ready:
            exchange: _Exchange = key.data
            try:
                if mask & selectors.EVENT_WRITE:
                    exchange.unsent = exchange.unsent[exchange.sock.send(exchange.unsent):]
                    if not exchange.unsent:
                        selector.modify(exchange.sock, selectors.EVENT_READ, exchange)
                    continue
                chunk = exchange.sock.recv(65536)
                if chunk:
                    exchange.chunks.append(chunk)
                    continue
            except BlockingIOError:
                continue
            except OSError:
                exchange.chunks.clear()  # refused or reset: no answer
            finish(exchange)
    return Run(latencies, answers, errors, time.perf_counter() - started)


@dataclass
class _Exchange:
    """One request on its connection: what is left to send, what came back."""

    event: Event
    sock: socket.socket
    unsent: memoryview
    started: float
    chunks: list[bytes] = field(default_factory=list)

    def answer(self) -> dict[str, Any] | None:
        """The JSON body of a 200 answer read to its end (the server closes), else None."""
        status_line, _, rest = b"".join(self.chunks).partition(b"\r\n")
        if status_line.split(b" ", 2)[1:2] != [b"200"]:
            return None
        try:
            return json.loads(rest.partition(b"\r\n\r\n")[2])
        except ValueError:
            return None


def verdicts_recorded(db_path: Path) -> int:
    with Store(db_path) as store:
        return sum(store.stats()["verdicts"].values())


def drain(server: Gunicorn, fake: FakeZnuny, expected: set[int]) -> float:
    """Seconds until every promised update reached the fake and the outbox is empty (bounded)."""
    started = time.perf_counter()
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        delivered = {int(r.path.rsplit("/", 1)[1]) for r in fake.requests_for("TicketUpdate")}
        if expected <= delivered and get_json(server.port, "/readyz")["outbox_pending"] == 0:
            break
        time.sleep(0.05)
    return time.perf_counter() - started


def callback_loss(run: Run, posted: int, verdicts: int, fake: FakeZnuny) -> tuple[int, int]:
    """(lost, duplicates): events without a verdict plus promised updates that never arrived;
    updates that arrived more than once."""
    per_ticket = Counter(int(r.path.rsplit("/", 1)[1]) for r in fake.requests_for("TicketUpdate"))
    missing = len(run.expected_updates - set(per_ticket))
    return posted - verdicts + missing, sum(n - 1 for n in per_ticket.values() if n > 1)


def report(name: str, run: Run, lost: int, extra: str = "") -> None:
    print(f"{name:9s} {len(run.latencies):5d} events  {run.events_per_s:7.1f} events/s  "
          f"p50 {run.percentile_ms(0.50):6.1f} ms  p99 {run.percentile_ms(0.99):6.1f} ms  "
          f"errors {run.errors}  lost {lost}{extra}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="events per timed phase (default 2000)")
    parser.add_argument("--burst", type=int, default=5000, help="events in the callback burst (default 5000)")
    parser.add_argument("--clients", type=int, default=4, help="requests in flight at once (default 4)")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake Znuny's per-request lines
    events = Events(default_wire_dir())
    warmup = 50
    summary: dict[str, Any] = {"workers": WORKERS, "clients": args.clients}
    print(f"gunicorn {WORKERS} workers, {args.clients} requests in flight, mix: {', '.join(SCENARIOS)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        workdir = Path(tmp)

        with gunicorn("inline", workdir, {}) as server:
            post_all(server.port, events.make(warmup), events.headers, args.clients)
            inline = post_all(server.port, events.make(args.events), events.headers, args.clients)
        lost = warmup + args.events - verdicts_recorded(server.db_path)
        report("inline", inline, lost)
        summary.update(events_per_s=f"{inline.events_per_s:.0f}", p50_ms=f"{inline.percentile_ms(0.5):.1f}",
                       p99_ms=f"{inline.percentile_ms(0.99):.1f}", lost=lost, errors=inline.errors)

        with FakeZnuny(default_wire_dir()) as fake:
            otrs = {"BOUNCER_OTRS_URL": fake.base_url, "BOUNCER_OTRS_USER": fake.user,
                    "BOUNCER_OTRS_PASSWORD": fake.password}
            with gunicorn("callback", workdir, otrs) as server:
                batch = events.make(args.events)
                register_tickets(fake, batch)
                callback = post_all(server.port, batch, events.headers, args.clients)
                drain_s = drain(server, fake, callback.expected_updates)
                burst_events = events.make(args.burst)
                register_tickets(fake, burst_events)
                updates_before = len(fake.requests_for("TicketUpdate"))
                burst = post_all(server.port, burst_events, events.headers, args.clients)
                burst_drain_s = drain(server, fake, callback.expected_updates | burst.expected_updates)
            verdicts = verdicts_recorded(server.db_path)
            updates = len(fake.requests_for("TicketUpdate"))
        combined = Run(callback.latencies + burst.latencies, callback.answers + burst.answers,
                       callback.errors + burst.errors, callback.seconds + burst.seconds)
        callback_lost, duplicates = callback_loss(combined, args.events + args.burst, verdicts, fake)
        report("callback", callback, callback_lost,
               f"  drained in {drain_s:.1f} s ({len(callback.expected_updates)} updates)")
        report("burst", burst, callback_lost,
               f"  drained {burst_drain_s:.1f} s after the last answer ({updates - updates_before} updates, "
               f"{duplicates} duplicates)")
        summary.update(callback_events_per_s=f"{callback.events_per_s:.0f}",
                       callback_p50_ms=f"{callback.percentile_ms(0.5):.1f}",
                       callback_p99_ms=f"{callback.percentile_ms(0.99):.1f}",
                       callback_drain_s=f"{drain_s:.1f}", burst_events=args.burst,
                       burst_events_per_s=f"{burst.events_per_s:.0f}", burst_drain_s=f"{burst_drain_s:.1f}",
                       callback_lost=callback_lost, duplicate_updates=duplicates,
                       callback_errors=callback.errors + burst.errors)
    met = (inline.events_per_s >= 500 and inline.percentile_ms(0.99) < 50 and lost == 0 and callback_lost == 0)
    summary["targets"] = "met" if met else "missed"
    print(" ".join(f"{key}={value}" for key, value in summary.items()), flush=True)
    return 1 if lost or callback_lost else 0


if __name__ == "__main__":
    sys.exit(main())
