"""The endpoint Znuny's Ticket::Generic invoker posts to, plus /livez, /readyz and /metrics.

Authentication: HTTP Basic (compared in constant time) and, when configured, the shared
header X-Webhook-Token. A refused request leaves no trace but a log line. Bodies over
BOUNCER_MAX_BODY_BYTES get 413, malformed JSON or a body that is no invoker event 400.
"""
from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import metrics
from ..config import Config
from ..service import Service

log = logging.getLogger("bouncer.webhook")
bp = Blueprint("webhook", __name__)


def _service() -> Service:
    return current_app.extensions["bouncer"]


def _config() -> Config:
    return current_app.config["BOUNCER"]


def _authorized(config: Config) -> str:
    """'' when the request may pass, else the reason (for the log line)."""
    if not config.webhook_password:
        return "webhook password not configured"
    auth = request.authorization
    user_ok = hmac.compare_digest((auth.username if auth else "").encode(), config.webhook_user.encode())
    password_ok = hmac.compare_digest((auth.password if auth and auth.password else "").encode(),
                                      config.webhook_password.encode())
    if not (auth and user_ok and password_ok):
        return "bad or missing Basic credentials"
    if config.webhook_token is not None and not hmac.compare_digest(
            request.headers.get("X-Webhook-Token", "").encode(), config.webhook_token.encode()):
        return "bad or missing X-Webhook-Token"
    return ""


def _error(status: int, message: str, reason: str) -> Response:
    metrics.REJECTED.labels(reason).inc()
    response = jsonify({"error": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="otrs-bouncer webhook"'
    return response


@bp.post("/otrs/article-created")
@bp.post("/otrs/article-created-att")
@bp.post("/otrs/article-created/<int:ticket_id>/<int:article_id>")
def article_created(ticket_id: int | None = None, article_id: int | None = None) -> Response:
    started = time.perf_counter()
    config = _config()
    why = _authorized(config)
    if why:
        log.warning("webhook request refused", extra={"reason": why, "remote": request.remote_addr})
        return _error(401, "unauthorized", "auth")
    try:
        raw = request.get_data(cache=False)
        if request.content_length is None and len(raw) >= config.max_body_bytes:
            raise RequestEntityTooLarge()  # werkzeug cuts a chunked body at the limit instead of refusing it
    except RequestEntityTooLarge:
        return _error(413, f"body larger than {config.max_body_bytes} bytes", "too_large")
    try:
        body: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"body is not JSON: {str(exc)[:100]}", "bad_json")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object", "bad_body")
    event = body.get("Event") if isinstance(body.get("Event"), dict) else {}
    for name, value in (("TicketID", ticket_id), ("ArticleID", article_id)):
        if value is not None and event.get(name) not in (None, value, str(value)):
            return _error(400, f"{name} in the path ({value}) differs from the body", "id_mismatch")
    try:
        outcome = _service().process(body, raw)
    except ValueError as exc:
        return _error(400, str(exc), "bad_body")
    category = outcome.verdict.category if outcome.verdict else "-"
    action = outcome.plan.action if outcome.plan else "-"
    metrics.EVENTS.labels(outcome.status, category, action).inc()
    metrics.LATENCY.observe(time.perf_counter() - started)
    if outcome.status != "processed":
        log.info(f"event {outcome.status}", extra={"ticket_id": ticket_id, "article_id": article_id,
                                                   "why": outcome.why})
        return jsonify({"Result": outcome.status, "Why": outcome.why})
    answer: dict[str, Any] = {"Result": "processed", "EventID": outcome.event_id, "Category": category,
                              "Action": action, "Mode": config.mode}
    answer.update(outcome.inline)
    return jsonify(answer)


@bp.get("/livez")
def livez() -> Response:
    return jsonify({"status": "alive"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when the database answers; reports the outbox backlog for the operator."""
    service = _service()
    if not service.store.ping():
        response = jsonify({"status": "database unavailable"})
        response.status_code = 503
        return response
    return jsonify({"status": "ready", "mode": _config().mode, "outbox_pending": service.store.pending_count()})


@bp.get("/metrics")
def metrics_view() -> Response:
    data, content_type = metrics.render()
    return Response(data, content_type=content_type)
