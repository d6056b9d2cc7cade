"""The verdict: what a mail is, how sure we are, and the evidence an admin reads to trust it."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

from .vocab import CATEGORIES, MACHINE_CATEGORIES, REASONS, BounceType, Category

__all__ = ["CATEGORIES", "REASONS", "Category", "Original", "Verdict", "human"]


@dataclass(frozen=True)
class Original:
    """Headers of the mail we sent that the machine reply refers to (the mailing it belongs to)."""

    message_id: str | None = None
    subject: str | None = None
    date: str | None = None
    from_: str | None = None

    def __post_init__(self) -> None:
        # Detectors copy these from mail content (SES JSON may carry a number or a list): text or None.
        for name in ("message_id", "subject", "date", "from_"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, name, str(value) if isinstance(value, (int, float)) else None)

    def is_empty(self) -> bool:
        return not (self.message_id or self.subject or self.date or self.from_)


@dataclass(frozen=True)
class Verdict:
    """One filter's or the pipeline's answer for one mail. Immutable so it can be recorded as is."""

    category: Category
    confidence: float
    evidence: tuple[str, ...] = ()
    bounce_type: BounceType | None = None
    reason: str | None = None
    recipients: tuple[str, ...] = ()
    status: str | None = None
    diagnostic: str | None = None
    original: Original = field(default_factory=Original)
    return_date: date | None = None
    error: str | None = None
    source: str = "filter"

    @property
    def is_machine(self) -> bool:
        return self.category in MACHINE_CATEGORIES

    @property
    def is_actionable(self) -> bool:
        """Anything but `human`: the policy plans an action (for `unsubscribe` at most a tag or a move)."""
        return self.category != "human"

    def with_(self, **changes: Any) -> Verdict:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready form; the CLI, the store and the API all use this one shape."""
        data = asdict(self)
        original = data.pop("original")
        data["original_message_id"] = original["message_id"]
        data["original_subject"] = original["subject"]
        data["original_date"] = original["date"]
        data["original_from"] = original["from_"]
        data["evidence"] = list(self.evidence)
        data["recipients"] = list(self.recipients)
        data["return_date"] = self.return_date.isoformat() if self.return_date else None
        data["confidence"] = round(self.confidence, 3)
        return data


def human(evidence: tuple[str, ...] = (), confidence: float = 0.9, error: str | None = None) -> Verdict:
    """The default answer: a person wrote this (or we cannot tell), so nothing is done to the ticket."""
    return Verdict(category="human", confidence=confidence, evidence=evidence, error=error)
