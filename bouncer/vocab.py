"""The project's one vocabulary: every code the pipeline writes, stores and shows, in one place.

Each set of codes is a `Literal` (for the type checker) and the tuple of its members (for
validation, loops and SQL), derived from it so the two cannot drift. Adding a category is one
line in `Category`: the press pages' kinds, the policy's rule keys and the SQL that counts them
follow from it. Labels for the pages live in bouncer/web/labels.py, keyed by these codes (a test
checks that every code has one).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

# What a mail is (bouncer/verdict.py). `unsubscribe`: a person asks to be taken off the list (typed,
# or sent by their mail client on their behalf); a person's wish, acted on (tag, move) but never closed.
Category = Literal["bounce", "auto_reply", "read_receipt", "feedback_report", "unsubscribe", "human"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
# Categories written by a person (or on a person's behalf): never machine mail.
PERSON_CATEGORIES: frozenset[str] = frozenset({"human", "unsubscribe"})
MACHINE_CATEGORIES: frozenset[str] = frozenset(CATEGORIES) - PERSON_CATEGORIES

# A bounce is hard or soft (filters/_smtp.py bounce_type); anything else is its category. A bounce of
# unknown type counts as soft: it did not prove the address dead.
BounceType = Literal["hard", "soft"]
BOUNCE_TYPES: tuple[BounceType, ...] = get_args(BounceType)
# What the press pages count per mailing: bounces split by type, then the other categories.
KINDS: tuple[str, ...] = BOUNCE_TYPES + tuple(c for c in CATEGORIES if c != "bounce")
# What the press pages count per mailing: verified bounces by type, unverified ones apart (they prove
# nothing, see BounceCheck), then the other categories.
COUNTED_KINDS: tuple[str, ...] = (*BOUNCE_TYPES, "unverified", *KINDS[len(BOUNCE_TYPES):])
# The policy file's [rules.*] keys: one per bounce type, then the other categories.
RULE_KEYS: tuple[str, ...] = tuple(f"bounce_{t}" for t in BOUNCE_TYPES) + KINDS[len(BOUNCE_TYPES):]

# Bounce reasons: a small taxonomy, enough to decide hard vs soft and to show the press officer why.
Reason = Literal["user_unknown", "mailbox_full", "domain_not_found", "rejected_policy", "spam_blocked",
                 "expired", "quota", "mailbox_disabled", "message_too_large", "other"]
REASONS: tuple[Reason, ...] = get_args(Reason)
# Hard bounces that say nothing about the address (our IP blocked, our mail too big, our rate): they
# count like soft bounces toward the dead-address threshold, never kill an address at once.
NOT_ABOUT_THE_ADDRESS: tuple[Reason, ...] = ("spam_blocked", "rejected_policy", "message_too_large", "quota")

# Whether a bounce may count (bouncer/store/addresses.py bounce_check): only a bounce about a mailing we
# registered (by hand or API), naming that mailing's Message-ID as its original, In-Reply-To or
# References, is ours; where the mailing's recipients are known, the address must be one of them.
# Anyone can write DSN-like text (and enclose an "original"), so the other checks are unverified; so is a
# bounce outside BOUNCE_WINDOW after the send time (old Message-IDs leak through forwards and archives).
BounceCheck = Literal["recipient", "registered", "not_a_recipient", "out_of_time", "subject_only", "unregistered",
                      "no_mailing"]
BOUNCE_CHECKS: tuple[BounceCheck, ...] = get_args(BounceCheck)
VERIFIED_CHECKS: tuple[BounceCheck, ...] = ("recipient", "registered")
# How the policy's [dead_address] counts bounces: only verified ones (default), or all of them.
DeadCount = Literal["verified", "all"]
DEAD_COUNTS: tuple[DeadCount, ...] = get_args(DeadCount)

# What the policy may say for a category, and what our ticket update then does (restore: a tag that
# also gives a ticket with human correspondence its state back). An admin's false positive plans a
# REOPEN instead (an action of kind 'reopen').
PolicyAction = Literal["close", "move", "tag", "none"]
POLICY_ACTIONS: tuple[PolicyAction, ...] = get_args(PolicyAction)
PlanAction = Literal["close", "move", "tag", "restore", "none"]
PLAN_ACTIONS: tuple[PlanAction, ...] = get_args(PlanAction)
REOPEN = "reopen"

# How an action reaches the ticket (BOUNCER_MODE).
Mode = Literal["dry-run", "inline", "callback"]
MODES: tuple[Mode, ...] = get_args(Mode)
# An action row: our ticket update, an admin's reopen, or nothing to do.
ActionKind = Literal["ticket_update", "reopen", "none"]
ACTION_KINDS: tuple[ActionKind, ...] = get_args(ActionKind)
# pending: in the outbox, due at next_attempt_at; running: claimed by a worker until its lease
# expires; done/failed: final; dry-run/skipped: recorded for the review page, never executed.
# sent: answered inline, until Znuny confirms it (done: our note's ArticleCreate came back, or
# TicketGet shows the change) or never does (unconfirmed).
ActionState = Literal["pending", "running", "done", "failed", "dry-run", "skipped", "sent", "unconfirmed"]
ACTION_STATES: tuple[ActionState, ...] = get_args(ActionState)
# The states still in the outbox (callback mode), the only ones looked up by state.
OUTBOX_STATES: tuple[ActionState, ...] = ("pending", "running", "failed")

# Which path saw an article first: Znuny's invoker, the sweep of open tickets, or the catch-up of
# articles created while the service was down.
EventSource = Literal["webhook", "sweep", "catchup"]
EVENT_SOURCES: tuple[EventSource, ...] = get_args(EventSource)
EventStatus = Literal["accepted", "classified", "acted", "ignored", "failed"]
EVENT_STATUSES: tuple[EventStatus, ...] = get_args(EventStatus)
# What the verdict was made from: the invoker's article, or the raw mail (AgentTicketPlain).
MailSource = Literal["payload", "raw"]
MAIL_SOURCES: tuple[MailSource, ...] = get_args(MailSource)

# Runs over Znuny's tickets (bouncer/sweep.py, bouncer/catchup.py) and how they ended. A sweep runs
# as a dry run or applied; a catch-up round in the service's mode.
RunKind = Literal["sweep", "catchup"]
RUN_KINDS: tuple[RunKind, ...] = get_args(RunKind)
RunStatus = Literal["running", "done", "interrupted", "failed"]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
RUN_MODES: tuple[str, ...] = ("dry-run", "apply", *get_args(Mode)[1:])

Review = Literal["pending", "confirmed", "false_positive", "undone"]
REVIEWS: tuple[Review, ...] = get_args(Review)
# Verdicts an admin rejected do not count in statistics or toward dead addresses.
REJECTED_REVIEWS: tuple[Review, ...] = ("false_positive", "undone")

MailingOrigin = Literal["auto", "manual", "api"]
MAILING_ORIGINS: tuple[MailingOrigin, ...] = get_args(MailingOrigin)
AllowKind = Literal["sender", "domain"]
ALLOW_KINDS: tuple[AllowKind, ...] = get_args(AllowKind)

# Every group of codes the pages put words to (bouncer/web/labels.py), by the label group's name.
LABELLED: dict[str, tuple[str, ...]] = {
    "kind": COUNTED_KINDS, "category": CATEGORIES, "reason": REASONS, "action": (*PLAN_ACTIONS, REOPEN),
    "state": ACTION_STATES, "review": REVIEWS, "origin": MAILING_ORIGINS, "rule": RULE_KEYS, "mode": MODES,
    "allow": ALLOW_KINDS, "source": EVENT_SOURCES, "check": BOUNCE_CHECKS, "runkind": RUN_KINDS,
    "runstatus": RUN_STATUSES, "runmode": RUN_MODES,
}


def kind(category: str, bounce_type: str | None) -> str:
    """The press pages' kind of a verdict: 'hard' or 'soft' for a bounce, else its category."""
    if category == "bounce":
        return "hard" if bounce_type == "hard" else "soft"
    return category


def rule_key(category: str, bounce_type: str | None) -> str:
    """The policy's [rules.*] key for a verdict: 'bounce_hard', 'bounce_soft', else its category."""
    return f"bounce_{kind(category, bounce_type)}" if category == "bounce" else category


def check(value: str, allowed: Iterable[str], what: str) -> str:
    """`value` if it is one of `allowed`, else ValueError naming `what` and the allowed codes.

    Enumerations are checked in code rather than by CHECK constraints, so adding a code is no
    table rebuild."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{what}={value!r}: must be one of {', '.join(allowed)}")
    return value


def sql_list(values: Iterable[str]) -> str:
    """`('a', 'b')`: codes as an SQL list (they are ours, never input, so quoting is enough)."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def sql_any(column: str, values: Iterable[str]) -> str:
    """`(column = 'a' OR column = 'b')`: SQLite matches this, not an IN list, against a partial index."""
    return "(" + " OR ".join(f"{column} = '{v}'" for v in values) + ")"


def kind_sql(alias: str = "v") -> str:
    """`kind` (above) as an SQL expression over a verdict row."""
    return (f"CASE WHEN {alias}.category = 'bounce' THEN CASE WHEN {alias}.bounce_type = 'hard' "
            f"THEN 'hard' ELSE 'soft' END ELSE {alias}.category END")
