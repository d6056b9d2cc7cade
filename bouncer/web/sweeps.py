"""Admin page for the backlog sweep and the catch-up: the last runs, a dry-run sweep started from the
browser, and its per-ticket report as CSV.

A sweep started here is always a dry run (acting on hundreds of tickets stays a deliberate
command: `flask --app app sweep --apply`); it runs in a thread of this worker, one at a time,
and keeps its report in the runs table, so any worker can serve the download.
"""
from __future__ import annotations

import csv
import io
import logging
import threading
from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional

from ..service import Service
from ..store import parse_iso
from ..sweep import SweepOptions, run_sweep
from . import auth
from .csv_export import csv_response

log = logging.getLogger("bouncer.web.sweeps")
RUNS_SHOWN = 20
# A sweep still "running" this long after its start is taken to have died with its process.
RUNNING_AT_MOST = timedelta(hours=2)

bp = Blueprint("sweeps", __name__, url_prefix="/admin/sweeps")
bp.before_request(auth.require_role("admin"))
_running = threading.Lock()  # one browser-started sweep per worker at a time


class DryRunForm(FlaskForm):
    queues = StringField(_l("Queues (comma-separated; empty: all)"), validators=[Optional(), Length(max=500)])
    limit = IntegerField(_l("At most this many tickets (optional)"),
                         validators=[Optional(), NumberRange(min=1, max=1_000_000)])


def _service() -> Service:
    return current_app.extensions["bouncer"]


@bp.route("", methods=["GET", "POST"])
def overview() -> ResponseReturnValue:
    service = _service()
    form = DryRunForm()
    if form.validate_on_submit():
        if service.otrs is None:
            flash(_("A sweep needs the OTRS connection (BOUNCER_OTRS_URL, _USER, _PASSWORD)."), "error")
        elif _another_running(service) or not _running.acquire(blocking=False):
            flash(_("A dry-run sweep is already running."), "error")
        else:
            queues = tuple(q.strip() for q in (form.queues.data or "").split(",") if q.strip())
            options = SweepOptions(queues=queues, limit=form.limit.data or None, apply=False)
            threading.Thread(target=_dry_run, args=(service, options, auth.current_user().name),  # type: ignore[union-attr]
                             name="bouncer-sweep", daemon=True).start()
            flash(_("Dry-run sweep started. Reload this page to see it finish."), "info")
        return redirect(url_for("sweeps.overview"))
    store, config = service.store, service.config
    return render_template("sweeps.html", form=form, last_sweep=store.last_run("sweep"),
                           last_catchup=store.last_run("catchup"), runs=store.runs(limit=RUNS_SHOWN),
                           catchup_on=config.catchup_enabled, catchup_minutes=config.catchup_minutes,
                           connected=service.otrs is not None), 400 if form.errors else 200


def _another_running(service: Service) -> bool:
    """A sweep running in any process (another worker, the command line), unless it is long dead."""
    last = service.store.last_run("sweep")
    return bool(last and last["status"] == "running"
                and service.store.clock() - parse_iso(last["started_at"]) < RUNNING_AT_MOST)


def _dry_run(service: Service, options: SweepOptions, user: str) -> None:
    try:
        run_sweep(service, options, started_by=user)
    except Exception:  # recorded as a failed run by run_sweep; the thread just ends
        log.exception("dry-run sweep from the admin page failed")
    finally:
        _running.release()


@bp.get("/<int:run_id>.csv")
def report(run_id: int) -> ResponseReturnValue:
    """The run's per-ticket report, as the other CSV downloads (';' and a BOM for German Excel)."""

    text = _service().store.run_report(run_id)
    if text is None:
        return render_template("error.html", code=404, message=_("No report for this run.")), 404
    rows = list(csv.reader(io.StringIO(text)))
    return csv_response(f"sweep-{run_id}.csv", rows[0], rows[1:])
