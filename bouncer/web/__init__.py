"""HTTP side: the webhook for Znuny, probes, the pages for people and their JSON API.

`init_app` is the one place that wires it all onto a Flask app (create_app calls it).
"""
from __future__ import annotations

from flask import Flask

from ..service import Service
from . import api, auth, pages, params, probes, security, sweeps, webhook


def init_app(app: Flask, service: Service) -> None:
    """Pages, API, login, HTTP hardening and probes on `app`; the webhook as a WSGI layer in front of it."""
    app.extensions["bouncer"] = service
    app.url_map.converters["int"] = params.IdConverter  # before any route is added
    pages.init_app(app)
    security.init_app(app, csrf_exempt=(api.bp,))  # the webhook is served ahead of Flask (WebhookEndpoint)
    auth.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(probes.bp)
    app.register_blueprint(sweeps.bp)
    app.wsgi_app = webhook.WebhookEndpoint(app.wsgi_app, service)  # type: ignore[method-assign]
