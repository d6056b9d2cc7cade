"""CSV exports that spreadsheets open right and never run as formulas (the pages' and the sweep's downloads)."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response
from flask_babel import get_locale


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
