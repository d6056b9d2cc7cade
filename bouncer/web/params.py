"""Query-string parameters of the pages and the API: an empty value counts as not given, a value that
is there but unreadable raises BadParameter, answered 400 with the reason (JSON for the API, a page
for people), never by the unfiltered list.

Date filters are local days (Europe/Berlin unless the app says otherwise), written YYYY-MM-DD as
date fields send them: `since` is the first day included and `until` the last, turned into the UTC
bounds the store takes.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l
from flask_babel import to_utc
from flask_babel.speaklater import LazyString
from werkzeug.routing import IntegerConverter, Map

_EXPECTED: dict[str, LazyString] = {
    "day": _l("a date as YYYY-MM-DD, e.g. 2026-12-07"),
    "number": _l("a whole number from 0"),
    "fraction": _l("a number from 0 to 1"),
    "page": _l("a page number from 1"),
}


class BadParameter(ValueError):
    """A query parameter that is present but unreadable: its name, its value and what it must be."""

    def __init__(self, name: str, value: str, expected: str | Sequence[str]) -> None:
        self.name, self.value, self.expected = name, value, expected
        super().__init__(self.reason(localized=False))

    def reason(self, localized: bool = True) -> str:
        """'since=30.11.2026: expected a date as YYYY-MM-DD, e.g. 2026-12-07' (in the reader's language)."""
        if isinstance(self.expected, str):
            wanted = str(_EXPECTED[self.expected]) if localized else {
                "day": "a date as YYYY-MM-DD, e.g. 2026-12-07", "number": "a whole number from 0",
                "fraction": "a number from 0 to 1", "page": "a page number from 1"}[self.expected]
        else:
            wanted = (str(_l("one of")) if localized else "one of") + " " + ", ".join(self.expected)
        given = f"{self.name}={self.value[:40]}"
        return str(_l("%(given)s: expected %(wanted)s", given=given, wanted=wanted)) if localized \
            else f"{given}: expected {wanted}"


def _given(name: str) -> str | None:
    value = request.args.get(name, "").strip()
    return value or None


MAX_ID = 2**63 - 1  # SQLite's INTEGER: a larger number overflowed the query (500)
MAX_PAGE = 1_000_000
# Dates outside these years are no filter anyone means; year 1 and 9999 overflowed the UTC conversion.
YEARS = (1900, 2999)


def _number(value: str) -> int | None:
    """ASCII digits as a number up to MAX_ID; None otherwise ("²" passes isdigit() but not int())."""
    if value.isascii() and value.isdigit() and len(value) <= 19 and int(value) <= MAX_ID:
        return int(value)
    return None


def page() -> int:
    """The page number from 1 (BadParameter for another value, like a filter's), at most MAX_PAGE."""
    value = _given("page")
    if value is None:
        return 1
    digits = value.lstrip("0")
    if not (value.isascii() and value.isdigit()) or not digits:
        raise BadParameter("page", value, "page")
    return MAX_PAGE if len(digits) > 7 else min(MAX_PAGE, int(digits))  # a page past the last is empty


def int_arg(name: str) -> int | None:
    value = _given(name)
    if value is None:
        return None
    number = _number(value)
    if number is None:
        raise BadParameter(name, value, "number")
    return number


class IdConverter(IntegerConverter):
    """`<int:...>` in routes: ids up to MAX_ID; a larger one matches no route (404), as an unknown id."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def choice_arg(name: str, allowed: Sequence[str]) -> str | None:
    value = _given(name)
    if value is not None and value not in allowed:
        raise BadParameter(name, value, allowed)
    return value


def fraction_arg(name: str) -> float | None:
    """A confidence from 0 to 1; a German decimal comma is fine."""
    value = _given(name)
    if value is None:
        return None
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        number = -1.0
    if not 0 <= number <= 1:
        raise BadParameter(name, value, "fraction")
    return number


def day_arg(name: str) -> date | None:
    value = _given(name)
    if value is None:
        return None
    try:
        day = date.fromisoformat(value) if len(value) == 10 else _bad_day(name, value)
    except ValueError:
        return _bad_day(name, value)
    return day if YEARS[0] <= day.year <= YEARS[1] else _bad_day(name, value)


def _bad_day(name: str, value: str) -> date:
    raise BadParameter(name, value, "day")


def day_start(day: date | None, *, plus_days: int = 0) -> datetime | None:
    """Midnight of a local day, in UTC (naive, as the store takes it)."""
    return to_utc(datetime.combine(day + timedelta(days=plus_days), time.min)) if day else None


def date_filters() -> dict[str, Any]:
    """`since`/`until` for the store from ?since=YYYY-MM-DD&until=YYYY-MM-DD (`until` included)."""
    return {"since": day_start(day_arg("since")), "until": day_start(day_arg("until"), plus_days=1)}


def bucket() -> str | None:
    """?bucket=hour|day for a mailing's timeline; None lets the store choose by the mailing's span."""
    return choice_arg("bucket", ("hour", "day"))


def dead_filters() -> dict[str, Any]:
    """The dead-address filters for the store: ?mailing=, ?since=, ?until= (pages, CSV and API alike)."""
    return {"mailing_id": int_arg("mailing"), **date_filters()}
