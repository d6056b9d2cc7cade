"""What to do with a ticket for a verdict: the policy file, validated, and the decision it makes.

Pure: no HTTP, no database. The decision never closes or moves a ticket that carries a
human conversation (Znuny issue 138, Zammad 5113: an out-of-office must neither close
nor reopen someone's ticket); it then restores the state the ticket had before this
mail and only tags.
"""
from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .verdict import Verdict
from .vocab import DEAD_COUNTS, POLICY_ACTIONS, RULE_KEYS, rule_key

MARKER = "[otrs-bouncer]"  # in every note we add: the loop guard recognises our own articles by it


class PolicyError(ValueError):
    """The policy file is wrong; the message names the key."""


@dataclass(frozen=True)
class Rule:
    action: str
    state: str | None = None
    queue: str | None = None
    min_confidence: float = 0.85


BUILTIN = "built-in defaults"  # Policy.source without a file


@dataclass(frozen=True)
class Policy:
    rules: Mapping[str, Rule]
    dynamic_field: str | None = "MailClassification"
    note: bool = True
    note_subject: str = "[otrs-bouncer] {label}"
    dead_soft_bounces: int = 3
    dead_window_days: int = 30
    dead_count: str = "verified"  # vocab.DEAD_COUNTS: which bounces count toward a dead address
    source: str = BUILTIN

    @classmethod
    def load(cls, path: str | None = None) -> Policy:
        """The file at `path`, or the built-in defaults; raises PolicyError with the offending key."""
        if path:
            text, source = Path(path).read_text(encoding="utf-8"), str(path)
        else:
            text = resources.files("bouncer").joinpath("policy_default.toml").read_text("utf-8")
            source = BUILTIN
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{source}: not valid TOML: {exc}") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "dict") -> Policy:
        unknown = set(data) - {"tag", "dead_address", "rules"}
        if unknown:
            raise PolicyError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
        rules: dict[str, Rule] = {}
        for key, raw in (data.get("rules") or {}).items():
            if key not in RULE_KEYS:
                raise PolicyError(f"{source}: [rules.{key}] is not one of {', '.join(RULE_KEYS)}")
            rules[key] = _rule(raw, f"{source}: [rules.{key}]")
        for key in RULE_KEYS:
            rules.setdefault(key, Rule(action="tag" if key != "human" else "none"))
        if rules["human"].action != "none":
            raise PolicyError(f"{source}: [rules.human] action must be \"none\": a person's mail is never acted on")
        if rules["unsubscribe"].action == "close":
            raise PolicyError(f"{source}: [rules.unsubscribe] action must not be \"close\": an opt-out request is a "
                              "person's wish the press officer acts on (tag, or move to a queue)")
        tag, dead = data.get("tag") or {}, data.get("dead_address") or {}
        policy = cls(rules=rules, dynamic_field=tag.get("dynamic_field", "MailClassification") or None,
                     note=bool(tag.get("note", True)), note_subject=str(tag.get("note_subject", cls.note_subject)),
                     dead_soft_bounces=int(dead.get("soft_bounces", 3)),
                     dead_window_days=int(dead.get("window_days", 30)),
                     dead_count=str(dead.get("count", "verified")), source=source)
        if policy.dead_soft_bounces < 1 or policy.dead_window_days < 1:
            raise PolicyError(f"{source}: [dead_address] soft_bounces and window_days must be at least 1")
        if policy.dead_count not in DEAD_COUNTS:
            raise PolicyError(f"{source}: [dead_address] count must be one of {', '.join(DEAD_COUNTS)}")
        return policy

    def rule_for(self, verdict: Verdict) -> Rule:
        return self.rules[policy_key(verdict)]

    def describe(self) -> list[dict[str, Any]]:
        """The rules as rows, for the rules page."""
        return [{"category": key, **vars(rule)} for key, rule in self.rules.items()]


def _rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where} must be a table")
    extra = set(raw) - {"action", "state", "queue", "min_confidence"}
    if extra:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
    action = raw.get("action")
    if action not in POLICY_ACTIONS:
        raise PolicyError(f"{where}: action must be one of {', '.join(POLICY_ACTIONS)}, not {action!r}")
    if action == "close" and not raw.get("state"):
        raise PolicyError(f"{where}: action \"close\" needs a state (e.g. \"closed successful\")")
    if action == "move" and not raw.get("queue"):
        raise PolicyError(f"{where}: action \"move\" needs a queue")
    confidence = raw.get("min_confidence", 0.85)
    if not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
        raise PolicyError(f"{where}: min_confidence must be a number from 0 to 1")
    return Rule(action=action, state=raw.get("state"), queue=raw.get("queue"), min_confidence=float(confidence))


@dataclass(frozen=True)
class TicketContext:
    """What the decision needs to know about the ticket beyond the mail."""

    state: str | None = None  # the ticket's state now (after Znuny processed the mail)
    previous_state: str | None = None  # before this mail: the ticket history's, else Event.OldTicketData.State
    previous_state_from: str = ""  # where previous_state comes from when not the event, for the note
    queue: str | None = None
    conversation: bool = False  # other articles by people on this ticket
    conversation_why: str = ""


# One reason of a plan: 'person', 'rule' (key, action), 'low_confidence' (confidence, min, action),
# 'conversation' (who, action), 'restore' (state, now, source), 'state_left' (source).
Step = tuple[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Plan:
    """One ticket update (or nothing), with the reason an admin reads on the review page."""

    action: str  # close | move | tag | restore | none
    state: str | None = None
    queue: str | None = None
    dynamic_fields: Mapping[str, str] = field(default_factory=dict)
    note_subject: str | None = None
    note_body: str | None = None
    why: str = ""  # in English, for the ticket's note and the API
    steps: tuple[Step, ...] = ()  # the same as codes and arguments, for the pages (web/labels.plan_why)

    @property
    def is_empty(self) -> bool:
        return not (self.state or self.queue or self.dynamic_fields or self.note_body)

    def as_dict(self) -> dict[str, Any]:
        note = {"subject": self.note_subject, "body": self.note_body} if self.note_body else None
        return {"action": self.action, "state": self.state, "queue": self.queue,
                "dynamic_fields": dict(self.dynamic_fields), "note": note, "why": self.why,
                "steps": [[code, dict(args)] for code, args in self.steps]}


def label(verdict: Verdict) -> str:
    """The value for the classification field: 'bounce-hard', 'auto-reply', 'read-receipt' ..."""
    base = verdict.category.replace("_", "-")
    return f"{base}-{verdict.bounce_type}" if verdict.category == "bounce" and verdict.bounce_type else base


def decide(policy: Policy, verdict: Verdict, ticket: TicketContext) -> Plan:
    """The plan for one verdict. Human mail: nothing at all; an opt-out request at most a tag or a move."""
    if not verdict.is_actionable:
        return Plan(action="none", why="written by a person (or not sure): nothing is done", steps=(("person", {}),))
    rule = policy.rule_for(verdict)
    key = policy_key(verdict)
    action, why = rule.action, f"policy [rules.{key}] says {rule.action}"
    steps: list[Step] = [("rule", {"key": key, "action": rule.action})]
    if action in ("close", "move") and verdict.confidence < rule.min_confidence:
        action = "tag"
        why = f"confidence {verdict.confidence:.2f} below {rule.min_confidence:.2f}: tag, don't {rule.action}"
        steps = [("low_confidence", {"confidence": round(verdict.confidence, 2), "min": rule.min_confidence,
                                     "action": rule.action})]
    state = queue = None
    if action in ("close", "move") and ticket.conversation:
        action, why = "tag", f"ticket has human correspondence ({ticket.conversation_why}): never {rule.action} it"
        steps = [("conversation", {"who": ticket.conversation_why, "action": rule.action})]
    if action == "tag" and ticket.conversation and ticket.previous_state and ticket.previous_state != ticket.state:
        action, state = "restore", ticket.previous_state
        why += f"; state back to {ticket.previous_state!r} (the machine mail changed it to {ticket.state!r})"
        if ticket.previous_state_from:
            why += f" ({ticket.previous_state_from})"
        steps.append(("restore", {"state": ticket.previous_state, "now": ticket.state,
                                  "source": ticket.previous_state_from}))
    elif action == "tag" and ticket.conversation and ticket.previous_state_from:
        why += f"; state left as it is ({ticket.previous_state_from})"
        steps.append(("state_left", {"source": ticket.previous_state_from}))
    elif action == "close":
        state = rule.state
    elif action == "move":
        queue = rule.queue
    if action == "none":
        return Plan(action="none", why=why, steps=tuple(steps))
    fields = {policy.dynamic_field: label(verdict)} if policy.dynamic_field else {}
    subject = policy.note_subject.format(label=label(verdict)) if policy.note else None
    body = note_body(verdict, why) if policy.note else None
    return Plan(action=action, state=state, queue=queue, dynamic_fields=fields, note_subject=subject,
                note_body=body, why=why, steps=tuple(steps))


def policy_key(verdict: Verdict) -> str:
    """The [rules.*] key that decides this verdict (a bounce of unknown type counts as soft)."""
    return rule_key(verdict.category, verdict.bounce_type)


def note_body(verdict: Verdict, why: str) -> str:
    """The internal note: verdict, decision and evidence, so agents see why without opening our pages.

    Every value that may come from the mail (subjects, addresses, diagnostics in the evidence) is put
    on one line: a CR/LF or Unicode line break in an encoded Subject must not forge a "Decision:" line.
    """
    lines = [f"{MARKER} {label(verdict)} (confidence {verdict.confidence:.2f})", f"Decision: {one_line(why)}"]
    if verdict.recipients:
        what = "Address to remove from the list" if verdict.category == "unsubscribe" else "Failed recipient(s)"
        lines.append(f"{what}: " + one_line(", ".join(verdict.recipients)))
    if verdict.status or verdict.reason:
        lines.append(one_line(f"Status: {verdict.status or '-'} ({verdict.reason or 'other'})"))
    if verdict.return_date:
        lines.append(f"Back on: {verdict.return_date.isoformat()}")
    if verdict.original.subject or verdict.original.message_id:
        lines.append(one_line(f"Original: {verdict.original.subject or ''} {verdict.original.message_id or ''}"))
    lines.append("Evidence:")
    lines.extend(f"- {one_line(item)}" for item in verdict.evidence[:12])
    return "\n".join(lines)


def one_line(text: str) -> str:
    """Text on one line: every kind of line break and other control character becomes one blank."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
