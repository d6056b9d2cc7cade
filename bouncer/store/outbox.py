"""Actions: the record of what we did to a ticket, and the outbox that callback mode drains.

A 'pending' action is due at next_attempt_at; a worker claims it (a lease: a claim older than
`lease` counts as abandoned), and marks it done or failed (back to pending with the caller's
backoff, or failed for good).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from ..vocab import ACTION_KINDS, ACTION_STATES, MODES, check
from .db import ERROR_CHARS, Connection, decode, iso, to_json
from .rows import ActionRow


class Outbox(Connection):
    """Planning actions and working through the outbox."""

    def plan_action(
        self,
        event_id: int,
        verdict_id: int | None,
        ticket_id: int,
        kind: str,
        plan: dict[str, Any],
        previous: dict[str, Any] | None,
        mode: str,
        state: str,
        next_attempt_at: datetime | None = None,
    ) -> int:
        """Record what we do to a ticket (and its state before, for undo); returns the action id.

        A 'pending' action is in the outbox, due at `next_attempt_at` (default: now).
        """
        row = self._action_row(ticket_id, kind, plan, previous, mode, state, next_attempt_at)
        with self._write():
            return self._insert("actions", dict(row, event_id=event_id, verdict_id=verdict_id))

    def _action_row(self, ticket_id: int, kind: str, plan: dict[str, Any],
                    previous: dict[str, Any] | None, mode: str, state: str,
                    next_attempt_at: datetime | None = None) -> dict[str, Any]:
        check(kind, ACTION_KINDS, "kind")
        check(mode, MODES, "mode")
        check(state, ACTION_STATES, "state")
        now = self._now()
        due = iso(next_attempt_at) if next_attempt_at else now
        return {
            "ticket_id": ticket_id, "kind": kind,
            "plan": to_json(plan), "previous": to_json(previous), "mode": mode, "state": state,
            "attempts": 0, "next_attempt_at": due if state == "pending" else None,
            "created_at": now, "updated_at": now,
        }

    def claim_action(self, action_id: int) -> bool:
        """Take a due action for this worker (pending → running, attempts + 1); False if another has it.

        A 'running' claim older than the lease counts as abandoned (the worker crashed) and can be taken.
        """
        now = self._clock()
        with self._write() as db:
            cursor = db.execute(
                "UPDATE actions SET state = 'running', claimed_at = ?, attempts = attempts + 1, updated_at = ? "
                "WHERE id = ? AND ((state = 'pending' AND next_attempt_at <= ?) "
                "OR (state = 'running' AND claimed_at <= ?))",
                [iso(now), iso(now), action_id, iso(now), iso(now - self.lease)],
            )
            return cursor.rowcount == 1

    def action_done(self, action_id: int) -> None:
        """The ticket change went through."""
        now = self._now()
        with self._write() as db:
            db.table("actions").update(action_id, {
                "state": "done", "done_at": now, "updated_at": now, "claimed_at": None,
                "next_attempt_at": None, "last_error": None,
            })

    def action_failed(self, action_id: int, error: str, next_attempt_at: datetime | None) -> None:
        """An attempt failed: back to the outbox at `next_attempt_at` (the caller's backoff), or
        permanently 'failed' when it is None."""
        with self._write() as db:
            db.table("actions").update(action_id, {
                "state": "pending" if next_attempt_at else "failed",
                "next_attempt_at": iso(next_attempt_at) if next_attempt_at else None,
                "last_error": error[:ERROR_CHARS], "claimed_at": None, "updated_at": self._now(),
            })

    def due_actions(self, limit: int = 50) -> list[ActionRow]:
        """Outbox rows to work on now, oldest first: pending and due, or running with an expired lease."""
        now = self._clock()
        rows = self._rows(
            "SELECT * FROM actions WHERE (state = 'pending' AND next_attempt_at <= ?) "
            "OR (state = 'running' AND claimed_at <= ?) ORDER BY next_attempt_at, id LIMIT ?",
            [iso(now), iso(now - self.lease), limit],
        )
        return [cast(ActionRow, decode(row)) for row in rows]

    def confirm_inline(self, ticket_id: int) -> int | None:
        """Our inline note's ArticleCreate came back: the oldest 'sent' action of the ticket is done.
        Returns its id, or None when none was waiting."""
        now = self._now()
        with self._write() as db:
            row = db.execute(
                "SELECT a.id FROM events e JOIN actions a ON a.event_id = e.id "
                "WHERE e.ticket_id = ? AND a.state = 'sent' ORDER BY a.id LIMIT 1", [ticket_id]).fetchone()
            if row is None:
                return None
            db.execute("UPDATE actions SET state = 'done', done_at = ?, updated_at = ? WHERE id = ?",
                       [now, now, row[0]])
            return int(row[0])

    def sent_before(self, moment: datetime, limit: int = 50) -> list[ActionRow]:
        """Inline answers still waiting for Znuny's confirmation that were sent before `moment`."""
        rows = self._rows("SELECT * FROM actions WHERE state = 'sent' AND created_at <= ? ORDER BY created_at LIMIT ?",
                          [iso(moment), limit])
        return [cast(ActionRow, decode(row)) for row in rows]

    def settle_sent(self, action_id: int, confirmed: bool, why: str | None = None) -> None:
        """A 'sent' action: confirmed after all (done), or flagged as never confirmed, with why."""
        now = self._now()
        with self._write() as db:
            db.execute("UPDATE actions SET state = ?, done_at = ?, last_error = ?, updated_at = ? "
                       "WHERE id = ? AND state = 'sent'",
                       ["done" if confirmed else "unconfirmed", now if confirmed else None,
                        None if confirmed else (why or "")[:ERROR_CHARS], now, action_id])

    def pending_count(self) -> int:
        """Outbox depth (pending + running), for metrics and readiness."""
        with self._lock:
            return int(self._conn.execute(
                "SELECT count(*) FROM actions WHERE state = 'pending' OR state = 'running'").fetchone()[0])

