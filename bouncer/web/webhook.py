"""The endpoint Znuny's Ticket::Generic invoker posts to (`WebhookEndpoint`), served ahead of Flask.

Authentication: HTTP Basic (compared in constant time) and, when configured, the shared
header X-Webhook-Token. A refused request leaves no trace but a log line. Bodies over
BOUNCER_MAX_BODY_BYTES get 413, malformed JSON or a body that is no invoker event 400.
"""
from __future__ import annotations

import hmac
import logging
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

from .. import fastjson, metrics, znuny
from ..config import Config
from ..service import Service

log = logging.getLogger("bouncer.webhook")

_ROUTE = re.compile(r"/otrs/article-created(?:-att|/(\d{1,19})/(\d{1,19}))?")
# A JSON answer for a machine: never cached, never sniffed as something else.
_HEADERS = (("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"))


@dataclass(frozen=True)
class _Reply:
    """A JSON answer, written straight to the WSGI server: werkzeug's Response cost 30 µs per
    event to build and serialise, for two fixed headers."""

    data: dict[str, Any]
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = fastjson.dumps(self.data).encode()
        start_response(f"{self.status} {HTTPStatus(self.status).phrase}", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))), *_HEADERS, *self.headers])
        return [body]


class WebhookEndpoint:
    """The invoker's POST /otrs/article-created[-att|/<TicketID>/<ArticleID>], served ahead of Flask.

    A plain WSGI callable in front of the Flask app: Flask's dispatch (request and app
    contexts, session, CSRF and header hooks, URL map, JSON provider) cost about 0.5 ms of the
    4 ms of CPU an event took under gunicorn, and the invoker needs none of it. Every other path
    (pages, /livez, /readyz, /metrics) goes on to Flask.
    """

    def __init__(self, app: WSGIApplication, service: Service) -> None:
        self.app, self.service, self.config = app, service, service.config

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        route = _ROUTE.fullmatch(environ.get("PATH_INFO", ""))
        if route is None:
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            response = _Reply({"error": "method not allowed: POST only"}, 405, (("Allow", "POST"),))
        else:
            request = Request(environ)
            request.max_content_length = self.config.max_body_bytes
            ids = (int(route.group(1)), int(route.group(2))) if route.group(1) else (None, None)
            try:
                response = self.handle(request, *ids)
            except (OSError, sqlite3.OperationalError) as exc:  # disk full, database locked or gone
                log.exception("webhook request failed: storage", extra={"ticket_id": ids[0], "article_id": ids[1]})
                response = _refuse(503, f"storage unavailable: {str(exc)[:100]}", "storage")
            except Exception:  # a bug: Znuny gets a 500 and logs it; the traceback goes to our log
                log.exception("webhook request failed", extra={"ticket_id": ids[0], "article_id": ids[1]})
                response = _refuse(500, "internal error", "error")
        return response(environ, start_response)

    def handle(self, request: Request, ticket_id: int | None, article_id: int | None) -> _Reply:
        started = time.perf_counter()
        why = _authorized(request, self.config)
        if why:
            log.warning("webhook request refused", extra={"reason": why, "remote": request.remote_addr})
            return _refuse(401, "unauthorized", "auth")
        try:
            raw = request.get_data(cache=False)
            if request.content_length is None and len(raw) >= self.config.max_body_bytes:
                raise RequestEntityTooLarge()  # werkzeug cuts a chunked body at the limit instead of refusing it
        except RequestEntityTooLarge:
            return _refuse(413, f"body larger than {self.config.max_body_bytes} bytes", "too_large")
        try:
            body: Any = fastjson.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return _refuse(400, f"body is not JSON: {str(exc)[:100]}", "bad_json")
        if not isinstance(body, dict):
            return _refuse(400, "body must be a JSON object", "bad_body")
        try:
            event = znuny.parse_event(body)
        except ValueError as exc:
            return _refuse(400, str(exc), "bad_body")
        for name, value, sent in (("TicketID", ticket_id, event.ticket_id),
                                  ("ArticleID", article_id, event.article_id)):
            if value is not None and sent != value:
                return _refuse(400, f"{name} in the path ({value}) differs from the body", "id_mismatch")
        outcome = self.service.process(event, raw)
        category = outcome.verdict.category if outcome.verdict else "-"
        action = outcome.plan.action if outcome.plan else "-"
        metrics.EVENTS.labels(outcome.status, category, action).inc()
        metrics.LATENCY.observe(time.perf_counter() - started)
        if outcome.status != "processed":
            log.info(f"event {outcome.status}", extra={"ticket_id": ticket_id, "article_id": article_id,
                                                       "why": outcome.why})
            return _Reply({"Result": outcome.status, "Why": outcome.why})
        answer: dict[str, Any] = {"Result": "processed", "EventID": outcome.event_id, "Category": category,
                                  "Action": action, "Mode": self.config.mode}
        answer.update(outcome.inline)
        return _Reply(answer)


def _authorized(request: Request, config: Config) -> str:
    """'' when the request may pass, else the reason (for the log line)."""
    if not config.webhook_password:
        return "webhook password not configured"
    auth = request.authorization
    if auth is not None and auth.type != "basic":
        auth = None  # Bearer, Digest ...: no Basic credentials
    user_ok = hmac.compare_digest(((auth.username if auth else "") or "").encode(), config.webhook_user.encode())
    password_ok = hmac.compare_digest((auth.password if auth and auth.password else "").encode(),
                                      config.webhook_password.encode())
    if not (auth and user_ok and password_ok):
        return "bad or missing Basic credentials"
    if config.webhook_token is not None and not hmac.compare_digest(
            request.headers.get("X-Webhook-Token", "").encode(), config.webhook_token.encode()):
        return "bad or missing X-Webhook-Token"
    return ""


def _refuse(status: int, message: str, reason: str) -> _Reply:
    metrics.REJECTED.labels(reason).inc()
    challenge = (("WWW-Authenticate", 'Basic realm="otrs-bouncer webhook"'),) if status == 401 else ()
    return _Reply({"error": message}, status, challenge)
