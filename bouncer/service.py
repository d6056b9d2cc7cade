"""One event's way through the system: event -> mail -> verdict -> action -> record.

The webhook, the crash recovery and (later) the sweep of open tickets all call
`Service.process`; the review pages call `Service.reopen`. Everything a step needs
comes in through the `Service` instance, built once per process by `create_app`.
"""
from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from . import fastjson
from .article import from_article, request_article
from .classify import classify
from .config import Config
from .mail import Mail
from .mime import parse
from .otrs import Note, OtrsClient, OtrsError
from .policy import MARKER, Plan, Policy, TicketContext, decide
from .store import MailMeta, PlannedAction, Store
from .verdict import Verdict

log = logging.getLogger("bouncer.service")

INTERNAL_CHANNEL_ID = 3  # Znuny's CommunicationChannel "Internal" (notes)
# What a planned ticket update is, per mode: only recorded, answered inline, or queued in the outbox.
_ACTION_STATE = {"dry-run": "dry-run", "inline": "done", "callback": "pending"}
_SNIPPET_WS = re.compile(r"\s+")
_DUPLICATE = "this article was already processed"
_MAX_ID = 2**63 - 1  # SQLite's INTEGER; Znuny's ids are far below


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

    def __init__(self, config: Config, store: Store, policy: Policy, otrs: OtrsClient | None) -> None:
        self.config, self.store, self.policy, self.otrs = config, store, policy, otrs

    # ---- the webhook path ------------------------------------------------------------------
    def process(self, body: Mapping[str, Any], raw_body: bytes, source: str = "webhook") -> Outcome:
        """Classify and act on one invoker event. Raises ValueError for a body that is not one.

        The body is checked before anything is written, so a ValueError leaves nothing behind. The
        payload is spooled from before classification until the event's record is committed, so a
        worker dying in between loses nothing (`recover` finishes it). Whatever raises after spooling
        (a bug: mail content never does) leaves the payload for `recover` too.
        """
        event = body.get("Event") if isinstance(body.get("Event"), Mapping) else {}
        ticket, article = request_article(body)
        ticket_id = _int(event.get("TicketID") or ticket.get("TicketID") or article.get("TicketID"), "TicketID")
        article_id = _int(event.get("ArticleID") or article.get("ArticleID"), "ArticleID")
        own = own_article(article)
        if own:
            return Outcome(event_id=None, status="ignored", why=own)
        known = self.store.event_id(ticket_id, article_id)
        if known is not None:
            return Outcome(event_id=known, status="duplicate", why=_DUPLICATE)
        spooled = self.store.spool.put(ticket_id, article_id, source, raw_body)
        try:
            outcome = self._classify_and_act(ticket_id, article_id, body, source)
        except ValueError as exc:  # the body was checked above: this is a bug, not the sender's fault
            raise RuntimeError(f"processing a valid body failed: {exc}") from exc
        self.store.spool.drop(spooled)
        return outcome

    def recover(self) -> int:
        """Finish events whose request died (payload still spooled after a minute); returns how many.

        Each worker's thread runs this; a file lock on the payload keeps two from doing one event,
        and the article's unique event row keeps a late original request from doing it again.
        """
        done, spool = 0, self.store.spool
        for item in spool.stale():
            with spool.claim(item) as payload:
                if payload is None:  # another worker is on it, or it was finished meanwhile
                    continue
                ids = {"ticket_id": item.ticket_id, "article_id": item.article_id}
                try:
                    if self.store.event_id(item.ticket_id, item.article_id) is None:
                        outcome = self._classify_and_act(item.ticket_id, item.article_id, fastjson.loads(payload),
                                                         item.source, recovered=True)
                        done += outcome.status == "processed"
                except sqlite3.OperationalError as exc:  # the database is busy or gone: next round
                    log.warning("recovery postponed", extra={**ids, "error": str(exc)})
                    continue
                except Exception as exc:  # unreadable, or a bug: recorded as failed, not retried forever
                    log.exception("spooled event failed", extra=ids)
                    self.store.record_failed(item, f"recovery failed: {type(exc).__name__}: {exc}")
                spool.drop(item)
        return done

    def _classify_and_act(self, ticket_id: int, article_id: int, body: Mapping[str, Any], source: str,
                          recovered: bool = False) -> Outcome:
        ticket, article = request_article(body)
        mail, mail_source = self._mail(ticket_id, article_id, article, ticket)
        verdict = classify(mail, allow=self.store.is_allowed)
        context = self.ticket_context(ticket, body.get("Event") or {}, article_id)
        plan = decide(self.policy, verdict, context)
        previous = {"state": context.previous_state or context.state, "queue": context.queue,
                    "classification": ticket.get(f"DynamicField_{self.policy.dynamic_field}")
                    if self.policy.dynamic_field else None}
        kind, mode, state = "ticket_update", self.config.mode, _ACTION_STATE[self.config.mode]
        if recovered and mode == "inline":
            # The request that would have carried the inline answer died with the crash: the update
            # goes through the outbox when we can call Znuny, else it is recorded as not done.
            mode, state = ("callback", "pending") if self.otrs is not None else ("inline", "skipped")
        if plan.is_empty:
            kind, state = "none", "skipped"
        recorded = self.store.record_event(source, verdict, _meta(ticket_id, article_id, mail, mail_source, self.config),
                                           PlannedAction(kind, plan.as_dict(), previous, mode, state))
        if recorded is None:  # another delivery of this article was recorded while we classified
            return Outcome(event_id=self.store.event_id(ticket_id, article_id), status="duplicate", why=_DUPLICATE)
        log.info("classified", extra={"ticket_id": ticket_id, "article_id": article_id, "category": verdict.category,
                                      "confidence": verdict.confidence, "action": plan.action, "mode": self.config.mode,
                                      "mail_source": mail_source})
        inline = inline_response(plan) if mode == "inline" and not recovered else {}
        return Outcome(event_id=recorded.event_id, status="processed", verdict=verdict, plan=plan, inline=inline)

    def _mail(self, ticket_id: int, article_id: int, article: Mapping[str, Any],
              ticket: Mapping[str, Any]) -> tuple[Mail, str]:
        """The exact raw mail when configured and reachable, else the payload (recorded either way)."""
        if self.config.fetch_raw and self.otrs is not None:
            try:
                return parse(self.otrs.article_plain(ticket_id, article_id)), "raw"
            except OtrsError as exc:
                log.warning("raw mail fetch failed, using the payload", extra={
                    "ticket_id": ticket_id, "article_id": article_id, "error": exc.code})
        return from_article(article, ticket), "payload"

    def ticket_context(self, ticket: Mapping[str, Any], event: Mapping[str, Any], article_id: int) -> TicketContext:
        """Is there a human conversation on this ticket besides this mail? When we can't tell: assume yes."""
        old = event.get("OldTicketData") if isinstance(event.get("OldTicketData"), Mapping) else {}
        articles = ticket.get("Articles")
        if not isinstance(articles, list):
            number = (ticket.get("Article") or {}).get("ArticleNumber")
            conversation = number != 1
            why = "article history not sent, not the ticket's first article" if conversation else ""
        else:
            people = [a for a in articles if isinstance(a, Mapping) and _int_or_none(a.get("ArticleID")) != article_id
                      and a.get("SenderType") in ("agent", "customer")
                      and a.get("CommunicationChannelID") != INTERNAL_CHANNEL_ID]
            ticket_id = _int_or_none(ticket.get("TicketID"))
            if people and ticket_id:  # minus the earlier mails we judged machine mail (a ticket's own first bounce asks nothing)
                machine = self.store.machine_articles(ticket_id)
                people = [a for a in people if _int_or_none(a.get("ArticleID")) not in machine]
            conversation = bool(people)
            why = ", ".join(sorted({f"{a.get('SenderType')} article" for a in people}))
        return TicketContext(state=_text(ticket.get("State")), previous_state=_text(old.get("State")),
                             queue=_text(ticket.get("Queue")),
                             conversation=conversation, conversation_why=why)

    # ---- outbox (callback mode) and review ----------------------------------------------------
    def run_outbox(self, limit: int = 50) -> int:
        """Execute due ticket updates; failures go back with backoff. Returns how many succeeded."""
        done = 0
        for action in self.store.due_actions(limit):
            if not self.store.claim_action(action["id"]):
                continue
            if self.otrs is None:
                self.store.action_failed(action["id"], "no OTRS credentials configured", None)
                continue
            plan = action["plan"]
            note = plan.get("note")
            try:
                self.otrs.ticket_update(
                    action["ticket_id"], state=plan.get("state"), queue=plan.get("queue"),
                    dynamic_fields=plan.get("dynamic_fields") or None,
                    note=Note(note["subject"], note["body"]) if note else None)
            except OtrsError as exc:
                retry = backoff(action["attempts"]) if exc.retryable else None
                due = self.store.clock() + timedelta(seconds=retry) if retry else None
                self.store.action_failed(action["id"], f"{exc.code}: {exc}", due)
                continue
            self.store.action_done(action["id"])
            self.store.set_event_status(action["event_id"], "acted")
            done += 1
        return done

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
                "why": f"false positive marked by {by}"}
        acted = any(a.get("state") == "done" and a.get("kind") == "ticket_update" for a in item.get("actions") or [])
        state = "pending" if acted and self.otrs is not None else "skipped"
        self.store.plan_action(item["event_id"], verdict_id, item["ticket_id"], "reopen", plan, None,
                               self.config.mode, state)
        return state


def backoff(attempts: int, base: float = 5.0, cap: float = 900.0) -> float:
    """Seconds to wait before the next try: 5 s, 10 s, 20 s ... up to 15 minutes."""
    return min(cap, base * 2 ** max(0, attempts - 1))


def inline_response(plan: Plan) -> dict[str, Any]:
    """Znuny's invoker response keys. TicketArticleAdd needs HistoryType/HistoryComment, else Znuny
    applies nothing at all (see otrs-wire ooo-exchange-canned-response-missing-historytype)."""
    out: dict[str, Any] = {}
    if plan.state:
        out["OTRS_TicketStateSet"] = plan.state
    if plan.queue:
        out["OTRS_TicketQueueSet"] = plan.queue
    for name, value in plan.dynamic_fields.items():
        out[f"OTRS_TicketDynamicFieldSet_{name}"] = value
    if plan.note_body:
        out["OTRS_TicketArticleAdd"] = {
            "Subject": plan.note_subject or MARKER, "Body": plan.note_body,
            "ContentType": "text/plain; charset=utf-8", "HistoryType": "AddNote",
            "HistoryComment": f"{MARKER} {plan.action}",
        }
    return out


def own_article(article: Mapping[str, Any]) -> str:
    """Why this article is ours or an agent's (then we never classify it), or '' for mail to judge.

    Every note we add fires ArticleCreate again; so do agents' replies and Znuny's own
    auto-responses. Only mail that came in from outside is ours to judge.
    """
    if article.get("SenderType") in ("agent", "system"):
        return f"SenderType {article.get('SenderType')}: not incoming mail"
    if article.get("CommunicationChannelID") == INTERNAL_CHANNEL_ID or article.get("CommunicationChannel") == "Internal":
        return "internal note"
    if MARKER in str(article.get("Subject") or "") or str(article.get("Body") or "").startswith(MARKER):
        return "our own note"
    return ""


def _int(value: Any, name: str) -> int:
    number = _int_or_none(value)
    if number is None or number < 1:
        raise ValueError(f"missing or invalid {name}")
    return number


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)  # isascii: "²" and other Unicode digits pass isdigit() but int() refuses them
    if isinstance(value, int) and 0 <= value <= _MAX_ID:
        return value
    return None


def _text(value: Any) -> str | None:
    """A ticket field that must be text (State, Queue); anything else counts as not sent."""
    return value if isinstance(value, str) else None


def _meta(ticket_id: int, article_id: int, mail: Mail, mail_source: str, config: Config) -> MailMeta:
    """What we keep of the mail: addresses, subject, a short snippet (bodies only when configured)."""
    text = mail.body_text if config.store_bodies else _SNIPPET_WS.sub(" ", mail.body_text[:2000]).strip()[
        : config.snippet_chars]
    refs = tuple(mail.header("References").split())
    return MailMeta(ticket_id=ticket_id, article_id=article_id, from_addr=mail.from_address or mail.from_header,
                    subject=mail.subject, snippet=text or None, message_id=mail.message_id or None,
                    in_reply_to=mail.header("In-Reply-To") or None, references=refs, mail_source=mail_source)

