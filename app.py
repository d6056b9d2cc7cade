"""otrs-bouncer's Flask application: `create_app(config)` is the composition root.

`create_app` only builds: store, classifier policy, OTRS client, service, webhook and pages. It
starts nothing and recovers nothing, so a command such as `flask --app app user add NAME` can load
the app without draining the outbox. The background work of a serving process (crash recovery,
retention purge, outbox, WAL checkpoints, catch-up) is started by `start_background(app)`, which gunicorn
calls for each worker (`post_worker_init` in gunicorn.conf.py). No global state: everything
hangs off the app instance, built from `Config`.
"""
from __future__ import annotations

import logging

from flask import Flask

from bouncer import logs, web
from bouncer.catchup import CatchUp
from bouncer.config import Config
from bouncer.otrs import OtrsClient
from bouncer.outbox import OutboxWorker
from bouncer.policy import Policy
from bouncer.service import Service
from bouncer.spool import Spool, spool_directory
from bouncer.store import Store, utcnow
from bouncer.sweep_cli import sweep_command

log = logging.getLogger("bouncer.app")


def create_app(config: Config | None = None) -> Flask:
    """Build the app from `config`, or from BOUNCER_* environment variables when None.

    The policy file is validated here, so a mistake stops the start with a clear message. The
    outbox worker and the catch-up are built (`app.extensions["bouncer_worker"]` and
    `["bouncer_catchup"]`; tests drive their `run_once`) but not started: see `start_background`.
    """
    config = config or Config.from_env()
    logs.setup(config.log_json)
    policy = Policy.load(config.policy_path)
    store = Store(config.db_path, soft_threshold=policy.dead_soft_bounces, soft_window_days=policy.dead_window_days,
                  count_unverified=policy.dead_count == "all")
    otrs = OtrsClient.from_config(config) if config.otrs_url and config.otrs_user and config.otrs_password else None
    service = Service(config, store, policy, otrs, Spool(spool_directory(config.db_path), utcnow))

    app = Flask(__name__)
    app.config.update(BOUNCER=config, MAX_CONTENT_LENGTH=config.max_body_bytes)
    web.init_app(app, service)
    app.extensions["bouncer_worker"] = OutboxWorker(service)
    app.extensions["bouncer_catchup"] = CatchUp(service)
    app.cli.add_command(sweep_command)
    return app


def start_background(app: Flask) -> None:
    """What a serving process runs besides requests: WAL checkpoints off the request path, and the
    worker thread that finishes events a crash interrupted, purges what retention says and drains
    the outbox. Stopped by `stop_background` (gunicorn's worker_exit)."""
    service: Service = app.extensions["bouncer"]
    service.store.start_checkpointer()
    app.extensions["bouncer_worker"].start()
    if service.config.catchup_enabled:  # articles missed while we were down (bouncer/catchup.py)
        app.extensions["bouncer_catchup"].start()
    log.info("otrs-bouncer ready", extra={"mode": service.config.mode, "db": service.config.db_path,
                                          "policy": service.policy.source, "otrs": service.otrs is not None,
                                          "catchup": service.config.catchup_enabled})


def stop_background(app: Flask) -> None:
    """Let the outbox thread finish its round, so no action is left claimed until its lease ends."""
    app.extensions["bouncer_catchup"].stop()
    app.extensions["bouncer_worker"].stop()
