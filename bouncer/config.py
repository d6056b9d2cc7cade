"""Configuration from environment variables, with defaults that run safely with no OTRS at all.

Every setting is documented in docs/configuration.md; `Config.from_env()` is the only
reader of the environment, and `create_app(config)` takes the result (or a test's own).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .vocab import MODES, Mode


class ConfigError(ValueError):
    """A setting is wrong; the message names it and says what is allowed."""


@dataclass(frozen=True)
class Config:
    db_path: str = "data/bouncer.sqlite"
    mode: Mode = "dry-run"  # dry-run: record and show, act on nothing
    policy_path: str | None = None  # None: the built-in safe defaults (bouncer/policy_default.toml)
    webhook_user: str = "webhook"
    webhook_password: str = ""  # empty: webhook refuses everything until set (dev: see README)
    webhook_token: str | None = None  # optional shared header X-Webhook-Token
    max_body_bytes: int = 20 * 1024 * 1024
    otrs_url: str | None = None  # e.g. https://otrs.example.org/otrs (index.pl and nph-genericinterface.pl live below)
    otrs_webservice: str = "BounceWebhook"
    otrs_user: str | None = None
    otrs_password: str | None = None
    otrs_timeout: float = 10.0
    fetch_raw: bool = False  # fetch the exact raw mail via AgentTicketPlain when credentials are set
    secret_key: str | None = None  # signs page sessions; None: generated once, kept beside the database
    cookie_secure: bool | None = None  # session cookie over https only; None: on, except in Flask debug/testing
    retention_days: int = 90
    store_bodies: bool = False  # GDPR Art. 9: no mail bodies by default, only a short snippet
    snippet_chars: int = 280
    users_file: str | None = None  # page logins (press/admin), see docs/configuration.md
    log_json: bool = True
    otrs_timezone: str = "UTC"  # Znuny's OTRSTimeZone: how its TicketSearch/TicketGet times are meant
    catchup_minutes: float = 5.0  # catch-up round every so many minutes; 0: off
    catchup_in_dry_run: bool = False  # the catch-up also runs in BOUNCER_MODE=dry-run (recording only)
    catchup_overlap_minutes: float = 10.0  # each round looks back this much before the last one's end
    client_address_header: str | None = None  # behind a reverse proxy: the header with the client's address
    probe_token: str | None = None  # when set, /readyz and /metrics want "Authorization: Bearer <token>"
    min_free_mb: int = 100  # /readyz says not ready below this much free space for the database and spool

    ENV_PREFIX = "BOUNCER_"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = cls.ENV_PREFIX + f.name.upper()
            if key in env and env[key] != "":
                values[f.name] = _convert(key, env[key], f.type)
        values.update(overrides)
        return cls(**values).validated()

    def validated(self) -> Config:
        if self.mode not in MODES:
            raise ConfigError(f"BOUNCER_MODE={self.mode!r}: must be one of {', '.join(MODES)}")
        if self.mode == "callback" and not (self.otrs_url and self.otrs_user and self.otrs_password):
            raise ConfigError("BOUNCER_MODE=callback needs BOUNCER_OTRS_URL, BOUNCER_OTRS_USER and "
                              "BOUNCER_OTRS_PASSWORD")
        if self.max_body_bytes < 1024:
            raise ConfigError("BOUNCER_MAX_BODY_BYTES must be at least 1024")
        if self.min_free_mb < 0:
            raise ConfigError("BOUNCER_MIN_FREE_MB must be 0 or more")
        if self.retention_days < 1:
            raise ConfigError("BOUNCER_RETENTION_DAYS must be at least 1")
        if self.catchup_minutes < 0 or self.catchup_overlap_minutes < 0:
            raise ConfigError("BOUNCER_CATCHUP_MINUTES and BOUNCER_CATCHUP_OVERLAP_MINUTES must be 0 or more")
        try:
            ZoneInfo(self.otrs_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"BOUNCER_OTRS_TIMEZONE={self.otrs_timezone!r}: not a time zone name "
                              "(e.g. UTC, Europe/Berlin)") from None
        if self.policy_path and not Path(self.policy_path).is_file():
            raise ConfigError(f"BOUNCER_POLICY_PATH={self.policy_path!r}: no such file")
        return self

    @property
    def otrs_zone(self) -> ZoneInfo:
        return ZoneInfo(self.otrs_timezone)

    @property
    def catchup_enabled(self) -> bool:
        """On when it has an interval and a Znuny to ask, and either acts or was asked to run in dry-run."""
        return bool(self.catchup_minutes > 0 and self.otrs_url and self.otrs_user and self.otrs_password
                    and (self.mode != "dry-run" or self.catchup_in_dry_run))

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes).validated()


def _convert(key: str, raw: str, type_name: Any) -> Any:
    kind = str(type_name)
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r}: not a valid {kind.split(' ')[0]}") from None
    return raw
