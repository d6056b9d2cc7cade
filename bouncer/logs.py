"""Structured JSON logs: one object per line, with ticket/article ids as fields, never mail content."""
from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

from . import fastjson

_STANDARD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return fastjson.dumps(data, default=str)


def setup(json_logs: bool, level: int = logging.INFO) -> None:
    """Configure the 'bouncer' logger once per process (idempotent across create_app calls)."""
    logger = logging.getLogger("bouncer")
    if any(getattr(h, "_bouncer", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if json_logs else plain)
    handler._bouncer = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
