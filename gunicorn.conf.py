"""gunicorn settings for otrs-bouncer: `gunicorn -c gunicorn.conf.py 'app:create_app()'`.

Environment (all optional):
  BOUNCER_BIND     address:port to listen on; default 127.0.0.1:8080 (only this host).
                   In a container use 0.0.0.0:8080 (the Dockerfile sets it) and let the
                   container network decide who reaches it.
  BOUNCER_WORKERS  processes; default 2. Each builds its own app (create_app runs per
                   worker, nothing is preloaded), so each has its own SQLite connection; each
                   starts its own background work (post_worker_init: recovery, retention, the
                   outbox thread); claims keep them from doubling work.
  BOUNCER_THREADS  threads per process; default 1 (the sync worker). Judging a mail is CPU
                   work and SQLite has one writer, so more threads only add lock waits: on
                   bench/webhook.py 4 threads gave a p99 a third higher. Raise it (gthread) when
                   requests wait on I/O, e.g. with BOUNCER_FETCH_RAW=1 (each event asks Znuny).
  BOUNCER_TIMEOUT  seconds a worker may stay silent before it is restarted; default 30.
  PROMETHEUS_MULTIPROC_DIR  where the workers' metric files go, so /metrics adds up all
                   workers; default a fresh temporary directory, removed on exit.

Access logging is off: the app writes one structured JSON line per event (bouncer.logs),
which carries the ticket and article ids an access log would not.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

bind = os.environ.get("BOUNCER_BIND", "127.0.0.1:8080")
workers = int(os.environ.get("BOUNCER_WORKERS", "2"))
threads = int(os.environ.get("BOUNCER_THREADS", "1"))
timeout = int(os.environ.get("BOUNCER_TIMEOUT", "30"))
graceful_timeout = 15
keepalive = 5  # gthread only; Znuny closes its connection after each call anyway
preload_app = False  # each worker opens its own SQLite connection and starts its own outbox thread
accesslog = None
errorlog = "-"
loglevel = "info"
# gunicorn >= 25 opens a control socket at one fixed per-user path, which a second instance
# (a test, the benchmark, a second service) would take over; nothing here uses gunicornc.
control_socket_disable = True
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"  # heartbeat files off a possibly slow disk (containers)

# Must be set before any worker imports prometheus_client, i.e. here, in the master.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bouncer-metrics-")
else:
    # Files of an earlier run would be added to this run's counters.
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges must not linger in /metrics (its counters stay summed)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    """Each worker, once it has built its app: start its background work (app.start_background)."""
    from app import start_background

    start_background(worker.wsgi)


def worker_exit(server: Any, worker: Any) -> None:
    """Let the outbox thread finish its round, so no action is left claimed until its lease ends."""
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        from app import stop_background

        stop_background(app)


def on_exit(server: Any) -> None:
    """The master cannot reach the workers' apps; it only removes the metrics directory it made."""
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
