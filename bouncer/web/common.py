"""What the press and admin pages share: the service, formatting for the reader, 404s and CSV.

Times are stored in UTC and shown in Europe/Berlin, the association's time, in the reader's
language: 07.12.2026 09:00 in German (never ISO), 7 Dec 2026, 09:00 in English. CSV exports use the
same words and times; see `csv_response` for how they guard against spreadsheet formulas.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
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


class _Verbatim(str):
    """A CSV cell already made safe and exact for spreadsheets (see `excel_text`): written as it is."""


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STATUS_CODE = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")  # RFC 3463 enhanced status code


def excel_text(value: str) -> str:
    """A cell Excel and LibreOffice show as exactly this text: ="5.1.1" (a formula of one string constant,
    quotes doubled, so nothing inside it is ever evaluated), where the bare value would become a date
    (German Excel reads 5.1.1 as 05.01.2001) or a formula."""
    return _Verbatim('="' + value.replace('"', '""') + '"')


def csv_address(value: str | None) -> str:
    """An address exactly as stored: bare, or (starting with = + - @, valid in a local part) as text."""
    text = value or ""
    return excel_text(text) if text[:1] in _FORMULA_START else _Verbatim(text)


def csv_status(value: str | None) -> str:
    """An enhanced status code kept as text ('5.1.1', not a date); anything else as a plain cell."""
    return excel_text(value) if value and _STATUS_CODE.match(value) else (value or "")


def csv_time(value: str | None) -> str:
    """A stored UTC time as local date and time, as the pages show it ('07.12.2026 09:00')."""
    return when(value) if value else ""


def _csv_cell(value: Any) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: free text from mail gets a leading
    apostrophe (the cell then shows it); addresses and status codes come as `excel_text` instead."""
    if isinstance(value, _Verbatim):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in _FORMULA_START else text


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """CSV that German Excel opens right: BOM for UTF-8 and ';' between cells (',' in English)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, delimiter=";" if str(get_locale()) == "de" else ",", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_csv_cell(cell) for cell in row] for row in rows)
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
