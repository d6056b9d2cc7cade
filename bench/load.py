"""Load: the otrs-wire invoker requests replayed at rising rates against real gunicorn (2 workers) on
127.0.0.1, with locust as the load generator: per stage the rate reached, p50/p99 latency, errors and
the memory of each worker; the saturation rate is the highest stage served at its rate with no error
and a p99 under a second.

Each request is a captured invoker body (bounces, out-of-office replies, a read receipt, people
answering; the mix of bench/webhook.py) with its own TicketID/ArticleID, in dry-run mode (no Znuny
needed). Load generator and server share the machine's cores, so the figures are a floor.

    python bench/load.py                         # stages 10 25 50 100 150 200 300 req/s, 15 s each
    python bench/load.py --stages 20 40 --seconds 10

Target (issue "Hardening"): 0 errors below saturation.
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # locust's greenlets: before anything opens a socket

import argparse  # noqa: E402
import itertools  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from locust import FastHttpUser, constant_throughput, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "tests")]

from fake_znuny import default_wire_dir  # noqa: E402
from webhook import WORKERS, Events, gunicorn  # noqa: E402

STAGES = (10, 25, 50, 100, 150, 200, 300)
SLOW_P99_MS = 1000.0
POOL = 20_000  # bodies built before the clock starts, each with its own ticket


class Replay(FastHttpUser):
    """One Znuny invoker connection: posts one captured event per second (`constant_throughput(1)`),
    so the number of users is the rate asked for."""

    wait_time = constant_throughput(1)
    bodies: itertools.cycle  # set by main()
    headers: dict[str, str] = {}

    @task
    def article_created(self) -> None:
        event = next(self.bodies)
        with self.client.post(event.path, data=event.body, headers=self.headers, name="article-created",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif (response.json() or {}).get("Result") not in ("processed", "duplicate"):
                response.failure(f"Result {response.text[:80]}")


def worker_rss_mb(master_pid: int) -> list[float]:
    """Resident memory of gunicorn's workers (the master's children), in MB."""
    sizes = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(master_pid) and "VmRSS" in fields:
            sizes.append(int(fields["VmRSS"].split()[0]) / 1024)
    return sorted(sizes)


def run_stage(env: Environment, rate: int, seconds: float) -> dict[str, float]:
    env.stats.reset_all()
    env.runner.start(rate, spawn_rate=max(rate, 1))
    gevent.sleep(seconds)
    entry = env.stats.get("article-created", "POST")
    elapsed = seconds
    env.runner.stop()
    return {"rate": rate, "reached": entry.num_requests / elapsed, "requests": entry.num_requests,
            "errors": entry.num_failures, "p50": entry.get_response_time_percentile(0.5) or 0.0,
            "p99": entry.get_response_time_percentile(0.99) or 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stages", type=int, nargs="*", default=list(STAGES), help="requests per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="per stage")
    args = parser.parse_args()
    made = Events(default_wire_dir())
    pool = made.make(POOL)
    Replay.bodies = itertools.cycle(pool)
    Replay.headers = {**made.headers, "Content-Type": "application/json"}
    workdir = Path(tempfile.mkdtemp(prefix="bouncer-load-"))
    results = []
    with gunicorn("dry-run", workdir, {}) as server:
        Replay.host = f"http://127.0.0.1:{server.port}"
        env = Environment(user_classes=[Replay], events=events)
        env.create_local_runner()
        print(f"gunicorn {WORKERS} workers on 127.0.0.1:{server.port}, dry-run; stages of {args.seconds:g} s")
        print(f"{'asked/s':>8} {'reached/s':>9} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7}  worker RSS MB")
        for rate in args.stages:
            result = run_stage(env, rate, args.seconds)
            rss = worker_rss_mb(server.process.pid)
            result["rss_max"] = max(rss, default=0.0)
            results.append(result)
            print(f"{rate:8d} {result['reached']:9.1f} {result['requests']:8.0f} {result['errors']:6.0f} "
                  f"{result['p50']:7.0f} {result['p99']:7.0f}  {', '.join(f'{mb:.0f}' for mb in rss)}", flush=True)
            time.sleep(1)  # let the backlog of one stage clear before the next
        env.runner.quit()
    served = [r for r in results if r["errors"] == 0 and r["p99"] < SLOW_P99_MS and r["reached"] >= 0.9 * r["rate"]]
    saturation = max((r["rate"] for r in served), default=0)
    below = [r for r in results if r["rate"] <= saturation]
    at = next((r for r in results if r["rate"] == saturation), None)
    print(f"load saturation_rps={saturation} p50_ms={at['p50'] if at else 0:.0f} p99_ms={at['p99'] if at else 0:.0f} "
          f"errors_below_saturation={sum(r['errors'] for r in below):.0f} "
          f"worker_rss_mb={max((r['rss_max'] for r in results), default=0):.0f} workers={WORKERS} "
          f"stages={'/'.join(str(r['rate']) for r in results)}")


if __name__ == "__main__":
    main()
