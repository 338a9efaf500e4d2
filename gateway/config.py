"""Settings: safe embedded defaults, overridden by environment variables."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flows.i18n import load_languages
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
WEAK_SECRETS = {"secret", "changeme", "change-me", "password", "dev", "development", "test"}
MIN_SECRET_LENGTH = 32


def _secret_is_weak(value: str) -> bool:
    """Tell whether a secret key is too short or too guessable to protect pseudonyms."""
    return (
        len(value) < MIN_SECRET_LENGTH
        or value.lower() in WEAK_SECRETS
        or len(set(value)) < 8
    )


def _embedded_secret(data_dir: Path) -> str:
    """Read the secret kept in the data folder, creating it on first start."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _float_list(name: str, raw: str) -> list[float]:
    try:
        return [float(part) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"{name} must be a comma-separated list of seconds, got {raw!r}") from exc


def _languages(env: Mapping[str, str], locales_dir: str) -> list[str]:
    """Return the offered languages: GATEWAY_LANGUAGES, else every one in languages.toml."""
    try:
        configured = load_languages(locales_dir)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the languages of {locales_dir}: {exc}") from exc
    chosen = [code.strip() for code in env.get("GATEWAY_LANGUAGES", "").split(",") if code.strip()]
    unknown = [code for code in chosen if code not in configured]
    if unknown:
        raise ConfigError(
            f"GATEWAY_LANGUAGES names {', '.join(unknown)}, not in {locales_dir}/languages.toml: "
            "add a line there (see locales/README.md)"
        )
    return chosen or list(configured)


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the settings from the environment, refusing unsafe combinations."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("GATEWAY_DATA_DIR", "instance")).resolve()
    database_url = env.get("DATABASE_URL", "").strip()
    redis_url = env.get("REDIS_URL", "").strip()
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    embedded = not database_url and not redis_url

    secret = env.get("GATEWAY_SECRET_KEY", "").strip()
    if not secret:
        if not embedded:
            raise ConfigError(
                "GATEWAY_SECRET_KEY is required when DATABASE_URL or REDIS_URL is set: "
                f"give at least {MIN_SECRET_LENGTH} random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        secret = _embedded_secret(data_dir)
    elif _secret_is_weak(secret):
        raise ConfigError(
            f"GATEWAY_SECRET_KEY is too weak: use at least {MIN_SECRET_LENGTH} random characters"
        )

    try:
        port = int(env.get("PORT", "5000"))
    except ValueError as exc:
        raise ConfigError(f"PORT must be a number, got {env.get('PORT')!r}") from exc

    locales_dir = env.get("GATEWAY_LOCALES_DIR", str(ROOT / "locales"))

    at_username = env.get("AT_USERNAME", "").strip()
    at_api_key = env.get("AT_API_KEY", "").strip()
    if bool(at_username) != bool(at_api_key):
        missing = "AT_API_KEY" if at_username else "AT_USERNAME"
        raise ConfigError(
            f"{missing} is required when the other Africa's Talking credential is set"
        )

    return {
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url or f"sqlite:///{data_dir / 'gateway.db'}",
        "REDIS_URL": redis_url or None,
        "EMBEDDED": embedded,
        "SECRET_KEY": secret,
        "PORT": port,
        "WEBHOOK_TOKEN": env.get("GATEWAY_WEBHOOK_TOKEN", "").strip() or None,
        "AT_USERNAME": at_username or None,
        "AT_API_KEY": at_api_key or None,
        "AT_SENDER_ID": env.get("AT_SENDER_ID", "").strip() or None,
        "AT_API_URL": env.get("AT_API_URL", "").strip().rstrip("/") or None,
        "DEFAULT_LANGUAGE": env.get("GATEWAY_DEFAULT_LANGUAGE", "fr").strip(),
        "LANGUAGES": _languages(env, locales_dir),
        "LOCALES_DIR": locales_dir,
        "USSD_SESSION_TTL": int(env.get("GATEWAY_USSD_SESSION_TTL", "300")),
        "SEND_RETRY_DELAYS": _float_list(
            "GATEWAY_SEND_RETRY_DELAYS", env.get("GATEWAY_SEND_RETRY_DELAYS", "10,60,300,900")
        ),
        "SWEEP_INTERVAL": int(env.get("GATEWAY_SWEEP_INTERVAL", "30")),
    }
