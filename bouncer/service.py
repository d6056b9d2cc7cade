"""One event's way through the system: event -> mail -> verdict -> action -> record.

The webhook, the crash recovery and the catch-up call `Service.process` with a parsed
`znuny.ArticleEvent`; the sweep calls `judge` and `record` (the same path, in two steps, so a
dry run can judge without recording); the review pages call `Service.reopen`. Everything a step needs
comes in through the `Service` instance, built once per process by `create_app`.
"""
from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, cast

from . import fastjson, znuny
from .article import from_article
from .classify import classify
from .config import Config
from .mail import Mail
from .mime import parse
from .otrs import Note, OtrsClient, OtrsError
from .policy import MARKER, Plan, Policy, TicketContext, decide
from .spool import MAX_RECOVERIES, Spool
from .store import MailMeta, PlannedAction, Recorded, Store, parse_iso
from .verdict import Verdict
from .vocab import ActionKind, ActionState, EventSource, MailSource, Mode
from .znuny import Article, ArticleEvent

log = logging.getLogger("bouncer.service")

# What a planned ticket update is, per mode: only recorded, answered inline, or queued in the outbox.
# An inline answer is 'sent' until Znuny confirms it (see confirm_sent).
_ACTION_STATE: dict[Mode, ActionState] = {"dry-run": "dry-run", "inline": "sent", "callback": "pending"}
CONFIRM_AFTER = timedelta(minutes=1)  # an inline answer unconfirmed this long is checked with TicketGet
GIVE_UP_CONFIRMING = timedelta(hours=1)  # ... and flagged when Znuny cannot even be asked this long
_SNIPPET_WS = re.compile(r"\s+")
_DUPLICATE = "this article was already processed"


@dataclass(frozen=True)
class Judgement:
    """One article classified and planned for, not yet recorded (see Service.judge)."""

    ticket_id: int
    article_id: int
    mail: Mail
    mail_source: MailSource
    verdict: Verdict
    context: TicketContext
    plan: Plan
    previous: dict[str, Any]  # the ticket's state, queue and tag before, for a reopen


@dataclass(frozen=True)
class Outcome:
    """What happened to one event; the webhook turns it into its HTTP answer."""

    event_id: int | None
    status: str  # processed | duplicate | ignored
    verdict: Verdict | None = None
    plan: Plan | None = None
    inline: Mapping[str, Any] = field(default_factory=dict)  # Znuny response keys (inline mode)
    why: str = ""


class Service:
    """The processing core; one per process (each gunicorn worker builds its own)."""

    def __init__(self, config: Config, store: Store, policy: Policy, otrs: OtrsClient | None, spool: Spool) -> None:
        self.config, self.store, self.policy, self.otrs, self.spool = config, store, policy, otrs, spool

    # ---- the webhook path ------------------------------------------------------------------
    def process(self, event: ArticleEvent, raw_body: bytes, source: EventSource = "webhook",
                late: bool = False) -> Outcome:
        """Classify and act on one ArticleCreate; `raw_body` is what Znuny sent, kept for `recover`.

        `late`: nobody waits for an inline answer (the catch-up found the article afterwards), so in
        inline mode the update goes through the outbox, as for an event finished after a crash.

        The body is checked before anything is written, so a ValueError leaves nothing behind. The
        payload is spooled from before classification until the event's record is committed, so a
        worker dying in between loses nothing (`recover` finishes it). Whatever raises after spooling
        (a bug: mail content never does) leaves the payload for `recover` too.
        """
        own = own_article(event.article)
        if own:
            if is_our_note(event.article) and self.store.confirm_inline(event.ticket_id) is not None:
                own += "; it confirms our inline answer"
            return Outcome(event_id=None, status="ignored", why=own)
        known = self.store.event_id(event.ticket_id, event.article_id)
        if known is not None:
            return Outcome(event_id=known, status="duplicate", why=_DUPLICATE)
        spooled = self.spool.put(event.ticket_id, event.article_id, source, raw_body)
        try:
            outcome = self._classify_and_act(event, source, recovered=late)
        except ValueError as exc:  # the event was read before spooling: this is a bug, not the sender's fault
            raise RuntimeError(f"processing a valid event failed: {exc}") from exc
        self.spool.drop(spooled)
        return outcome

    def recover(self) -> int:
        """Finish events whose request died (payload still spooled after a minute); returns how many.

        Each worker's thread runs this; a file lock on the payload keeps two from doing one event,
        and the article's unique event row keeps a late original request from doing it again.
        """
        done, spool = 0, self.spool
        for item in spool.stale():
            with spool.claim(item) as payload:
                if payload is None:  # another worker is on it, or it was finished meanwhile
                    continue
                ids = {"ticket_id": item.ticket_id, "article_id": item.article_id}
                tries = spool.attempt(item)
                if tries > MAX_RECOVERIES:  # each recovery died with its worker (killed, out of memory ...)
                    log.error("spooled event given up", extra={**ids, "recoveries": tries - 1})
                    self.store.record_failed(item, f"given up after {tries - 1} recoveries that did not finish "
                                                   "(the worker was killed or stopped each time)")
                    spool.drop(item)
                    continue
                try:
                    if self.store.event_id(item.ticket_id, item.article_id) is None:
                        event = znuny.parse_event(fastjson.loads(payload))
                        outcome = self._classify_and_act(event, cast(EventSource, item.source), recovered=True)
                        done += outcome.status == "processed"
                except sqlite3.OperationalError as exc:  # the database is busy or gone: next round
                    log.warning("recovery postponed", extra={**ids, "error": str(exc)})
                    continue
                except Exception as exc:  # unreadable, or a bug: recorded as failed, not retried forever
                    log.exception("spooled event failed", extra=ids)
                    self.store.record_failed(item, f"recovery failed: {type(exc).__name__}: {exc}")
                spool.drop(item)
        return done

    def _classify_and_act(self, event: ArticleEvent, source: EventSource, recovered: bool = False) -> Outcome:
        judged = self.judge(event)
        mode, state = self.config.mode, _ACTION_STATE[self.config.mode]
        if recovered and mode == "inline":
            # The request that would have carried the inline answer died with the crash: the update
            # goes through the outbox when we can call Znuny, else it is recorded as not done.
            mode, state = ("callback", "pending") if self.otrs is not None else ("inline", "skipped")
        recorded = self.record(judged, source, mode, state)
        if recorded is None:  # another delivery of this article was recorded while we classified
            return Outcome(event_id=self.store.event_id(event.ticket_id, event.article_id), status="duplicate",
                           why=_DUPLICATE)
        inline = inline_response(judged.plan) if mode == "inline" and not recovered else {}
        return Outcome(event_id=recorded.event_id, status="processed", verdict=judged.verdict, plan=judged.plan,
                       inline=inline)

    def judge(self, event: ArticleEvent, machine: Collection[int] = ()) -> Judgement:
        """Classify one article and plan for it; writes nothing.

        `machine`: further articles of the ticket known to be machine mail though not recorded
        (a dry-run sweep judges a ticket's articles in memory, oldest first)."""
        mail, mail_source = self._mail(event)
        verdict = classify(mail, allow=self.store.is_allowed)
        context = self.ticket_context(event, machine)
        if verdict.is_actionable and context.conversation:
            context = self._state_before_follow_up(event, context)
        plan = decide(self.policy, verdict, context)
        previous = {"state": context.previous_state or context.state, "queue": context.queue,
                    "classification": event.ticket.dynamic_fields.get(self.policy.dynamic_field)
                    if self.policy.dynamic_field else None,
                    "planned_at_state": context.state}  # a retried close checks the ticket is still there
        return Judgement(event.ticket_id, event.article_id, mail, mail_source, verdict, context, plan, previous)

    def record(self, judged: Judgement, source: EventSource, mode: Mode, state: ActionState) -> Recorded | None:
        """Record a judged article as one event with its verdict and planned action (kind `none`,
        state `skipped` for an empty plan); None when the article was recorded before."""
        kind: ActionKind = "ticket_update"
        if judged.plan.is_empty:
            kind, state = "none", "skipped"
        recorded = self.store.record_event(
            source, judged.verdict, _meta(judged.ticket_id, judged.article_id, judged.mail, judged.mail_source,
                                          self.config),
            PlannedAction(kind, judged.plan.as_dict(), judged.previous, mode, state))
        if recorded is not None:
            log.info("classified", extra={"ticket_id": judged.ticket_id, "article_id": judged.article_id,
                                          "category": judged.verdict.category, "confidence": judged.verdict.confidence,
                                          "action": judged.plan.action, "mode": mode, "source": source,
                                          "mail_source": judged.mail_source})
        return recorded

    def _mail(self, event: ArticleEvent) -> tuple[Mail, MailSource]:
        """The exact raw mail when configured and reachable, else the payload (recorded either way)."""
        if self.config.fetch_raw and self.otrs is not None:
            try:
                return parse(self.otrs.article_plain(event.ticket_id, event.article_id)), "raw"
            except OtrsError as exc:
                log.warning("raw mail fetch failed, using the payload", extra={
                    "ticket_id": event.ticket_id, "article_id": event.article_id, "error": exc.code})
        return from_article(event.article, event.ticket), "payload"

    def ticket_context(self, event: ArticleEvent, machine: Collection[int] = ()) -> TicketContext:
        """Is there a human conversation on this ticket besides this mail? When we can't tell: assume yes.

        Earlier articles we judged machine mail (recorded, or in `machine`) are no conversation."""
        others = event.others
        if others is None:
            conversation = event.article.article_number != 1
            why = "article history not sent, not the ticket's first article" if conversation else ""
        else:
            people = [a for a in others if a.by_person]
            if people:  # minus the earlier mails we judged machine mail (a ticket's own first bounce asks nothing)
                known = self.store.machine_articles(event.ticket_id) | set(machine)
                people = [a for a in people if a.article_id not in known]
            conversation = bool(people)
            why = ", ".join(sorted({f"{a.sender_type} article" for a in people}))
        return TicketContext(state=event.ticket.state, previous_state=event.old_state, queue=event.ticket.queue,
                             conversation=conversation, conversation_why=why)

    def _state_before_follow_up(self, event: ArticleEvent, context: TicketContext) -> TicketContext:
        """The state the ticket had before this mail, when Znuny's follow-up handling changed it.

        Znuny's PostMaster reopens a closed ticket for a follow-up (a reply carrying [Ticket#…] or
        References of its mail) before ArticleCreate fires, so the event's OldTicketData.State
        already says `open`; only the ticket's history (TicketHistoryGet) still knows the state before.
        Without Znuny's REST (no BOUNCER_OTRS_* settings) or when it fails, the event's state stands
        and the note says the state before is unknown."""
        if event.article.article_number == 1:
            return context
        if self.otrs is None:
            return replace(context, previous_state_from="the ticket history was not asked: no BOUNCER_OTRS_URL")
        try:
            change = znuny.state_change_for(self.otrs.ticket_history(event.ticket_id), event.article_id)
        except (OtrsError, znuny.ZnunyFormatError) as exc:
            code = exc.code if isinstance(exc, OtrsError) else "TicketHistoryGet.BadResponse"
            log.warning("ticket history not read, the state before the mail is unknown",
                        extra={"ticket_id": event.ticket_id, "article_id": event.article_id, "error": code})
            return replace(context, previous_state_from=f"the ticket history could not be read: {code}")
        if change is None:
            return context
        return replace(context, previous_state=change[0],
                       previous_state_from=f"Znuny set {change[1]!r} when the mail arrived, per the ticket history")

    # ---- outbox (callback mode) and review ----------------------------------------------------
    def run_outbox(self, limit: int = 50) -> int:
        """Execute due ticket updates; failures go back with backoff. Returns how many succeeded."""
        done = 0
        for action in self.store.due_actions(limit):
            if self.store.claim_action(action["id"]):
                done += self.execute(action) is None
        return done

    def execute(self, action: Mapping[str, Any]) -> OtrsError | None:
        """Carry out one claimed action (an `actions` row: id, event_id, ticket_id, plan, attempts before
        the claim): one TicketUpdate, then done; on failure back to the outbox with backoff when
        retrying may help, else failed. Returns the error, or None when Znuny took it."""
        ids = {"ticket_id": action["ticket_id"], "action_id": action["id"], "kind": action.get("kind"),
               "attempt": action["attempts"] + 1}
        if self.otrs is None:
            error = OtrsError("NoCredentials", "no OTRS credentials configured (BOUNCER_OTRS_*)", retryable=False)
            self.store.action_failed(action["id"], f"{error.code}: {error.message}", None)
            log.error("ticket update given up", extra={**ids, "error": f"{error.code}: {error.message}"})
            return error
        plan = dict(action["plan"])
        mark = note_mark(action["id"])
        try:
            if action["attempts"]:  # tried before (timed out, or its worker died): look before repeating
                applied, state_now, fields_now = self._applied(action["ticket_id"], mark)
                if applied:
                    unset = _unset_fields(plan, fields_now)
                    if unset:  # the first request was cut off between the note and the fields
                        self.otrs.ticket_update(action["ticket_id"], dynamic_fields=unset)
                    log.info("outbox action already applied", extra={
                        "action_id": action["id"], "ticket_id": action["ticket_id"], "fields_completed": sorted(unset)})
                    self.store.action_done(action["id"])
                    self.store.set_event_status(action["event_id"], "acted")
                    return None
                planned_from = (action.get("previous") or {}).get("planned_at_state")
                if plan.get("state") and planned_from and state_now != planned_from:
                    # An agent moved the ticket on (e.g. reopened it) since we planned: never re-close it.
                    log.warning("outbox action: ticket state changed since planned, state left alone", extra={
                        "action_id": action["id"], "ticket_id": action["ticket_id"], "state": state_now})
                    plan["state"] = None
            note = plan.get("note")
            self.otrs.ticket_update(
                action["ticket_id"], state=plan.get("state"), queue=plan.get("queue"),
                dynamic_fields=plan.get("dynamic_fields") or None,
                note=Note(note["subject"], f"{note['body']}\n{mark}") if note else None)
        except OtrsError as exc:
            reason = f"{exc.code}: {exc.message}"
            retry = backoff(action["attempts"]) if exc.retryable else None
            due = self.store.clock() + timedelta(seconds=retry) if retry else None
            self.store.action_failed(action["id"], reason, due)
            if retry:  # one line per failed attempt, one per give-up
                log.warning("ticket update failed, will retry", extra={**ids, "error": reason, "retry_in_s": retry})
            else:
                log.error("ticket update given up", extra={**ids, "error": reason})
            return exc
        self.store.action_done(action["id"])
        self.store.set_event_status(action["event_id"], "acted")
        return None

    def confirm_sent(self, limit: int = 50) -> int:
        """Inline answers Znuny has not confirmed within CONFIRM_AFTER (no echo of our note came back,
        e.g. the policy adds none): done when TicketGet shows the planned state, queue and tag, else
        flagged 'unconfirmed' with why (on the review page, and one warning each). Returns how many
        were settled."""
        settled = 0
        now = self.store.clock()
        for action in self.store.sent_before(now - CONFIRM_AFTER, limit):
            ids = {"ticket_id": action["ticket_id"], "action_id": action["id"]}
            if self.otrs is None:
                why = "no echo of our note came back and Znuny cannot be asked (no BOUNCER_OTRS_URL)"
            else:
                try:
                    ticket = self.otrs.ticket_get(action["ticket_id"], DynamicFields=1)
                except OtrsError as exc:
                    if exc.retryable and parse_iso(action["created_at"]) > now - GIVE_UP_CONFIRMING:
                        continue  # Znuny unreachable: ask again next round
                    ticket, why = None, f"TicketGet failed: {exc.code}: {exc.message}"
                if ticket is not None:
                    why = _differences(action["plan"], ticket)
                    if not why:
                        self.store.settle_sent(action["id"], confirmed=True)
                        settled += 1
                        continue
            self.store.settle_sent(action["id"], confirmed=False, why=why)
            log.warning("inline answer never confirmed by Znuny", extra={**ids, "error": why})
            settled += 1
        return settled

    def _applied(self, ticket_id: int, mark: str) -> tuple[bool, str | None, dict[str, Any]]:
        """(is a note of ours carrying `mark` on the ticket, the ticket's state now, its dynamic fields now).

        Znuny's TicketUpdate (Kernel/GenericInterface/Operation/Ticket/TicketUpdate.pm) sets queue and
        state, then adds the article, then sets the dynamic fields, each step on its own with no
        transaction around them: our note there proves queue and state were applied, not the fields
        (a request cut off in between, e.g. Apache stopped, leaves them unset)."""
        ticket = self.otrs.ticket_get(ticket_id, AllArticles=True, DynamicFields=True) if self.otrs else {}
        applied = any(mark in str(article.get("Body") or "") for article in znuny.ticket_articles(ticket)
                      if article.get("SenderType") in ("agent", "system"))
        state = ticket.get("State")
        return applied, state if isinstance(state, str) else None, dict(znuny.parse_ticket(ticket).dynamic_fields)

    def reopen(self, verdict_id: int, by: str, note: str = "") -> str:
        """A false positive: record it, and give the ticket back its state, queue and an untagged field.

        Returns the reopen's state: 'pending' (it goes to OTRS) or 'skipped' (we had changed nothing)."""
        item = self.store.get_verdict(verdict_id)
        if item is None:
            raise KeyError(verdict_id)
        previous = next((a.get("previous") for a in item.get("actions") or [] if a.get("previous")), None) or {}
        self.store.set_review(verdict_id, "false_positive", by, note or None)
        body = "\n".join([f"{MARKER} false positive, marked by {by}.", note or "",
                          f"Our verdict was {item['category']} ({item['confidence']:.2f}); the ticket is reopened."])
        plan = {"action": "reopen", "state": previous.get("state") or "open", "queue": previous.get("queue"),
                "dynamic_fields": {self.policy.dynamic_field: ""} if self.policy.dynamic_field else {},
                "note": {"subject": f"{MARKER} false positive", "body": body.strip()},
                "why": f"false positive marked by {by}", "steps": [["false_positive", {"by": by}]]}
        acted = any(a.get("state") in ("done", "sent", "unconfirmed") and a.get("kind") == "ticket_update"
                    for a in item.get("actions") or [])
        state = "pending" if acted and self.otrs is not None else "skipped"
        self.store.plan_action(item["event_id"], verdict_id, item["ticket_id"], "reopen", plan, None,
                               self.config.mode, state)
        return state


def backoff(attempts: int, base: float = 5.0, cap: float = 900.0) -> float:
    """Seconds to wait before the next try: 5 s, 10 s, 20 s ... up to 15 minutes."""
    return min(cap, base * 2 ** max(0, attempts - 1))


def inline_response(plan: Plan) -> dict[str, Any]:
    """The plan as the invoker's inline answer (znuny.inline_answer); our notes carry the MARKER."""
    note = (plan.note_subject or MARKER, plan.note_body) if plan.note_body else None
    return znuny.inline_answer(state=plan.state, queue=plan.queue, dynamic_fields=plan.dynamic_fields, note=note,
                               history_comment=f"{MARKER} {plan.action}")


def is_our_note(article: Article) -> bool:
    """An internal note carrying our MARKER: the echo of a note we had Znuny add (asked only of articles
    `own_article` already ignores, so a customer's mail with the MARKER in its subject confirms nothing)."""
    return article.is_internal and (MARKER in article.subject or (article.body or "").startswith(MARKER))


def _unset_fields(plan: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, str]:
    """The plan's dynamic fields that the ticket's `fields` do not have (yet) as planned."""
    return {name: value for name, value in (plan.get("dynamic_fields") or {}).items()
            if (fields.get(name) or "") != value}


def _differences(plan: Mapping[str, Any], ticket: Mapping[str, Any]) -> str:
    """What of the plan a TicketGet ticket does not show ('' when it shows all of it)."""
    fields = znuny.parse_ticket(ticket).dynamic_fields
    wrong = [f"state is {ticket.get('State')!r}, not {plan['state']!r}"] if plan.get("state") and ticket.get(
        "State") != plan["state"] else []
    if plan.get("queue") and ticket.get("Queue") != plan["queue"]:
        wrong.append(f"queue is {ticket.get('Queue')!r}, not {plan['queue']!r}")
    wrong += [f"{name} is {fields.get(name)!r}, not {value!r}" for name, value in _unset_fields(plan, fields).items()]
    if not (plan.get("state") or plan.get("queue") or plan.get("dynamic_fields")):
        wrong.append("no echo of our note came back and the plan has nothing TicketGet could show")
    return "no echo of our note came back; TicketGet: " + "; ".join(wrong) if wrong else ""


def own_article(article: Article) -> str:
    """Why this article is ours or an agent's (then we never classify it), or '' for mail to judge.

    Every note we add fires ArticleCreate again; so do agents' replies and Znuny's own
    auto-responses. Only mail that came in from outside is ours to judge.
    """
    if article.sender_type in ("agent", "system"):
        return f"SenderType {article.sender_type}: not incoming mail"
    if article.is_internal:
        return "internal note"
    return ""


def note_mark(action_id: int) -> str:
    """The last line of every note the outbox adds: which action wrote it, so a retry can see it is done.

    Our notes are recognised by their author (an agent or the system, on the internal channel), never
    by a marker in the subject: anybody can write "[otrs-bouncer]" into a subject."""
    return f"{MARKER} action #{action_id}"


def _meta(ticket_id: int, article_id: int, mail: Mail, mail_source: MailSource, config: Config) -> MailMeta:
    """What we keep of the mail: addresses, subject, a short snippet (bodies only when configured)."""
    text = mail.body_text if config.store_bodies else _SNIPPET_WS.sub(" ", mail.body_text[:2000]).strip()[
        : config.snippet_chars]
    refs = tuple(mail.header("References").split())
    return MailMeta(ticket_id=ticket_id, article_id=article_id, from_addr=mail.from_address or mail.from_header,
                    subject=mail.subject, snippet=text or None, message_id=mail.message_id or None,
                    in_reply_to=mail.header("In-Reply-To") or None, references=refs, mail_source=mail_source)

