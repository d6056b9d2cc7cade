"""otrs-bouncer's Flask application: `create_app(config)` wires store, classifier, webhook and pages.

Run with `flask --app app run` (development) or gunicorn (see gunicorn.conf.py).
No global state: everything hangs off the app instance, built from `Config`.
"""
from __future__ import annotations

from flask import Flask

from bouncer.cli import classify_command
from bouncer.config import Config


def create_app(config: Config | None = None) -> Flask:
    """Build the app from `config`, or from BOUNCER_* environment variables when None."""
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["BOUNCER"] = config
    app.config["SECRET_KEY"] = config.secret_key
    app.cli.add_command(classify_command)
    return app
