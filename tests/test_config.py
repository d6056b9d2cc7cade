"""Configuration from BOUNCER_* environment variables: safe defaults, clear errors for bad values."""
from __future__ import annotations

from pathlib import Path

import pytest

from bouncer.config import Config, ConfigError


def test_defaults_run_in_dry_run_with_the_webhook_closed() -> None:
    config = Config.from_env({})
    assert (config.mode, config.db_path, config.webhook_password) == ("dry-run", "data/bouncer.sqlite", "")
    assert (config.store_bodies, config.retention_days) == (False, 90)


def test_values_are_read_and_converted() -> None:
    config = Config.from_env({"BOUNCER_MODE": "inline", "BOUNCER_MAX_BODY_BYTES": "4096", "BOUNCER_FETCH_RAW": "yes",
                              "BOUNCER_OTRS_TIMEOUT": "2.5", "BOUNCER_WEBHOOK_TOKEN": "t"})
    assert (config.mode, config.max_body_bytes, config.fetch_raw, config.otrs_timeout, config.webhook_token) == (
        "inline", 4096, True, 2.5, "t")


@pytest.mark.parametrize("env, message", [
    ({"BOUNCER_MODE": "live"}, "BOUNCER_MODE='live': must be one of"),
    ({"BOUNCER_MODE": "callback"}, "needs BOUNCER_OTRS_URL"),
    ({"BOUNCER_MAX_BODY_BYTES": "ten"}, "BOUNCER_MAX_BODY_BYTES='ten': not a valid int"),
    ({"BOUNCER_FETCH_RAW": "maybe"}, "not a valid bool"),
    ({"BOUNCER_RETENTION_DAYS": "0"}, "at least 1"),
    ({"BOUNCER_POLICY_PATH": "/no/such/policy.toml"}, "no such file"),
], ids=["unknown-mode", "callback-without-otrs", "not-a-number", "not-a-bool", "zero-retention", "missing-policy"])
def test_a_wrong_setting_is_refused_with_its_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match="BOUNCER_") as error:
        Config.from_env(env)
    assert message in str(error.value)


def test_a_broken_policy_file_stops_the_start(tmp_path: Path) -> None:
    from app import create_app
    from bouncer.policy import PolicyError

    policy = tmp_path / "policy.toml"
    policy.write_text('[rules.auto_reply]\naction = "close"\n')
    with pytest.raises(PolicyError, match="needs a state"):
        create_app(Config(db_path=str(tmp_path / "b.sqlite"), policy_path=str(policy)))
