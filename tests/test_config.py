"""Settings from the environment: a bad value is refused by name, a good one read, defaults kept."""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import pytest
from click.testing import CliRunner

from gateway.config import load_config
from gateway.errors import ConfigError


class Setting(NamedTuple):
    """One parsed environment variable: its app.config key, default, a good and bad values."""

    key: str
    default: Any
    good: str
    parsed: Any
    bad: tuple[str, ...]


NOT_A_NUMBER = ("abc", "", "nan", "inf")
# Add a variable here and every test below covers it.
SETTINGS: dict[str, Setting] = {
    "PORT": Setting("PORT", 5000, "8080", 8080, ("abc", "", "0", "65536", "80.5")),
    "GATEWAY_USSD_SESSION_TTL": Setting(
        "USSD_SESSION_TTL", 300, " 120 ", 120, ("abc", "", "0", "-5", "1.5")
    ),
    "GATEWAY_RESUME_WINDOW": Setting("RESUME_WINDOW", 300, "0", 0, ("abc", "", "-1")),
    "GATEWAY_SEND_RETRY_DELAYS": Setting(
        "SEND_RETRY_DELAYS",
        [10.0, 60.0, 300.0, 900.0],
        "1, 2.5,,3",
        [1.0, 2.5, 3.0],
        ("abc", "10,x", "10,-1", "nan"),
    ),
    "GATEWAY_SWEEP_INTERVAL": Setting("SWEEP_INTERVAL", 30, "5", 5, ("abc", "", "0", "-1")),
    "GATEWAY_SMS_SEGMENTS_PER_SECOND": Setting(
        "SMS_SEGMENTS_PER_SECOND", 5.0, "0.5", 0.5, (*NOT_A_NUMBER, "-1")
    ),
    "GATEWAY_ESCALATION_DELAYS": Setting(
        "ESCALATION_DELAYS",
        {},
        "urgent=1800, abduction:urgent=900",
        {"urgent": 1800.0, "abduction:urgent": 900.0},
        ("urgent", "urgent=abc", "urgent=0", "=60", "default=86400,urgent=-1"),
    ),
    "GATEWAY_SEND_INTERRUPTED_AFTER": Setting(
        "SEND_INTERRUPTED_AFTER", 90.0, "3", 3.0, (*NOT_A_NUMBER, "0", "-3")
    ),
    "GATEWAY_ALLOWED_IPS": Setting(
        "ALLOWED_IPS",
        [],
        "10.0.0.0/8, 192.0.2.7",
        ["10.0.0.0/8", "192.0.2.7"],
        ("nope", "10.0.0.0/8,300.1.1.1", "10.0.0.0/33"),
    ),
    "GATEWAY_TRUSTED_PROXIES": Setting(
        "TRUSTED_PROXIES",
        [],
        "127.0.0.1, 10.0.0.0/8, 2001:db8::/32",
        ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"],
        # Wider than a /8 or an IPv6 /32: anyone there could write their own X-Forwarded-For.
        ("localhost", "::1,fe80::zz", "0.0.0.0/0", "10.0.0.0/7", "::/0", "2001:db8::/31"),
    ),
    "GATEWAY_MAX_BODY_BYTES": Setting("MAX_BODY_BYTES", 16384, "0", 0, ("abc", "", "-1", "1k")),
    "GATEWAY_RATE_PER_ADDRESS": Setting(
        "RATE_PER_ADDRESS", (1200, 60), "0/60", (0, 60), ("abc", "", "30", "30/", "1/2/3")
    ),
    "GATEWAY_SMS_CONVERSATION_TTL": Setting(
        "SMS_CONVERSATION_TTL", 3600, "60", 60, ("abc", "", "0", "-60")
    ),
    "GATEWAY_STATUS_TRIES": Setting(
        "STATUS_TRIES", (6, 3600), "1/1", (1, 1), ("abc", "-1/60", "6/0", "6/x")
    ),
    "GATEWAY_RATE_PER_CALLER": Setting(
        "RATE_PER_CALLER", (30, 60), " 100/60 ", (100, 60), ("abc", "30/60s", "30.5/60")
    ),
    "GATEWAY_FLOOD_CASES_PER_HOUR": Setting(
        "FLOOD_CASES_PER_HOUR", 5, "0", 0, ("abc", "", "-1", "2.5")
    ),
    "GATEWAY_KEEP_OUTBOX_DAYS": Setting("KEEP_OUTBOX_DAYS", 30, "7", 7, ("abc", "", "-1")),
    "GATEWAY_KEEP_FREE_TEXT_DAYS": Setting("KEEP_FREE_TEXT_DAYS", 90, "0", 0, ("abc", "", "-1")),
    "GATEWAY_PURGE_INTERVAL": Setting("PURGE_INTERVAL", 3600, "60", 60, ("abc", "", "0")),
    "GATEWAY_SMS_PER_SENDER": Setting(
        "SMS_PER_SENDER", (20, 3600), "5/60", (5, 60), ("abc", "20", "20/0")
    ),
    "GATEWAY_KEEP_REPORTER_LINK_DAYS": Setting(
        "KEEP_REPORTER_LINK_DAYS", 30, "7", 7, ("abc", "", "0")
    ),
}
BAD_VALUES = [(name, value) for name, setting in SETTINGS.items() for value in setting.bad]


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """An embedded deployment whose generated secrets are kept in a fresh folder."""
    return {"GATEWAY_DATA_DIR": str(tmp_path)}


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_bad_value_is_refused_naming_the_variable(
    name: str, value: str, base_env: dict[str, str]
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config({**base_env, name: value})
    message = str(refused.value)
    assert message.startswith(f"{name} must be "), message
    assert f"got {value!r}" in message


@pytest.mark.parametrize("name", SETTINGS)
def test_a_good_value_is_read(name: str, base_env: dict[str, str]) -> None:
    setting = SETTINGS[name]
    value = load_config({**base_env, name: setting.good})[setting.key]
    assert value == setting.parsed
    assert type(value) is type(setting.parsed)


def test_defaults_are_kept_when_nothing_is_set(base_env: dict[str, str]) -> None:
    config = load_config(base_env)
    for setting in SETTINGS.values():
        assert config[setting.key] == setting.default, setting.key
        assert type(config[setting.key]) is type(setting.default), setting.key


def test_a_refused_item_of_a_list_is_named(base_env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"'300\.1\.1\.1'"):
        load_config({**base_env, "GATEWAY_ALLOWED_IPS": "10.0.0.0/8, 300.1.1.1"})


def test_messages_keep_their_examples(base_env: dict[str, str]) -> None:
    expected = {
        "PORT": "PORT must be a whole number (1 to 65535), got 'abc'",
        "GATEWAY_SWEEP_INTERVAL": (
            "GATEWAY_SWEEP_INTERVAL must be a whole number of seconds (1 or more), got 'abc'"
        ),
        "GATEWAY_RATE_PER_CALLER": "GATEWAY_RATE_PER_CALLER must be COUNT/SECONDS, e.g. 30/60",
        "GATEWAY_SMS_SEGMENTS_PER_SECOND": (
            "GATEWAY_SMS_SEGMENTS_PER_SECOND must be a number per second, e.g. 5"
        ),
        "GATEWAY_SEND_RETRY_DELAYS": (
            "GATEWAY_SEND_RETRY_DELAYS must be a comma-separated list of seconds"
        ),
        "GATEWAY_ESCALATION_DELAYS": "<key>=<seconds>, e.g. urgent=1800",
        "GATEWAY_ALLOWED_IPS": "addresses or CIDR ranges",
    }
    for name, part in expected.items():
        with pytest.raises(ConfigError) as refused:
            load_config({**base_env, name: "abc"})
        assert part in str(refused.value)


def test_a_refused_secret_is_not_echoed(base_env: dict[str, str]) -> None:
    weak = "weak-but-private"
    for name in ("GATEWAY_PREVIOUS_SECRET_KEYS", "GATEWAY_ENCRYPTION_KEYS"):
        with pytest.raises(ConfigError, match=name) as refused:
            load_config({**base_env, name: weak})
        assert weak not in str(refused.value)


def test_a_too_wide_trusted_proxy_range_is_named(base_env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config({**base_env, "GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, 0.0.0.0/0"})
    message = str(refused.value)
    assert message.startswith("GATEWAY_TRUSTED_PROXIES must be ")
    assert "(refused: '0.0.0.0/0')" in message and "none wider than /8 (IPv4) or /32" in message


# -- Off the embedded default: a strong webhook token, or no start -------------------------------

STRONG_TOKEN = "Zq3xV9kL2mN7pR4tW8yB1cD6fG0hJ5sA"
PRODUCTION = {
    "DATABASE_URL": "postgresql://db/gateway",
    "GATEWAY_SECRET_KEY": "prod-secret-key-0123456789-abcdefghijklmnopqrstu",
    "GATEWAY_ENCRYPTION_KEYS": "qLbsUkpq1px6QI5f414ktonD0bRJl5MUO6iYSoZHfeU=",
}
WEAK_TOKENS = {
    "default": "changeme",
    "short": "a1b2c3d4e5f6g7h8",
    "repetitive": "abababababababababababababababababab",
    "not-url-safe": "Zq3xV9kL2mN7pR4t+W8yB1cD6fG0hJ5s/A==",
    "the-secret-key": PRODUCTION["GATEWAY_SECRET_KEY"],
}


@pytest.fixture
def production_env(base_env: dict[str, str]) -> dict[str, str]:
    """A production deployment (PostgreSQL) with every key but the webhook token."""
    return {**base_env, **PRODUCTION}


@pytest.mark.parametrize("server", ["DATABASE_URL", "REDIS_URL"])
def test_production_refuses_to_start_without_a_webhook_token(
    server: str, base_env: dict[str, str]
) -> None:
    env = {**base_env, **PRODUCTION, "GATEWAY_WEBHOOK_TOKEN": "  "}
    if server == "REDIS_URL":
        del env["DATABASE_URL"]
        env["REDIS_URL"] = "redis://redis:6379/0"
    with pytest.raises(ConfigError) as refused:
        load_config(env)
    assert str(refused.value).startswith("GATEWAY_WEBHOOK_TOKEN is required when DATABASE_URL")


@pytest.mark.parametrize("token", WEAK_TOKENS.values(), ids=WEAK_TOKENS.keys())
def test_production_refuses_a_weak_webhook_token_without_echoing_it(
    token: str, production_env: dict[str, str]
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config({**production_env, "GATEWAY_WEBHOOK_TOKEN": token})
    message = str(refused.value)
    assert message.startswith("GATEWAY_WEBHOOK_TOKEN ")
    assert token not in message


def test_a_weak_webhook_token_is_refused_on_the_embedded_default_too(
    base_env: dict[str, str],
) -> None:
    assert load_config(base_env)["WEBHOOK_TOKEN"] is None
    with pytest.raises(ConfigError, match="GATEWAY_WEBHOOK_TOKEN is too weak"):
        load_config({**base_env, "GATEWAY_WEBHOOK_TOKEN": "changeme"})


def test_production_starts_with_a_strong_token_and_warns_without_an_allow_list(
    production_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.config")
    config = load_config({**production_env, "GATEWAY_WEBHOOK_TOKEN": f" {STRONG_TOKEN} "})
    assert config["WEBHOOK_TOKEN"] == STRONG_TOKEN
    warnings = [r for r in caplog.records if r.name == "gateway.config"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert "GATEWAY_ALLOWED_IPS is not set" in warnings[0].getMessage()
    assert STRONG_TOKEN not in caplog.text

    caplog.clear()
    load_config({**production_env, "GATEWAY_WEBHOOK_TOKEN": STRONG_TOKEN,
                 "GATEWAY_ALLOWED_IPS": "196.201.214.0/24"})
    load_config({"GATEWAY_DATA_DIR": production_env["GATEWAY_DATA_DIR"]})  # embedded
    assert not [r for r in caplog.records if r.name == "gateway.config"]


@pytest.fixture
def gateway_command() -> ModuleType:
    """The `gateway` command; imported here so the tests above need no application."""
    from gateway import commands

    commands._register()
    return commands


@pytest.fixture
def bad_environment(base_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment of an embedded deployment with one malformed variable, GATEWAY_SWEEP_INTERVAL."""
    for name in ("DATABASE_URL", "REDIS_URL", "GATEWAY_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    env = {**base_env, "GATEWAY_SWEEP_INTERVAL": "abc"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_the_command_stops_on_a_bad_value_with_a_config_error(
    gateway_command: ModuleType, bad_environment: dict[str, str]
) -> None:
    result = CliRunner().invoke(gateway_command.cli, ["purge", "--dry-run"], env=bad_environment)
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception).startswith("GATEWAY_SWEEP_INTERVAL must be a whole number")


def test_the_command_prints_one_clear_line_not_a_traceback(
    gateway_command: ModuleType,
    bad_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.argv", ["gateway", "purge", "--dry-run"])
    with pytest.raises(SystemExit) as stopped:
        gateway_command.main()
    assert stopped.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "Configuration error: GATEWAY_SWEEP_INTERVAL must be a whole number of seconds "
        "(1 or more), got 'abc'\n"
    )
