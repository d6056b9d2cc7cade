"""What the press and admin pages share: the service, formatting for the reader, 404s.

Times are stored in UTC and shown in Europe/Berlin, the association's time, in the reader's
language: 07.12.2026 09:00 in German (never ISO), 7 Dec 2026, 09:00 in English. CSV exports use the
same words and times (csv_export.py guards them against spreadsheet formulas).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Response, abort, current_app, g, make_response, render_template, request, url_for
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _

from ..service import Service
from ..store import Store, parse_iso
from ..store.rows import MailingStats, VerdictDetail
from . import auth, params


def service() -> Service:
    return current_app.extensions["bouncer"]


def store() -> Store:
    return service().store


def user_name() -> str:
    user = auth.current_user()
    assert user is not None  # the blueprint's before_request let only logged-in users through
    return user.name


def _locale_tz() -> tuple[Any, Any]:
    """Locale and time zone, looked up once per request: Babel's formatters called through
    Flask-Babel cost four times as much, and a page formats a few hundred numbers and times."""
    if "bouncer_locale_tz" not in g:
        g.bouncer_locale_tz = (get_locale(), get_timezone())
    return g.bouncer_locale_tz


# Dates as the reader writes them: 07.12.2026 09:00 in German (never ISO), 7 Dec 2026, 09:00 in English.
DATETIME_PATTERNS = {"de": "dd.MM.yyyy HH:mm", "en": "d MMM yyyy, HH:mm"}
DATE_PATTERNS = {"de": "dd.MM.yyyy", "en": "d MMM yyyy"}


def when(value: str | None) -> str:
    """A stored UTC time ('2026-11-28T03:14:00Z') as local date and time (Berlin): '28.11.2026 04:14'."""
    if not value:
        return "–"
    locale, tz = _locale_tz()
    return babel_dates.format_datetime(parse_iso(value), DATETIME_PATTERNS.get(locale.language, "short"), tzinfo=tz,
                                       locale=locale)


def day(value: str | date | None) -> str:
    """A calendar day ('2026-12-14', e.g. an out-of-office's return date) as '14.12.2026'."""
    if not value:
        return "–"
    locale = _locale_tz()[0]
    moment = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return babel_dates.format_date(moment, DATE_PATTERNS.get(locale.language, "medium"), locale=locale)


def number(value: float | int | None) -> str:
    return babel_numbers.format_decimal(value or 0, locale=_locale_tz()[0])


def percent(value: float | None) -> str:
    return "–" if value is None else babel_numbers.format_percent(value, "#,##0.0 %", locale=_locale_tz()[0])


def otrs_ticket_url(ticket_id: int | None) -> str | None:
    """The ticket in Znuny's agent interface, or None when BOUNCER_OTRS_URL is not set."""
    base = service().config.otrs_url
    if not base or not ticket_id:
        return None
    return f"{base.rstrip('/')}/index.pl?Action=AgentTicketZoom;TicketID={int(ticket_id)}"


def template_helpers() -> dict[str, Any]:
    return {"current_user": auth.current_user(), "locale": str(get_locale() or "de")}


def page_url(number: int) -> str:
    """This page with the same filters, page `number`."""
    return url_for(str(request.endpoint), **{**(request.view_args or {}), **request.args.to_dict(), "page": number})


def not_found(message: str) -> Response:
    return make_response(render_template("error.html", code=404, message=message), 404)


def verdict_or_404(verdict_id: int) -> VerdictDetail:
    """The decision with its actions, or the request ends with the 404 page."""
    item = store().get_verdict(verdict_id)
    if item is None:
        abort(not_found(_("There is no such decision.")))
    return item


def mailing_stats_or_404(mailing_id: int) -> MailingStats:
    """A mailing's counts and timeline in the bucket the URL asks for, or the request ends with the 404 page."""
    stats = store().mailing_stats(mailing_id, bucket=params.bucket())
    if stats is None:
        abort(not_found(_("There is no such mailing.")))
    return stats


def csv_time(value: str | None) -> str:
    """A stored UTC time as local date and time for a CSV cell, as the pages show it ('07.12.2026 09:00')."""
    return when(value) if value else ""
