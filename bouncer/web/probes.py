"""Probes for the operator: /livez (the process answers), /readyz (it can take events) and /metrics.

/livez says nothing but "alive" and is always open. /readyz and /metrics tell the mode, the backlog
and the event counts; they are open by default (bind to a private address, see
docs/operations.md), or want `Authorization: Bearer <BOUNCER_PROBE_TOKEN>` when that is set.
"""
from __future__ import annotations

import hmac
import os
import shutil
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request

from .. import metrics
from ..service import Service

bp = Blueprint("probes", __name__)


@bp.before_request
def _token() -> Response | None:
    token = current_app.config["BOUNCER"].probe_token
    if not token or request.endpoint == "probes.livez":
        return None
    if hmac.compare_digest(request.headers.get("Authorization", "").encode(), f"Bearer {token}".encode()):
        return None
    response = jsonify({"error": "unauthorized"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="otrs-bouncer probes"'
    return response


@bp.get("/livez")
def livez() -> Response:
    return jsonify({"status": "alive"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when the database answers and the database and spool can be written with room to spare;
    reports the outbox backlog and the events in progress (`spooled`: more than a few, or any for
    minutes, means requests are dying) for the operator. 503 with the problems otherwise."""
    service: Service = current_app.extensions["bouncer"]
    problems = storage_problems(service)
    if not service.store.ping():
        problems.insert(0, "database unavailable")
    if problems:
        response = jsonify({"status": "not ready", "problems": problems})
        response.status_code = 503
        return response
    return jsonify({"status": "ready", "mode": service.config.mode, "outbox_pending": service.store.pending_count(),
                    "spooled": service.spool.count()})


def storage_problems(service: Service) -> list[str]:
    """What keeps the database or the spool from taking the next event: not writable, or less free
    space than BOUNCER_MIN_FREE_MB (a full disk made every call fail before)."""
    problems = []
    database = Path(service.config.db_path)
    if not (os.access(database.parent, os.W_OK | os.X_OK) and (not database.exists() or os.access(database, os.W_OK))):
        problems.append("database not writable")
    if not service.spool.writable():
        problems.append("spool not writable")
    wanted = service.config.min_free_mb * 1024 * 1024
    for what, where in (("database", database.parent), ("spool", service.spool.directory)):
        try:
            free = shutil.disk_usage(where).free
        except OSError as exc:
            problems.append(f"{what}: {exc.strerror or exc}")
            continue
        if free < wanted:
            problems.append(f"{what}: {free // (1024 * 1024)} MB free, less than {service.config.min_free_mb} MB")
    return list(dict.fromkeys(problems))


@bp.get("/metrics")
def metrics_view() -> Response:
    data, content_type = metrics.render()
    return Response(data, content_type=content_type)
