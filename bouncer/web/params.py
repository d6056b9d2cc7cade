"""Query-string parameters of the pages and the API: read leniently, a bad value counts as not given.

Date filters are local days (Europe/Berlin unless the app says otherwise): `since` is the
first day included and `until` the last, turned into the UTC bounds the store takes.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import request
from flask_babel import to_utc


def page() -> int:
    value = request.args.get("page", "1")
    return max(1, int(value)) if value.isdigit() else 1


def int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if value.isdigit() else None


def choice_arg(name: str, allowed: Sequence[str]) -> str | None:
    value = request.args.get(name, "")
    return value if value in allowed else None


def fraction_arg(name: str) -> float | None:
    """A confidence from 0 to 1; a German decimal comma is fine."""
    try:
        value = float(request.args.get(name, "").replace(",", "."))
    except ValueError:
        return None
    return value if 0 <= value <= 1 else None


def day_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


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
