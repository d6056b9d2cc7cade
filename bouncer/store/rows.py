"""What the store's reads return: one TypedDict per row shape, so pages, API and service know the keys.

They are plain dicts at run time (the API serialises them as they are, templates read them by
key or attribute); JSON columns (evidence, recipients, refs, plan, previous) arrive decoded.
Times are ISO-8601 UTC text as stored (db.iso).
"""
from __future__ import annotations

from typing import Any, TypedDict


class EventRow(TypedDict):
    id: int
    ticket_id: int
    article_id: int
    source: str  # vocab.EVENT_SOURCES
    received_at: str
    status: str  # vocab.EVENT_STATUSES
    status_note: str | None
    mail_source: str | None  # vocab.MAIL_SOURCES; None for a failed event
    updated_at: str | None


class VerdictRow(TypedDict):
    id: int
    event_id: int
    created_at: str
    category: str  # vocab.CATEGORIES
    bounce_type: str | None  # vocab.BOUNCE_TYPES
    reason: str | None  # vocab.REASONS
    status: str | None  # the SMTP enhanced status code, e.g. 5.1.1
    diagnostic: str | None
    confidence: float
    evidence: list[str]
    recipients: list[str]
    original_message_id: str | None
    original_subject: str | None
    original_date: str | None
    original_from: str | None
    return_date: str | None
    from_addr: str | None
    from_domain: str | None
    subject: str | None
    snippet: str | None
    message_id: str | None
    in_reply_to: str | None
    refs: list[str]
    mailing_id: int | None
    ticket_id: int
    article_id: int
    source: str | None  # which detector decided
    review: str  # vocab.REVIEWS
    reviewed_by: str | None
    reviewed_at: str | None
    review_note: str | None
    error: str | None
    purged_at: str | None
    corrected_from: str | None  # what it was before an admin corrected its category ('auto_reply', 'bounce/soft')
    note_kind: str | None  # a note the app wrote on the review: 'corrected', 'undid', 'undid_correction', 'bulk'
    note_args: dict[str, Any] | None  # its arguments (web/labels.review_note says it in words)
    before_correction: dict[str, Any] | None  # the verdict before the last correction, for an undo


class ActionRow(TypedDict):
    id: int
    event_id: int
    verdict_id: int | None
    ticket_id: int
    kind: str  # vocab.ACTION_KINDS
    plan: dict[str, Any]  # policy.Plan.as_dict()
    previous: dict[str, Any] | None  # the ticket's state, queue and tag before, for a reopen
    mode: str  # vocab.MODES
    state: str  # vocab.ACTION_STATES
    attempts: int
    last_error: str | None
    next_attempt_at: str | None
    claimed_at: str | None
    created_at: str
    done_at: str | None
    updated_at: str | None


class ActionSummary(TypedDict):
    """An action as the review queue lists it: the plan's action, not the whole plan."""

    id: int
    kind: str
    action: str | None  # vocab.PLAN_ACTIONS
    mode: str
    state: str
    attempts: int
    last_error: str | None


class BounceRow(TypedDict):
    id: int
    verdict_id: int
    address: str
    domain: str
    bounce_type: str | None
    status: str | None
    reason: str | None
    diagnostic: str | None
    mailing_id: int | None
    at: str


class VerdictListRow(VerdictRow):
    """A verdict in the review queue, with its actions summarised."""

    actions: list[ActionSummary]
    event_source: str  # vocab.EVENT_SOURCES: the path that saw the article (webhook, sweep, catchup)


class VerdictDetail(VerdictRow):
    """One verdict with its full actions, its event and its bounce rows."""

    actions: list[ActionRow]
    event: EventRow | None
    bounces: list[BounceRow]


class AddressRow(TypedDict):
    address: str
    domain: str
    hard_count: int
    soft_count: int
    first_seen: str | None
    last_seen: str | None
    last_status: str | None
    last_reason: str | None
    last_bounce_type: str | None
    dead: int  # 0 or 1
    dead_since: str | None
    alive_since: str | None  # when it last wrote to us as a person
    unverified_count: int  # its bounces that did not count (addresses.bounce_check)


class OptOutRow(TypedDict):
    """An address that asked to be taken off the list: its latest request, how many, which mailing."""

    address: str
    at: str
    requests: int
    verdict_id: int
    mailing_id: int | None
    mailing_subject: str | None
    subject: str | None  # of the request itself (attacker-controlled: escape on display)
    evidence: str  # JSON list: why we read it as an opt-out
    total: int  # addresses in all (for paging)


class FailedAddressRow(TypedDict):
    """An address that bounced for a mailing: its latest bounce, how many, whether it is dead now."""

    address: str
    domain: str
    at: str
    bounce_type: str | None
    status: str | None
    reason: str | None
    diagnostic: str | None
    bounces: int
    total: int  # failed addresses of the mailing in all (for paging)
    verified: int  # 1 when one of its bounces for the mailing is verified (addresses.bounce_check)
    check: str  # the best vocab.BounceCheck of its bounces for the mailing
    total_verified: int  # failed addresses of the mailing with a verified bounce, in all
    dead: int
    dead_since: str | None
    alive_since: str | None


class MailingRow(TypedDict):
    id: int
    message_id: str | None
    subject: str | None
    subject_key: str | None
    sent_at: str
    first_seen: str
    last_seen: str
    origin: str  # vocab.MAILING_ORIGINS
    recipient_count: int | None
    sent_known: int  # 1: sent_at is the original's Date; 0: only the first reply's time ("sent: unknown")


class MailingListRow(MailingRow):
    """A mailing with its counts per vocab.COUNTED_KINDS (one key per kind) and their total."""

    total: int
    hard: int
    soft: int
    unverified: int  # bounces none of whose bounces is verified
    auto_reply: int
    read_receipt: int
    feedback_report: int
    human: int


class ReasonCount(TypedDict):
    reason: str
    bounce_type: str | None
    n: int


class DomainCount(TypedDict):
    domain: str
    n: int
    hard: int


class MailingStats(TypedDict):
    """The press page of one mailing (Store.mailing_stats)."""

    mailing: MailingRow
    counts: dict[str, int]  # per vocab.COUNTED_KINDS, and "total"
    bucket: str  # "hour" or "day"
    timeline: list[dict[str, Any]]  # {"t": ISO time, <kind>: n ...} per bucket
    top_reasons: list[ReasonCount]
    top_domains: list[DomainCount]


class NoMailingStats(TypedDict):
    """Machine mail about no mailing of ours (Store.no_mailing_stats)."""

    counts: dict[str, int]  # per vocab.KINDS, and "total"
    latest: list[dict[str, Any]]  # id, created_at, category, bounce_type, from_addr, subject, recipients, ticket_id


class PersonRow(TypedDict):
    """Someone who answered a mailing (Store.mailing_people)."""

    verdict_id: int
    address: str | None
    at: str
    ticket_id: int
    return_date: str | None  # an out-of-office's "back on" (ISO date)
    subject: str | None


class MailingPeople(TypedDict):
    """The latest of each (how many in all: the mailing's counts, MailingStats)."""

    wrote: list[PersonRow]  # in person (false positives included: they were people)
    away: list[PersonRow]  # out-of-office and other auto-replies, with the return date when named
    read: list[PersonRow]  # read receipts


class HistoryRow(TypedDict):
    """One mail from or about an address (Store.address_history)."""

    verdict_id: int
    at: str
    category: str
    bounce_type: str | None
    status: str | None
    reason: str | None
    return_date: str | None
    ticket_id: int
    review: str
    mailing_id: int | None
    mailing_subject: str | None
    verification: str | None  # a bounce's vocab.BounceCheck, None for other mail


class AddressHistory(TypedDict):
    address: str
    row: AddressRow | None  # None when it never bounced
    events: list[HistoryRow]


class AllowRule(TypedDict):
    id: int
    kind: str  # vocab.ALLOW_KINDS
    value: str
    note: str | None
    created_by: str | None
    created_at: str
    verdict_id: int | None  # the decision marked false positive that added the rule


class StoreStats(TypedDict):
    verdicts: dict[str, int]  # per category
    events: dict[str, int]  # per status
    outbox: dict[str, int]  # per vocab.OUTBOX_STATES
    last_event_at: str | None
    schema_version: int | None


class Purged(TypedDict):
    cutoff: str
    verdicts: int
    bounces: int
    actions: int
