"""JSON on the webhook's path: orjson, several times faster than the standard json on Znuny's
10-15 KB bodies and on the rows, answers and log lines each event writes. Whatever orjson
refuses (NaN, lone surrogates; integers beyond 64 bits when writing) the standard json
decides, so no input json accepts is refused and no output json can write fails. One
difference stays: orjson reads an integer beyond 64 bits as a float, which no id check takes
(the standard json's exact integer would overflow SQLite instead)."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson


def loads(raw: bytes | str) -> Any:
    """Parse JSON text (28 instead of 95 µs for a 12 KB invoker body)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def dumps(value: Any, *, sort_keys: bool = False, default: Callable[[Any], Any] | None = None) -> str:
    """Compact UTF-8 JSON text (no ASCII escapes); `default` converts what JSON has no type for."""
    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_SORT_KEYS if sort_keys else 0).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, ensure_ascii=False, sort_keys=sort_keys, default=default, separators=(",", ":"))
