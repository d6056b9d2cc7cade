"""The verdict: what a mail is, how sure we are, and the evidence an admin reads to trust it."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any, Literal

Category = Literal["bounce", "auto_reply", "read_receipt", "feedback_report", "human"]
CATEGORIES: tuple[str, ...] = ("bounce", "auto_reply", "read_receipt", "feedback_report", "human")
MACHINE_CATEGORIES = frozenset(CATEGORIES) - {"human"}
# Bounce reasons: a small taxonomy, enough to decide hard vs soft and to show the press officer why.
REASONS: tuple[str, ...] = (
    "user_unknown", "mailbox_full", "domain_not_found", "rejected_policy", "spam_blocked",
    "expired", "quota", "mailbox_disabled", "message_too_large", "other",
)


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
    bounce_type: Literal["hard", "soft"] | None = None
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
