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

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import Babel, get_locale, get_timezone, to_utc
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..otrs import OtrsError
from ..service import Service
from ..store import Store, parse_iso
from ..store.allowlist import allow_warning
from ..store.rows import MailingStats, VerdictDetail
from ..vocab import ACTION_STATES, ALLOW_KINDS, CATEGORIES, EVENT_SOURCES, KINDS, PLAN_ACTIONS, REVIEWS
from ..vocab import kind as kind_of
from . import auth, params, security, users
from .charts import HOURS_PLOTTED, continuous, timeline_svg
from .csv_export import csv_address, csv_response, csv_status
from .evidence import evidence_text
from .labels import label

TIMEZONE = "Europe/Berlin"
LANGUAGES = ("de", "en")
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"
PAGE_SIZE = 50
DEAD_PAGE_SIZE = 100
FAILED_PAGE_SIZE = 100
_FOLDER = str(Path(__file__).resolve().parents[1])

# Templates and CSS, open to everyone (the login page needs its style too).
assets = Blueprint("assets", __name__, template_folder=f"{_FOLDER}/templates", static_folder=f"{_FOLDER}/static",
                   static_url_path="/assets")
press = Blueprint("press", __name__)
admin = Blueprint("admin", __name__, url_prefix="/admin")
press.before_request(auth.require_role("press"))
admin.before_request(auth.require_role("admin"))


def _service() -> Service:
    return current_app.extensions["bouncer"]


def _store() -> Store:
    return _service().store


def select_locale() -> str:
    return request.accept_languages.best_match(LANGUAGES) or "de"


# --- helpers for the templates ---------------------------------------------------------------

def _locale_tz() -> tuple[Any, Any]:
    """Locale and time zone, looked up once per request: Babel's formatters called through
    Flask-Babel cost four times as much, and a page formats a few hundred numbers and times."""
    if "bouncer_locale_tz" not in g:
        g.bouncer_locale_tz = (get_locale(), get_timezone())
    return g.bouncer_locale_tz


# Dates as the reader writes them: 07.12.2026 09:00 in German (never ISO), 7 Dec 2026, 09:00 in English.
DATETIME_PATTERNS = {"de": "dd.MM.yyyy HH:mm", "en": "d MMM yyyy, HH:mm"}
DATE_PATTERNS = {"de": "dd.MM.yyyy", "en": "d MMM yyyy"}


@assets.app_template_filter("when")
def when(value: str | None) -> str:
    """A stored UTC time ('2026-11-28T03:14:00Z') as local date and time (Berlin): '28.11.2026 04:14'."""
    if not value:
        return "–"
    locale, tz = _locale_tz()
    return babel_dates.format_datetime(parse_iso(value), DATETIME_PATTERNS.get(locale.language, "short"), tzinfo=tz,
                                       locale=locale)


@assets.app_template_filter("day")
def day(value: str | date | None) -> str:
    """A calendar day ('2026-12-14', e.g. an out-of-office's return date) as '14.12.2026'."""
    if not value:
        return "–"
    locale = _locale_tz()[0]
    moment = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return babel_dates.format_date(moment, DATE_PATTERNS.get(locale.language, "medium"), locale=locale)


@assets.app_template_filter("number")
def number(value: float | int | None) -> str:
    return babel_numbers.format_decimal(value or 0, locale=_locale_tz()[0])


@assets.app_template_filter("percent")
def percent(value: float | None) -> str:
    return "–" if value is None else babel_numbers.format_percent(value, "#,##0.0 %", locale=_locale_tz()[0])


@assets.app_template_global()
def otrs_ticket_url(ticket_id: int | None) -> str | None:
    """The ticket in Znuny's agent interface, or None when BOUNCER_OTRS_URL is not set."""
    base = _service().config.otrs_url
    if not base or not ticket_id:
        return None
    return f"{base.rstrip('/')}/index.pl?Action=AgentTicketZoom;TicketID={int(ticket_id)}"


@assets.app_context_processor
def template_helpers() -> dict[str, Any]:
    return {"current_user": auth.current_user(), "locale": str(get_locale() or "de")}


@assets.app_template_global()
def page_url(number: int) -> str:
    """This page with the same filters, page `number`."""
    return url_for(str(request.endpoint), **{**(request.view_args or {}), **request.args.to_dict(), "page": number})


def _not_found(message: str) -> Response:
    return make_response(render_template("error.html", code=404, message=message), 404)


def _verdict_or_404(verdict_id: int) -> VerdictDetail:
    """The decision with its actions, or the request ends with the 404 page."""
    item = _store().get_verdict(verdict_id)
    if item is None:
        abort(_not_found(_("There is no such decision.")))
    return item


def _mailing_stats_or_404(mailing_id: int) -> MailingStats:
    """A mailing's counts and timeline in the bucket the URL asks for, or the request ends with the 404 page."""
    stats = _store().mailing_stats(mailing_id, bucket=params.bucket())
    if stats is None:
        abort(_not_found(_("There is no such mailing.")))
    return stats


def csv_time(value: str | None) -> str:
    """A stored UTC time as local date and time, as the pages show it ('07.12.2026 09:00')."""
    return when(value) if value else ""



# --- press: mailings -------------------------------------------------------------------------

class MailingForm(FlaskForm):
    """A mailing announced by hand, so replies are counted under its own name and recipient count."""

    subject = StringField(_l("Subject"), validators=[DataRequired(message=_l("Please enter the subject.")),
                                                     Length(max=500)])
    sent_at = DateTimeLocalField(_l("Sent at"), format="%Y-%m-%dT%H:%M",
                                 validators=[DataRequired(message=_l("Please enter date and time of sending."))])
    message_id = StringField(_l("Message-ID (optional)"), validators=[Optional(), Length(max=998)])
    recipient_count = IntegerField(_l("Recipients (optional)"), validators=[
        Optional(), NumberRange(min=0, message=_l("Must be 0 or more."))])


@press.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("press.mailings"))


@press.route("/mailings", methods=["GET", "POST"])
def mailings() -> ResponseReturnValue:
    form = MailingForm()
    if form.validate_on_submit():
        assert form.sent_at.data is not None and form.subject.data is not None
        mailing_id = _store().register_mailing(form.subject.data, to_utc(form.sent_at.data),
                                               form.message_id.data or None, form.recipient_count.data,
                                               origin="manual")
        flash(_("Mailing registered."), "info")
        return redirect(url_for("press.mailing", mailing_id=mailing_id))
    q = request.args.get("q", "").strip()
    page = params.page()
    rows = _store().list_mailings(limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE, q=q or None)
    return render_template("mailings.html", mailings=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE,
                           page=page, q=q, form=form), 400 if form.errors else 200


@press.get("/mailings/<int:mailing_id>")
def mailing(mailing_id: int) -> ResponseReturnValue:
    stats = _mailing_stats_or_404(mailing_id)
    page = params.page()
    failed = _store().failed_addresses(mailing_id, limit=FAILED_PAGE_SIZE, offset=(page - 1) * FAILED_PAGE_SIZE)
    total_failed = failed[0]["total"] if failed else 0
    recipients = stats["mailing"].get("recipient_count")
    bounced = stats["counts"]["hard"] + stats["counts"]["soft"]
    opt_outs = _store().opt_outs(mailing_id, limit=FAILED_PAGE_SIZE)
    return render_template("mailing.html", stats=stats, mailing=stats["mailing"], counts=stats["counts"],
                           failed=failed, total_failed=total_failed, page=page, opt_outs=opt_outs,
                           total_opt_outs=opt_outs[0]["total"] if opt_outs else 0,
                           has_next=page * FAILED_PAGE_SIZE < total_failed,
                           bounce_rate=bounced / recipients if recipients else None)


@press.get("/mailings/<int:mailing_id>/timeline.svg")
def timeline(mailing_id: int) -> ResponseReturnValue:
    stats = _mailing_stats_or_404(mailing_id)
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
    if _store().get_mailing(mailing_id) is None:
        return _not_found(_("There is no such mailing."))
    rows = _store().failed_addresses(mailing_id)
    header = [_("Address"), _("Domain"), _("Last bounce"), _("Type"), _("Status"), _("Reason"), _("Bounces"),
              _("Address is")]
    return csv_response(f"mailing-{mailing_id}-failed.csv", header, (
        (csv_address(r["address"]), r["domain"], csv_time(r["at"]), label("kind", r["bounce_type"] or "soft"),
         csv_status(r["status"]), label("reason", r["reason"]), r["bounces"], address_state(r)) for r in rows))


@press.get("/opt-outs.csv")
def opt_outs_csv() -> ResponseReturnValue:
    """Addresses to take off the distribution list (opt-out requests), of one mailing (?mailing=) or all."""
    mailing_id = params.int_arg("mailing")
    if mailing_id is not None and _store().get_mailing(mailing_id) is None:
        return _not_found(_("There is no such mailing."))
    rows = _store().opt_outs(mailing_id)
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


# --- press: dead addresses -------------------------------------------------------------------

@press.get("/dead")
def dead() -> ResponseReturnValue:
    filters = params.dead_filters()
    page = params.page()
    rows = _store().dead_addresses(**filters, limit=DEAD_PAGE_SIZE + 1, offset=(page - 1) * DEAD_PAGE_SIZE)
    mailing_id = filters["mailing_id"]
    return render_template(
        "dead.html", addresses=rows[:DEAD_PAGE_SIZE], has_next=len(rows) > DEAD_PAGE_SIZE, page=page,
        total=_store().count_dead_addresses(**filters),
        revived=_store().revived_addresses(mailing_id=mailing_id, limit=DEAD_PAGE_SIZE),
        mailing=_store().get_mailing(mailing_id) if mailing_id else None, choices=mailing_choices(mailing_id),
        soft_threshold=_store().soft_threshold, soft_window_days=_store().soft_window.days,
        args={k: request.args.get(k, "") for k in ("mailing", "since", "until")},
        csv_args={k: v for k in ("mailing", "since", "until") if (v := request.args.get(k))})


MAILING_CHOICES = 200


def mailing_choices(selected: int | None) -> list[Mapping[str, Any]]:
    """The latest mailings (and the selected one) for a picker by subject and date, newest first."""
    rows: list[Mapping[str, Any]] = list(_store().list_mailings(limit=MAILING_CHOICES))
    if selected and all(m["id"] != selected for m in rows) and (chosen := _store().get_mailing(selected)):
        rows.insert(0, chosen)
    return rows


@press.get("/dead.csv")
def dead_csv() -> ResponseReturnValue:
    rows = _store().dead_addresses(**params.dead_filters())
    header = [_("Address"), _("Domain"), _("Dead since"), _("Last bounce"), _("Type"), _("Status"), _("Reason"),
              _("Hard bounces"), _("Soft bounces")]
    return csv_response(f"dead-addresses-{date.today().isoformat()}.csv", header, (
        (csv_address(r["address"]), r["domain"], csv_time(r["dead_since"]), csv_time(r["last_seen"]),
         label("kind", r["last_bounce_type"] or "soft"), csv_status(r["last_status"]),
         label("reason", r["last_reason"]), r["hard_count"], r["soft_count"]) for r in rows))


# --- admin: review queue ---------------------------------------------------------------------

class FalsePositiveForm(FlaskForm):
    note = TextAreaField(_l("Why (goes into the internal note on the ticket)"), validators=[Optional(),
                                                                                           Length(max=1000)])
    allow = RadioField(_l("From now on"), default="none", choices=[
        SelectChoice("none", _l("no rule")), SelectChoice("sender", _l("never treat this sender as machine mail")),
        SelectChoice("domain", _l("never treat this domain as machine mail"))])


def _review_filters() -> dict[str, Any]:
    return {"category": params.choice_arg("category", CATEGORIES), "review": params.choice_arg("review", REVIEWS),
            "action": params.choice_arg("action", PLAN_ACTIONS),
            "action_state": params.choice_arg("state", ACTION_STATES),
            "min_conf": params.fraction_arg("min_conf"), "max_conf": params.fraction_arg("max_conf"),
            "mailing_id": params.int_arg("mailing"), "source": params.choice_arg("source", EVENT_SOURCES),
            **params.date_filters()}


@admin.get("/review")
def review() -> ResponseReturnValue:
    page = params.page()
    rows = _store().list_verdicts(**_review_filters(), limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return render_template(
        "review.html", verdicts=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE, page=page,
        args={k: request.args.get(k, "") for k in ("category", "review", "action", "state", "min_conf",
                                                     "max_conf", "since", "until", "mailing", "source")},
        categories=CATEGORIES, reviews=REVIEWS, actions=PLAN_ACTIONS, states=ACTION_STATES, sources=EVENT_SOURCES)


@admin.get("/review/<int:verdict_id>")
def verdict(verdict_id: int) -> ResponseReturnValue:
    item = _verdict_or_404(verdict_id)
    mailing_id = item["mailing_id"]
    mailing = _store().get_mailing(mailing_id) if mailing_id else None
    return render_template("verdict.html", v=item, mailing=mailing, form=FalsePositiveForm(),
                           can_download=_service().otrs is not None)


def _back(verdict_id: int) -> ResponseReturnValue:
    target = request.form.get("next")
    return redirect(auth.safe_next(target) if target else url_for("admin.verdict", verdict_id=verdict_id))


@admin.post("/review/<int:verdict_id>/confirm")
def confirm(verdict_id: int) -> ResponseReturnValue:
    _verdict_or_404(verdict_id)
    _store().set_review(verdict_id, "confirmed", _user_name())
    flash(_("Decision #%(id)s confirmed.", id=verdict_id), "info")
    return _back(verdict_id)


@admin.post("/review/<int:verdict_id>/undo")
def undo(verdict_id: int) -> ResponseReturnValue:
    """Take back a confirm or false positive (a slip of the mouse); a reopen already sent stays."""
    item = _verdict_or_404(verdict_id)
    _store().set_review(verdict_id, "pending", _user_name(), f"undid {item['review']}")
    if item["review"] == "false_positive":
        flash(_("Review of #%(id)s taken back. The ticket stays as it is now in OTRS.", id=verdict_id), "info")
    else:
        flash(_("Review of #%(id)s taken back.", id=verdict_id), "info")
    return _back(verdict_id)


@admin.post("/review/<int:verdict_id>/false-positive")
def false_positive(verdict_id: int) -> ResponseReturnValue:
    """Reopen the ticket as it was (Service.reopen) and, if asked, allow the sender or domain from now on."""
    item = _verdict_or_404(verdict_id)
    form = FalsePositiveForm()
    if not form.validate_on_submit():
        flash(_("Please check the form."), "error")
        return redirect(url_for("admin.verdict", verdict_id=verdict_id))
    if item["review"] == "false_positive":
        flash(_("Decision #%(id)s is already marked as a false positive.", id=verdict_id), "error")
        return redirect(url_for("admin.verdict", verdict_id=verdict_id))
    user, note = _user_name(), (form.note.data or "").strip()
    if _service().reopen(verdict_id, user, note) == "pending":
        flash(_("Marked as a false positive; the ticket is being reopened in OTRS."), "info")
    else:
        flash(_("Marked as a false positive. Nothing had been changed on the ticket, so nothing is reopened."),
              "info")
    if form.allow.data in ALLOW_KINDS:
        value = item["from_addr"] if form.allow.data == "sender" else item["from_domain"]
        try:
            _store().add_allow(form.allow.data, value or "", note=f"false positive #{verdict_id}" +
                               (f": {note}" if note else ""), by=user)
            flash(_("Rule added: %(kind)s %(value)s is never machine mail.",
                    kind=label("allow", form.allow.data), value=value), "info")
        except ValueError:
            flash(_("No rule added: %(value)s is not a valid address or domain.", value=value or "–"), "error")
    return redirect(url_for("admin.verdict", verdict_id=verdict_id))


@admin.get("/review/<int:verdict_id>/mail.eml")
def mail_eml(verdict_id: int) -> ResponseReturnValue:
    """The raw mail from OTRS (AgentTicketPlain), to become a test fixture."""
    item = _verdict_or_404(verdict_id)
    otrs = _service().otrs
    if otrs is None:
        return _not_found(_("The mail can only be downloaded when OTRS credentials are configured."))
    try:
        raw = otrs.article_plain(item["ticket_id"], item["article_id"])
    except OtrsError as exc:
        flash(_("OTRS did not hand out the mail: %(error)s", error=exc.code), "error")
        return redirect(url_for("admin.verdict", verdict_id=verdict_id))
    name = f"ticket-{item['ticket_id']}-article-{item['article_id']}.eml"
    return Response(raw, mimetype="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Security-Policy": "sandbox; default-src 'none'"})


# --- admin: rules ----------------------------------------------------------------------------

class AllowForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[SelectChoice("sender", _l("Sender")), SelectChoice("domain", _l("Domain"))])
    value = StringField(_l("Address or domain"), validators=[DataRequired(message=_l("Please enter a value.")),
                                                              Length(max=320)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


@admin.route("/rules", methods=["GET", "POST"])
def rules() -> ResponseReturnValue:
    form = AllowForm()
    status = 200
    if form.validate_on_submit():
        try:
            _store().add_allow(form.kind.data, form.value.data or "", note=form.note.data or None, by=_user_name())
            flash(_("Rule added: %(kind)s %(value)s is never machine mail.", kind=label("allow", form.kind.data),
                    value=form.value.data), "info")
            if allow_warning(form.kind.data, form.value.data or ""):
                flash(_("%(value)s is a large mail provider: the rule covers every one of its users, so none of "
                        "their auto-replies will be closed. A rule for the one sender is usually better.",
                        value=form.value.data), "error")
            return redirect(url_for("admin.rules"))
        except ValueError:
            form.value.errors = [_("Not a valid address or domain.")]
    if form.errors:
        status = 400
    policy = _service().policy
    return render_template("rules.html", policy=policy, rules=policy.describe(), allowlist=_store().allowlist(),
                           form=form, mode=_service().config.mode), status


@admin.post("/rules/allow/<int:allow_id>/delete")
def remove_allow(allow_id: int) -> ResponseReturnValue:
    if _store().remove_allow(allow_id):
        flash(_("Rule removed."), "info")
    return redirect(url_for("admin.rules"))


# --- admin: status ------------------------------------------------------------------------

@admin.get("/status")
def status() -> ResponseReturnValue:
    """Is it working? Mode, webhook secured, last event, outbox backlog, and the background jobs' last runs."""
    service = _service()
    stats = _store().stats()
    due = _store().due_actions(limit=1)
    return render_template("status.html", config=service.config, stats=stats, oldest_due=due[0] if due else None,
                           backlog=stats["outbox"]["pending"] + stats["outbox"]["running"],
                           jobs=stats.get("jobs") or {})


def _user_name() -> str:
    user = auth.current_user()
    assert user is not None  # the blueprint's before_request let only logged-in users through
    return user.name


def bad_parameter(error: params.BadParameter) -> ResponseReturnValue:
    """400 with the reason on a page with a way back (the API answers JSON: its own handler)."""
    return render_template("error.html", code=400, message=error.reason(), back=request.path), 400


def init_app(app: Flask) -> None:
    """Templates, translations and the press and admin pages (bouncer.web.init_app wires the rest)."""
    app.jinja_env.globals.update(label=label, address_state=address_state, evidence_text=evidence_text,
                                 STAT_KINDS=KINDS, kind_of=kind_of)
    app.register_error_handler(params.BadParameter, bad_parameter)
    Babel(app, locale_selector=select_locale, default_locale="de", default_timezone=TIMEZONE,
          default_translation_directories=str(TRANSLATIONS))
    for blueprint in (assets, press, admin, users.bp):
        app.register_blueprint(blueprint)

