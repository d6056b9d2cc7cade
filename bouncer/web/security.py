"""HTTP hardening of the pages: CSRF on every form, a strict CSP, cookie flags, no framing.

Subjects, senders and snippets on our pages are written by strangers, so besides Jinja's
autoescaping the browser is told to run no script at all (`script-src` falls back to
`default-src 'none'`) and to load styles and images from us only. The pages need no
JavaScript. The timeline SVGs get their own policy: pygal's inline `<style>`, still no script.

Cookies are HttpOnly and SameSite=Lax; Secure unless `Config.cookie_secure` (BOUNCER_COOKIE_SECURE)
says otherwise (default: on, except when Flask runs in debug or testing mode, i.e. plain-http
development). Without `Config.secret_key` (BOUNCER_SECRET_KEY) the session key is kept in
`secret_key` next to the database, so that all gunicorn workers and restarts accept the same login
cookie.
"""
from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

from flask import Blueprint, Flask, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect

from ..config import Config, ConfigError

CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
SECRET_KEY_FILENAME = "secret_key"

csrf = CSRFProtect()


def cookie_secure(app: Flask, config: Config) -> bool:
    """Config.cookie_secure, default on except in Flask's debug/testing mode (plain http)."""
    if config.cookie_secure is None:
        return not (app.debug or app.testing)
    return config.cookie_secure


def persistent_secret(path: Path) -> str:
    """The key in `path`, created (0600, exactly once among concurrent workers) if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _attempt in range(50):  # another worker may be writing it right now
            key = path.read_text(encoding="ascii").strip()
            if key:
                return key
            time.sleep(0.02)
        raise ConfigError(f"{path} is empty: delete it or set BOUNCER_SECRET_KEY") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def secure_headers(response: Response) -> Response:
    """On every response; a view that set its own CSP (the SVG plots) keeps it."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not (request.endpoint or "").endswith("static"):
        # Members' addresses and mail snippets: no copies in shared or browser caches.
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def csrf_failed(error: CSRFError) -> ResponseReturnValue:
    message = _("The form was too old or did not come from this site. Please reload the page and try again.")
    if request.blueprint == "api":
        return jsonify({"error": message}), 400
    return render_template("error.html", code=400, message=message), 400


def init_app(app: Flask, csrf_exempt: Iterable[Blueprint]) -> None:
    """Cookie flags, session key, CSRF (except for `csrf_exempt`: machine clients) and headers."""
    config: Config = app.config["BOUNCER"]
    app.config["SECRET_KEY"] = config.secret_key or persistent_secret(Path(config.db_path).parent / SECRET_KEY_FILENAME)
    app.config.update(
        SESSION_COOKIE_NAME="bouncer_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cookie_secure(app, config),
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session: a review can take a while
    )
    csrf.init_app(app)
    for blueprint in csrf_exempt:
        csrf.exempt(blueprint)
    app.register_error_handler(CSRFError, csrf_failed)
    app.after_request(secure_headers)
