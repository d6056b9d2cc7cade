"""The pages for people: mailings and dead addresses (press), review queue and rules (admin).

`init_app(app)` is the one call create_app makes: it sets up German/English (chosen by the
browser's Accept-Language, German when it names neither), the security layer, the logins,
these blueprints and the JSON API. Times are stored in UTC and shown in Europe/Berlin, the
association's time; date filters are local days, `until` inclusive.

Everything from a mail (subjects, senders, snippets, evidence, even mailing subjects, which
come from returned mails) reaches the templates as plain data and is escaped by Jinja.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import Babel, get_locale, to_utc
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, Field, IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from ..mail import plausible_year
from ..store import MailingExists
from ..vocab import COUNTED_KINDS
from ..vocab import kind as kind_of
from . import admin, auth, common, mailing_edit, params, security, users
from .charts import HOURS_PLOTTED, continuous, timeline_svg
from .common import csv_time, mailing_stats_or_404, not_found, store
from .csv_export import csv_address, csv_response, csv_status
from .evidence import evidence_text
from .labels import label, plan_why, review_note

TIMEZONE = "Europe/Berlin"
LANGUAGES = ("de", "en")
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"
PAGE_SIZE = 50
DEAD_PAGE_SIZE = 100
FAILED_PAGE_SIZE = 100
PEOPLE_SHOWN = 25  # the latest per list on a mailing's page: who wrote, who is away, who read it
_FOLDER = str(Path(__file__).resolve().parents[1])

# Templates and CSS, open to everyone (the login page needs its style too).
assets = Blueprint("assets", __name__, template_folder=f"{_FOLDER}/templates", static_folder=f"{_FOLDER}/static",
                   static_url_path="/assets")
press = Blueprint("press", __name__)
press.before_request(auth.require_role("press"))


def select_locale() -> str:
    return request.accept_languages.best_match(LANGUAGES) or "de"


# --- press: mailings -------------------------------------------------------------------------

def plausible_send_time(_form: FlaskForm, field: Field) -> None:
    if field.data is not None and not plausible_year(field.data):
        raise ValidationError(_("Please enter a year from 1970 to 2999."))


class MailingForm(FlaskForm):
    """A mailing announced by hand, so replies are counted under its own name and recipient count."""

    subject = StringField(_l("Subject"), validators=[DataRequired(message=_l("Please enter the subject.")),
                                                     Length(max=500)])
    sent_at = DateTimeLocalField(_l("Sent at"), format="%Y-%m-%dT%H:%M",
                                 validators=[DataRequired(message=_l("Please enter date and time of sending.")),
                                             plausible_send_time])
    message_id = StringField(_l("Message-ID (optional, but without it no bounce counts)"),
                             validators=[Optional(), Length(max=998)])
    recipient_count = IntegerField(_l("Recipients (optional)"), validators=[
        Optional(), NumberRange(min=0, message=_l("Must be 0 or more."))])
    recipients = mailing_edit.RecipientListField(
        _l("All recipient addresses (optional, one per line): then only their bounces count"),
        validators=[Optional(), Length(max=mailing_edit.MAX_RECIPIENTS_TEXT)])


@press.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("press.mailings"))


@press.route("/mailings", methods=["GET", "POST"])
def mailings() -> ResponseReturnValue:
    form = MailingForm()
    if form.validate_on_submit():
        assert form.sent_at.data is not None and form.subject.data is not None
        try:
            mailing_id = store().register_mailing(form.subject.data, to_utc(form.sent_at.data),
                                                   form.message_id.data or None, form.recipient_count.data,
                                                   origin="manual",
                                                   recipients=form.recipients.addresses)
        except MailingExists as exists:
            form.message_id.errors = [mailing_edit.message_id_taken(exists)]
        else:
            flash(_("Mailing registered."), "info")
            if form.recipients.data:
                mailing_edit.warn_if_list_incomplete(mailing_id)
            return redirect(url_for("press.mailing", mailing_id=mailing_id))
    q = request.args.get("q", "").strip()
    page = params.page()
    rows = store().list_mailings(limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE, q=q or None)
    return render_template("mailings.html", mailings=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE,
                           page=page, q=q, form=form, unlinked=store().no_mailing_stats(limit=0)["counts"]), \
        409 if form.message_id.errors and form.message_id.data else 400 if form.errors else 200


@press.get("/mailings/none")
def no_mailing() -> ResponseReturnValue:
    """Machine mail about no mailing of ours: counted on its own, so no bounce goes missing."""
    page = params.page()
    stats = store().no_mailing_stats(limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return render_template("no_mailing.html", counts=stats["counts"], rows=stats["latest"][:PAGE_SIZE], page=page,
                           has_next=len(stats["latest"]) > PAGE_SIZE)


@press.get("/mailings/<int:mailing_id>")
def mailing(mailing_id: int) -> ResponseReturnValue:
    stats = mailing_stats_or_404(mailing_id)
    page = params.page()
    failed = store().failed_addresses(mailing_id, limit=FAILED_PAGE_SIZE, offset=(page - 1) * FAILED_PAGE_SIZE)
    total_failed = failed[0]["total"] if failed else 0
    total_verified = failed[0]["total_verified"] if failed else 0  # the bounce rate counts verified addresses
    recipients = stats["mailing"].get("recipient_count")
    opt_outs = store().opt_outs(mailing_id, limit=FAILED_PAGE_SIZE)
    return render_template("mailing.html", stats=stats, mailing=stats["mailing"], counts=stats["counts"],
                           message_id_form=mailing_edit.MessageIdForm(formdata=None),
                           recipients_form=mailing_edit.RecipientsForm(formdata=None),
                           failed=failed, total_failed=total_failed, page=page, opt_outs=opt_outs,
                           total_opt_outs=opt_outs[0]["total"] if opt_outs else 0,
                           has_next=page * FAILED_PAGE_SIZE < total_failed, people=store().mailing_people(
                               mailing_id, limit=PEOPLE_SHOWN),
                           total_verified=total_verified, recipients_known=store().recipients_known(mailing_id),
                           bounce_rate=total_verified / recipients if recipients else None)


@press.get("/mailings/<int:mailing_id>/timeline.svg")
def timeline(mailing_id: int) -> ResponseReturnValue:
    stats = mailing_stats_or_404(mailing_id)
    if stats["bucket"] == "day":
        title = _("Reactions per day")
    elif len(continuous(stats["timeline"], "hour")) > HOURS_PLOTTED:
        title = _("Reactions per hour (first %(n)s hours)", n=HOURS_PLOTTED)
    else:
        title = _("Reactions per hour")
    svg = timeline_svg(stats["timeline"], stats["bucket"], title, small=request.args.get("size") == "small")
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = security.SVG_CSP
    return response


@press.get("/mailings/<int:mailing_id>/failed.csv")
def failed_csv(mailing_id: int) -> ResponseReturnValue:
    if store().get_mailing(mailing_id) is None:
        return not_found(_("There is no such mailing."))
    rows = store().failed_addresses(mailing_id)
    header = [_("Address"), _("Domain"), _("Last bounce"), _("Type"), _("Status"), _("Reason"), _("Bounces"),
              _("Address is"), _("Bounce check")]
    return csv_response(f"mailing-{mailing_id}-failed.csv", header, (
        (csv_address(r["address"]), r["domain"], csv_time(r["at"]), label("kind", r["bounce_type"] or "soft"),
         csv_status(r["status"]), label("reason", r["reason"]), r["bounces"], address_state(r),
         label("check", r["check"])) for r in rows))


@press.get("/opt-outs.csv")
def opt_outs_csv() -> ResponseReturnValue:
    """Addresses to take off the distribution list (opt-out requests), of one mailing (?mailing=) or all."""
    mailing_id = params.int_arg("mailing")
    if mailing_id is not None and store().get_mailing(mailing_id) is None:
        return not_found(_("There is no such mailing."))
    rows = store().opt_outs(mailing_id)
    header = [_("Address"), _("Last request"), _("Requests"), _("Mailing")]
    name = (f"mailing-{mailing_id}-opt-outs.csv" if mailing_id is not None
            else f"opt-outs-{date.today().isoformat()}.csv")
    return csv_response(name, header, ((csv_address(r["address"]), csv_time(r["at"]), r["requests"],
                                        r["mailing_subject"] or "") for r in rows))


def address_state(row: Mapping[str, Any]) -> str:
    """dead, alive again (wrote to us as a person since), or not dead yet."""
    if row["dead"]:
        return _("dead")
    return _("alive again") if row.get("alive_since") else _("not dead yet")


# --- press: one address --------------------------------------------------------------------

@press.get("/addresses")
def addresses() -> ResponseReturnValue:
    """Search an address: its history (every bounce, reply and receipt, when it died or came back), or,
    for a part of one, the addresses we know that contain it."""
    q = request.args.get("q", "").strip()[:320]
    history = store().address_history(q) if "@" in q else None
    if history is not None and (history["row"] or history["events"]):
        return render_template("addresses.html", q=q, history=history, found=[])
    return render_template("addresses.html", q=q, history=None, found=store().find_addresses(q) if len(q) >= 3 else [])


# --- press: dead addresses -------------------------------------------------------------------

@press.get("/dead")
def dead() -> ResponseReturnValue:
    filters = params.dead_filters()
    page = params.page()
    rows = store().dead_addresses(**filters, limit=DEAD_PAGE_SIZE + 1, offset=(page - 1) * DEAD_PAGE_SIZE)
    mailing_id = filters["mailing_id"]
    return render_template(
        "dead.html", addresses=rows[:DEAD_PAGE_SIZE], has_next=len(rows) > DEAD_PAGE_SIZE, page=page,
        total=store().count_dead_addresses(**filters),
        revived=store().revived_addresses(mailing_id=mailing_id, since=filters["since"], until=filters["until"],
                                           limit=DEAD_PAGE_SIZE),
        mailing=store().get_mailing(mailing_id) if mailing_id else None, choices=mailing_choices(mailing_id),
        soft_threshold=store().soft_threshold, soft_window_days=store().soft_window.days,
        args={k: request.args.get(k, "") for k in ("mailing", "since", "until")},
        csv_args={k: v for k in ("mailing", "since", "until") if (v := request.args.get(k))})


MAILING_CHOICES = 200


def mailing_choices(selected: int | None) -> list[Mapping[str, Any]]:
    """The latest mailings (and the selected one) for a picker by subject and date, newest first."""
    rows: list[Mapping[str, Any]] = list(store().list_mailings(limit=MAILING_CHOICES))
    if selected and all(m["id"] != selected for m in rows) and (chosen := store().get_mailing(selected)):
        rows.insert(0, chosen)
    return rows


@press.get("/dead.csv")
def dead_csv() -> ResponseReturnValue:
    rows = store().dead_addresses(**params.dead_filters())
    header = [_("Address"), _("Domain"), _("Dead since"), _("Last bounce"), _("Type"), _("Status"), _("Reason"),
              _("Hard bounces"), _("Soft bounces")]
    return csv_response(f"dead-addresses-{date.today().isoformat()}.csv", header, (
        (csv_address(r["address"]), r["domain"], csv_time(r["dead_since"]), csv_time(r["last_seen"]),
         label("kind", r["last_bounce_type"] or "soft"), csv_status(r["last_status"]),
         label("reason", r["last_reason"]), r["hard_count"], r["soft_count"]) for r in rows))


def bad_parameter(error: params.BadParameter) -> ResponseReturnValue:
    """400 with the reason on a page with a way back (the API answers JSON: its own handler)."""
    return render_template("error.html", code=400, message=error.reason(), back=request.path), 400


def template_helpers() -> dict[str, Any]:
    return {"current_user": auth.current_user(), "locale": str(get_locale() or "de")}


def init_app(app: Flask) -> None:
    """Templates, translations and the press and admin pages (bouncer.web.init_app wires the rest)."""
    app.jinja_env.globals.update(label=label, review_note=review_note, plan_why=plan_why, address_state=address_state,
                                 evidence_text=evidence_text, STAT_KINDS=COUNTED_KINDS, kind_of=kind_of,
                                 otrs_ticket_url=common.otrs_ticket_url,
                                 page_url=common.page_url)
    app.jinja_env.filters.update(when=common.when, day=common.day, number=common.number, percent=common.percent)
    app.context_processor(template_helpers)
    app.register_error_handler(params.BadParameter, bad_parameter)
    Babel(app, locale_selector=select_locale, default_locale="de", default_timezone=TIMEZONE,
          default_translation_directories=str(TRANSLATIONS))
    for blueprint in (assets, press, mailing_edit.bp, admin.admin, users.bp):
        app.register_blueprint(blueprint)
