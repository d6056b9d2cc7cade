"""Words for the codes the store keeps (categories, reasons, action states ...), in the reader's language.

The store and the API speak in codes (`bounce`, `user_unknown`, `dry-run`); the pages show
these words instead, German first. An unknown code is shown as it is, never hidden.
"""
from __future__ import annotations

from flask import g
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

LABELS: dict[str, dict[str, LazyString]] = {
    "kind": {  # vocab.KINDS: bounces split by type, then the other categories
        "hard": _l("Hard bounce"),
        "soft": _l("Soft bounce"),
        "auto_reply": _l("Auto-reply"),
        "read_receipt": _l("Read receipt"),
        "feedback_report": _l("Complaint (ARF)"),
        "unsubscribe": _l("Opt-out request"),
        "human": _l("Written by a person"),
    },
    "kind_heading": {  # the same, as count columns' headings (German with soft hyphens, so a narrow column can break)
        "hard": _l("Bounced hard"),
        "soft": _l("Bounced soft"),
        "auto_reply": _l("Auto-replies"),
        "read_receipt": _l("Read receipts"),
        "feedback_report": _l("Complaints"),
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
