"""Prometheus metrics. Under gunicorn each worker counts for itself; with PROMETHEUS_MULTIPROC_DIR
set (gunicorn.conf.py does), /metrics adds up all workers."""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

EVENTS = Counter("bouncer_events_total", "Invoker events by outcome and category", ["status", "category", "action"])
LATENCY = Histogram("bouncer_webhook_seconds", "Webhook request latency",
                    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
REJECTED = Counter("bouncer_webhook_rejected_total", "Webhook requests refused", ["reason"])


def render() -> tuple[bytes, str]:
    """The exposition text for /metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
