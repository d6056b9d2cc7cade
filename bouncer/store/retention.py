"""Retention (GDPR Art. 9): forgetting mail content after BOUNCER_RETENTION_DAYS."""
from __future__ import annotations

from datetime import timedelta

from .db import Connection, iso
from .rows import Purged


class Retention(Connection):
    """The purge the outbox worker runs every few hours."""

    def purge(self, retention_days: int) -> Purged:
        """GDPR Art. 9 retention: forget the content of verdicts older than `retention_days`.

        Mails from party members reveal political affiliation, so after the retention period
        we drop everything that is mail content or could quote it: the verdict's subject,
        original subject, snippet, evidence, diagnostic, review note and error; the
        diagnostic of its bounce rows; the note (a text quoting the mail) in its actions' plan.
        Kept, because the press statistics and the dead-address list are built from them:
        category, bounce type/reason/status, confidence, addresses (recipients, from_addr,
        bounces, addresses), mailing links, review state, ticket/article ids and action state.
        Purged verdicts get purged_at, so a rerun touches nothing; returns counts per table.
        """
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        cutoff = iso(self._clock() - timedelta(days=retention_days))
        due = "SELECT id FROM verdicts WHERE created_at < ? AND purged_at IS NULL"
        with self._write() as db:
            actions = db.execute(
                f"UPDATE actions SET plan = json_remove(plan, '$.note') WHERE verdict_id IN ({due}) "
                "AND json_type(plan, '$.note') IS NOT NULL", [cutoff]).rowcount
            bounces = db.execute(
                f"UPDATE bounces SET diagnostic = NULL WHERE verdict_id IN ({due}) AND diagnostic IS NOT NULL",
                [cutoff]).rowcount
            verdicts = db.execute(
                "UPDATE verdicts SET subject = NULL, original_subject = NULL, snippet = NULL, evidence = '[]', "
                "diagnostic = NULL, review_note = NULL, error = NULL, purged_at = ? "
                "WHERE created_at < ? AND purged_at IS NULL", [self._now(), cutoff]).rowcount
        return {"cutoff": cutoff, "verdicts": verdicts, "bounces": bounces, "actions": actions}

