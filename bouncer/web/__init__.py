"""HTTP side: the webhook for Znuny, probes, the pages for people and their JSON API.

`init_app` is the one place that wires it all onto a Flask app (create_app calls it).
"""
from __future__ import annotations

from flask import Flask, Response, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

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
    for code in (404, 405):
        app.register_error_handler(code, http_error)
    app.wsgi_app = webhook.WebhookEndpoint(app.wsgi_app, service)  # type: ignore[method-assign]


def http_error(exc: HTTPException) -> Response:
    """An address no route takes (404) or a method it does not (405), app-wide: a blueprint's own
    handlers never see routing errors. The API answers JSON, the pages the error page in the reader's
    language."""
    code = exc.code or 500
    if request.path == api.PREFIX or request.path.startswith(api.PREFIX + "/"):
        response = api.error(code, exc.description or exc.name)
    else:
        message = _("There is no such page.") if code == 404 else _("This page does not take that kind of request.")
        response = Response(render_template("error.html", code=code, message=message), code)
    if code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response
