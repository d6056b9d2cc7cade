"""otrs-bouncer's Flask application: `create_app(config)` wires store, classifier, webhook and pages.

Run with `make run` (gunicorn, see gunicorn.conf.py) or `flask --app app run` while
developing. No global state: everything hangs off the app instance, built from `Config`.
"""
from __future__ import annotations

import logging

from flask import Flask

from bouncer import logs
from bouncer.catchup import CatchUp
from bouncer.config import Config
from bouncer.otrs import OtrsClient
from bouncer.outbox import OutboxWorker
from bouncer.policy import Policy
from bouncer.service import Service
from bouncer.store import Store
from bouncer.sweep_cli import sweep_command
from bouncer.web import pages, webhook

log = logging.getLogger("bouncer.app")


def create_app(config: Config | None = None, *, start_worker: bool = True) -> Flask:
    """Build the app from `config`, or from BOUNCER_* environment variables when None.

    The policy file is validated here, so a mistake stops the start with a clear message.
    A background worker drains the outbox (callback mode, reopen calls), finishes events a
    crash interrupted and applies the retention setting; the catch-up (bouncer/catchup.py) looks
    for articles missed while we were down, when configured. `start_worker=False` leaves both to
    the caller (tests drive `app.extensions["bouncer_worker"].run_once()` and
    `app.extensions["bouncer_catchup"].run_once()` themselves).
    """
    config = config or Config.from_env()
    logs.setup(config.log_json)
    policy = Policy.load(config.policy_path)
    store = Store(config.db_path, soft_threshold=policy.dead_soft_bounces, soft_window_days=policy.dead_window_days)
    otrs = OtrsClient.from_config(config) if config.otrs_url and config.otrs_user and config.otrs_password else None
    service = Service(config, store, policy, otrs)

    app = Flask(__name__)
    app.config.update(BOUNCER=config, SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.max_body_bytes)
    app.extensions["bouncer"] = service
    app.register_blueprint(webhook.bp)
    worker = OutboxWorker(service)
    app.extensions["bouncer_worker"] = worker
    catchup = CatchUp(service)
    app.extensions["bouncer_catchup"] = catchup
    pages.init_app(app)
    app.cli.add_command(sweep_command)
    app.wsgi_app = webhook.WebhookEndpoint(app.wsgi_app, service)  # type: ignore[method-assign]
    service.recover()
    if start_worker:
        store.start_checkpointer()  # WAL checkpoints off the request path
        worker.start()
        if config.catchup_enabled:
            catchup.start()
    log.info("otrs-bouncer ready", extra={"mode": config.mode, "db": config.db_path, "policy": policy.source,
                                          "otrs": bool(otrs)})
    return app
