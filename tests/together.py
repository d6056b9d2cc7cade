"""Processes that open one new file at the same moment, as gunicorn's workers do when they boot."""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any


def _open_at_barrier(opener: Callable[[str], Any], path: str, barrier: Any) -> None:
    barrier.wait()
    opened = opener(path)
    if hasattr(opened, "close"):
        opened.close()


def open_together(opener: Callable[[str], Any], path: str, processes: int = 4) -> list[int | None]:
    """Exit codes of `processes` forked processes that call opener(path) past one barrier."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    workers = [context.Process(target=_open_at_barrier, args=(opener, path, barrier)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return [w.exitcode for w in workers]
