"""Words for the codes the store keeps (categories, reasons, action states ...), in the reader's language.

The store and the API speak in codes (`bounce`, `user_unknown`, `dry-run`); the pages show
these words instead, German first. An unknown code is shown as it is, never hidden.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import g
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

LABELS: dict[str, dict[str, LazyString]] = {
    "kind": {  # vocab.COUNTED_KINDS: bounces split by type, unverified ones apart, then the other categories
        "hard": _l("Hard bounce"),
        "soft": _l("Soft bounce"),
        "unverified": _l("Unverified bounce"),
        "auto_reply": _l("Auto-reply"),
        "read_receipt": _l("Read receipt"),
        "feedback_report": _l("Complaint (ARF)"),
        "unsubscribe": _l("Opt-out request"),
        "human": _l("Written by a person"),
    },
    "kind_heading": {  # the same, as count columns' headings (German with soft hyphens, so a narrow column can break)
        "hard": _l("Bounced hard (mails)"),  # mails, where a mailing's reasons count addresses
        "soft": _l("Bounced soft (mails)"),
        "unverified": _l("Unverified bounces"),
        "auto_reply": _l("Auto-replies"),
        "read_receipt": _l("Read receipts"),
        "feedback_report": _l("Complaints"),
        "unsubscribe": _l("Opt-outs"),
        "human": _l("Personal mail"),
    },
    "category": {
        "bounce": _l("Bounce"),
        "auto_reply": _l("Auto-reply"),
        "read_receipt": _l("Read receipt"),
        "feedback_report": _l("Complaint (ARF)"),
        "unsubscribe": _l("Opt-out request"),
        "human": _l("Written by a person"),
    },
    "reason": {
        "user_unknown": _l("Recipient unknown"),
        "mailbox_full": _l("Mailbox full"),
        "domain_not_found": _l("Domain does not exist"),
        "rejected_policy": _l("Rejected by policy"),
        "spam_blocked": _l("Blocked as spam"),
        "expired": _l("Delivery expired"),
        "quota": _l("Sending limit exceeded"),
        "mailbox_disabled": _l("Mailbox disabled"),
        "message_too_large": _l("Message too large"),
        "other": _l("Other"),
    },
    "action": {  # vocab.PLAN_ACTIONS: the plan's action and the reopen
        "close": _l("close"),
        "move": _l("move"),
        "tag": _l("tag"),
        "restore": _l("restore state"),
        "none": _l("nothing"),
        "reopen": _l("reopen"),
    },
    "state": {  # vocab.ACTION_STATES
        "pending": _l("pending"),
        "running": _l("running"),
        "done": _l("done"),
        "failed": _l("failed"),
        "dry-run": _l("dry run"),
        "skipped": _l("nothing to do"),
        "sent": _l("answered, not yet confirmed"),
        "unconfirmed": _l("never confirmed by Znuny"),
    },
    "review": {  # vocab.REVIEWS
        "pending": _l("not reviewed"),
        "confirmed": _l("confirmed"),
        "false_positive": _l("false positive"),
        "undone": _l("undone"),
    },
    "check": {  # vocab.BOUNCE_CHECKS: whether a bounce counts (store/addresses.py bounce_check)
        "recipient": _l("verified: names our mailing, address among its recipients"),
        "registered": _l("verified: names our registered mailing"),
        "not_a_recipient": _l("unverified: address not among the mailing's recipients"),
        "out_of_time": _l("unverified: came more than 30 days after the mailing, or before it"),
        "subject_only": _l("unverified: matches our mailing by subject only"),
        "unregistered": _l("unverified: the mailing is only known from replies"),
        "no_mailing": _l("unverified: names no mailing of ours"),
    },
    "origin": {  # vocab.MAILING_ORIGINS
        "auto": _l("found in replies"),
        "manual": _l("registered by hand"),
        "api": _l("registered via API"),
    },
    "rule": {  # vocab.RULE_KEYS
        "bounce_hard": _l("Hard bounce"),
        "bounce_soft": _l("Soft bounce"),
        "auto_reply": _l("Auto-reply"),
        "read_receipt": _l("Read receipt"),
        "feedback_report": _l("Complaint (ARF)"),
        "unsubscribe": _l("Opt-out request"),
        "human": _l("Written by a person"),
    },
    "mode": {  # vocab.MODES: how an action reaches the ticket
        "dry-run": _l("dry run"),
        "inline": _l("in the answer to Znuny"),
        "callback": _l("via REST"),
    },
    "source": {  # vocab.EVENT_SOURCES: the path that saw the article
        "webhook": _l("webhook"),
        "sweep": _l("sweep"),
        "catchup": _l("catch-up"),
    },
    "runkind": {  # vocab.RUN_KINDS
        "sweep": _l("sweep"),
        "catchup": _l("catch-up"),
    },
    "runmode": {  # vocab.RUN_MODES: a sweep's --dry-run/--apply, or the service's mode for a catch-up round
        "dry-run": _l("dry run"),
        "apply": _l("applied"),
        "inline": _l("in the answer to Znuny"),
        "callback": _l("via REST"),
    },
    "runstatus": {  # vocab.RUN_STATUSES
        "running": _l("running"),
        "done": _l("finished"),
        "interrupted": _l("interrupted"),
        "failed": _l("failed"),
    },
    "sweep": {  # counts of a sweep (bouncer/sweep.py) or a catch-up round (bouncer/catchup.py)
        "close": _l("close"),
        "move": _l("move"),
        "tag": _l("tag"),
        "restore": _l("restore state"),
        "leave": _l("leave"),
        "error": _l("errors"),
        "errors": _l("errors"),
        "failed": _l("failed"),
        "done": _l("done"),
        "tickets": _l("tickets"),
        "processed": _l("mails processed"),
        "duplicate": _l("already known"),
        "ignored": _l("ignored"),
        "action_close": _l("closed"),
        "action_move": _l("moved"),
        "action_tag": _l("tagged"),
        "action_restore": _l("state restored"),
        "action_none": _l("nothing to do"),
    },
    "role": {  # auth.ROLES
        "press": _l("press office"),
        "admin": _l("admin"),
    },
    "allow": {  # vocab.ALLOW_KINDS
        "sender": _l("Sender"),
        "domain": _l("Domain"),
    },
}


def label(group: str, code: str | None) -> str:
    """The word for `code` in `group`; the code itself when there is none (or '–' for nothing).

    Translated once per request and kept in `g`: a page of 100 rows asks a few hundred times.
    """
    if code is None or code == "":
        return "–"
    words: dict[tuple[str, str], str] = g.setdefault("bouncer_labels", {})
    key = (group, code)
    if key not in words:
        word = LABELS.get(group, {}).get(code)
        words[key] = str(word) if word is not None else code
    return words[key]


_NOTES: dict[str, LazyString] = {  # store.Events: the notes the app writes on a review (verdicts.note_kind)
    "corrected": _l("corrected from %(kind)s"),
    "undid": _l("taken back (it was: %(review)s)"),
    "undid_correction": _l("correction to %(kind)s taken back"),
    "bulk": _l("confirmed in bulk (confidence at least %(confidence)s)"),
}


def review_note(verdict: Mapping[str, Any]) -> str:
    """A verdict's review note in the reader's language: the app's own notes (`note_kind` and
    `note_args`) in words, an admin's note as written."""
    kind, args = verdict.get("note_kind"), verdict.get("note_args") or {}
    if kind not in _NOTES:
        return str(verdict.get("review_note") or "")
    words = {"kind": label("kind", args.get("was") or args.get("kind")), "review": label("review", args.get("review")),
             "confidence": f"{round(float(args.get('min_conf') or 0) * 100)} %"}
    return str(_NOTES[kind]) % words


_STEPS: dict[str, LazyString] = {  # policy.Plan.steps: why a plan is what it is
    "person": _l("written by a person (or not sure): nothing is done"),
    "rule": _l("rule [rules.%(key)s]: %(action)s"),
    "low_confidence": _l("confidence %(confidence)s below %(min)s: tag instead of %(action)s"),
    "conversation": _l("the ticket has correspondence by people (%(who)s): never %(action)s it"),
    "restore": _l("state back to “%(state)s” (the machine mail had changed it to “%(now)s”)"),
    "state_left": _l("state left as it is"),
    "false_positive": _l("marked as a false positive by %(by)s"),
}


def plan_why(plan: Mapping[str, Any]) -> str:
    """Why a recorded plan is what it is, in the reader's language (policy.Plan.steps); a plan
    recorded before the steps were kept shows its English `why`."""
    steps = plan.get("steps")
    if not steps or any(code not in _STEPS for code, _ in steps):
        return str(plan.get("why") or "")
    parts = []
    for code, args in steps:
        words = {**args, "action": label("action", args.get("action")),
                 "confidence": _percent(args.get("confidence")), "min": _percent(args.get("min"))}
        text = str(_STEPS[code]) % words
        parts.append(f"{text} ({args['source']})" if args.get("source") else text)
    return "; ".join(parts)


def _percent(value: Any) -> str:
    return f"{round(float(value) * 100)} %" if isinstance(value, (int, float)) else ""
