"""Probes for the operator: /livez (the process answers), /readyz (the database too) and /metrics."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from .. import metrics
from ..service import Service

bp = Blueprint("probes", __name__)


@bp.get("/livez")
def livez() -> Response:
    return jsonify({"status": "alive"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when the database answers; reports the outbox backlog and the events in progress
    (`spooled`: more than a few, or any for minutes, means requests are dying) for the operator."""
    service: Service = current_app.extensions["bouncer"]
    if not service.store.ping():
        response = jsonify({"status": "database unavailable"})
        response.status_code = 503
        return response
    return jsonify({"status": "ready", "mode": service.config.mode, "outbox_pending": service.store.pending_count(),
                    "spooled": service.spool.count()})


@bp.get("/metrics")
def metrics_view() -> Response:
    data, content_type = metrics.render()
    return Response(data, content_type=content_type)
