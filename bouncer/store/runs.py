"""Runs over Znuny's tickets: each sweep (bouncer/sweep.py) and each catch-up round (bouncer/catchup.py).

A run keeps its settings (`params`), what it found and did (`summary`), a sweep's per-ticket CSV
report, and for the catch-up the watermark `until` the next round looks from. The admin page
shows the last of each; the catch-up prunes its own old rounds (one every few minutes adds up).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ..vocab import RUN_KINDS, RUN_STATUSES, check
from .db import ERROR_CHARS, Connection, decode, iso, parse_iso, to_json

_LISTED = ("id, kind, mode, status, started_at, finished_at, started_by, params, summary, until, error, "
           "report IS NOT NULL AS has_report")


class Runs(Connection):
    def start_run(self, kind: str, mode: str, params: dict[str, Any], started_by: str | None = None) -> int:
        """A sweep or catch-up round begins; returns its id for `finish_run`."""
        check(kind, RUN_KINDS, "kind")
        with self._write():
            return self._insert("runs", {"kind": kind, "mode": mode, "status": "running", "started_at": self._now(),
                                         "started_by": started_by, "params": to_json(params)})

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any], *, until: datetime | None = None,
                   report: str | None = None, error: str | None = None) -> None:
        """A run ended (done, interrupted or failed) with its counts, watermark and CSV report."""
        check(status, RUN_STATUSES, "status")
        with self._write() as db:
            db.table("runs").update(run_id, {"status": status, "finished_at": self._now(), "summary": to_json(summary),
                                             "until": until and iso(until), "report": report,
                                             "error": error and error[:ERROR_CHARS]})

    def runs(self, kind: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Runs newest first, without their reports (`has_report` says whether there is one)."""
        where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
        return [decode(row) for row in self._rows(
            f"SELECT {_LISTED} FROM runs {where} ORDER BY id DESC LIMIT ?", [*params, limit])]

    def last_run(self, kind: str, status: str | None = None) -> dict[str, Any] | None:
        """The newest run of a kind (with that status, when given), without its report."""
        sql = f"SELECT {_LISTED} FROM runs WHERE kind = ?" + (" AND status = ?" if status else "") + \
            " ORDER BY id DESC LIMIT 1"
        row = self._one(sql, [kind, status] if status else [kind])
        return None if row is None else decode(row)

    def run_report(self, run_id: int) -> str | None:
        row = self._one("SELECT report FROM runs WHERE id = ?", [run_id])
        return None if row is None else row["report"]

    def prune_runs(self, kind: str, keep: int) -> None:
        """Keep only the newest `keep` runs of a kind."""
        with self._write() as db:
            db.execute("DELETE FROM runs WHERE kind = ? AND id NOT IN "
                       "(SELECT id FROM runs WHERE kind = ? ORDER BY id DESC LIMIT ?)", [kind, kind, keep])

    def newest_event_time(self) -> datetime | None:
        """When the newest event was recorded, by whatever path: where a first catch-up starts."""
        row = self._one("SELECT max(received_at) AS t FROM events")
        return parse_iso(row["t"]) if row and row["t"] else None

    def event_sources(self, ticket_id: int) -> dict[int, str]:
        """The recorded articles of a ticket and the path that recorded each (webhook, sweep, catchup)."""
        return {int(row["article_id"]): row["source"] for row in self._rows(
            "SELECT article_id, source FROM events WHERE ticket_id = ?", [ticket_id])}
