"""Settings: safe embedded defaults, overridden by environment variables."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
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


def _embedded_secret(
    data_dir: Path, name: str = "secret_key", make: Callable[[], str] | None = None
) -> str:
    """Read a secret kept in the data folder, creating it on first start."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = make() if make else secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _secret_list(env: Mapping[str, str], name: str) -> list[str]:
    """Return the comma-separated keys of a variable, refusing any weak one."""
    keys = [part.strip() for part in env.get(name, "").split(",") if part.strip()]
    if any(_secret_is_weak(key) for key in keys):
        raise ConfigError(
            f"{name} holds a weak key: use at least {MIN_SECRET_LENGTH} random characters"
        )
    return keys


def _encryption_keys(env: Mapping[str, str], data_dir: Path, embedded: bool) -> list[str]:
    """Return the encryption keys, newest first: GATEWAY_ENCRYPTION_KEYS, or the embedded one."""
    from gateway.crypto import check_key, new_key

    keys = [part.strip() for part in env.get("GATEWAY_ENCRYPTION_KEYS", "").split(",")]
    keys = [key for key in keys if key]
    if not keys:
        if not embedded:
            raise ConfigError(
                "GATEWAY_ENCRYPTION_KEYS is required when DATABASE_URL or REDIS_URL is set: "
                "create one with `gateway keys new`"
            )
        return [_embedded_secret(data_dir, "encryption_key", new_key)]
    for number, key in enumerate(keys, start=1):
        problem = check_key(key)
        if problem:
            raise ConfigError(f"GATEWAY_ENCRYPTION_KEYS key {number} is refused: {problem}")
    return keys


def _rate(name: str, raw: str) -> tuple[int, int]:
    """Parse a rate limit written as COUNT/SECONDS (0/... turns the limit off)."""
    try:
        count, seconds = (int(part) for part in raw.split("/"))
    except ValueError as exc:
        raise ConfigError(f"{name} must be COUNT/SECONDS, e.g. 30/60, got {raw!r}") from exc
    if count < 0 or seconds < 1:
        raise ConfigError(f"{name} must be COUNT/SECONDS with SECONDS >= 1, got {raw!r}")
    return count, seconds


def _networks(name: str, raw: str) -> list[str]:
    """Return the CIDR ranges of a comma-separated list, refusing a malformed one."""
    ranges = [part.strip() for part in raw.split(",") if part.strip()]
    for value in ranges:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ConfigError(f"{name}: {value!r} is not an address or CIDR range") from exc
    return ranges


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, str(default)))
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {env.get(name)!r}") from exc


def _per_second(env: Mapping[str, str], name: str, default: float) -> float:
    """Return a rate per second; 0 turns the limit off."""
    raw = env.get(name, str(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number per second, e.g. 5, got {raw!r}") from exc
    if value < 0:
        raise ConfigError(f"{name} must be 0 (no limit) or more, got {raw!r}")
    return value


def _float_list(name: str, raw: str) -> list[float]:
    try:
        return [float(part) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"{name} must be a comma-separated list of seconds, got {raw!r}") from exc


def _delays(name: str, raw: str) -> dict[str, float]:
    """Parse "urgent=1800,default=86400,pep=3600,abduction:urgent=900" into seconds by key."""
    delays: dict[str, float] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        key, _, value = part.partition("=")
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not key.strip() or seconds <= 0:
            raise ConfigError(f"{name}: {part!r} must be <key>=<seconds>, e.g. urgent=1800")
        delays[key.strip()] = seconds
    return delays


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
        "RESUME_WINDOW": _int(env, "GATEWAY_RESUME_WINDOW", 600),
        "SEND_RETRY_DELAYS": _float_list(
            "GATEWAY_SEND_RETRY_DELAYS", env.get("GATEWAY_SEND_RETRY_DELAYS", "10,60,300,900")
        ),
        "SWEEP_INTERVAL": int(env.get("GATEWAY_SWEEP_INTERVAL", "30")),
        "SMS_SEGMENTS_PER_SECOND": _per_second(env, "GATEWAY_SMS_SEGMENTS_PER_SECOND", 5),
        "ESCALATION_DELAYS": _delays(
            "GATEWAY_ESCALATION_DELAYS", env.get("GATEWAY_ESCALATION_DELAYS", "")
        ),
        "SEND_INTERRUPTED_AFTER": float(env.get("GATEWAY_SEND_INTERRUPTED_AFTER", "90")),
        "METRICS_TOKEN": env.get("GATEWAY_METRICS_TOKEN", "").strip() or None,
        **_security_settings(env, data_dir, embedded),
    }


def _security_settings(env: Mapping[str, str], data_dir: Path, embedded: bool) -> dict[str, Any]:
    """Keys, webhook guards, rate limits and retention periods (see SECURITY.md)."""
    return {
        "PREVIOUS_SECRET_KEYS": _secret_list(env, "GATEWAY_PREVIOUS_SECRET_KEYS"),
        "ENCRYPTION_KEYS": _encryption_keys(env, data_dir, embedded),
        "ALLOWED_IPS": _networks("GATEWAY_ALLOWED_IPS", env.get("GATEWAY_ALLOWED_IPS", "")),
        "TRUSTED_PROXIES": _networks(
            "GATEWAY_TRUSTED_PROXIES", env.get("GATEWAY_TRUSTED_PROXIES", "")
        ),
        "MAX_BODY_BYTES": _int(env, "GATEWAY_MAX_BODY_BYTES", 16384),
        "RATE_PER_ADDRESS": _rate(
            "GATEWAY_RATE_PER_ADDRESS", env.get("GATEWAY_RATE_PER_ADDRESS", "1200/60")
        ),
        "SMS_CONVERSATION_TTL": int(env.get("GATEWAY_SMS_CONVERSATION_TTL", "3600")),
        "STATUS_TRIES": _rate("GATEWAY_STATUS_TRIES", env.get("GATEWAY_STATUS_TRIES", "6/3600")),
        "RATE_PER_CALLER": _rate(
            "GATEWAY_RATE_PER_CALLER", env.get("GATEWAY_RATE_PER_CALLER", "30/60")
        ),
        "FLOOD_CASES_PER_HOUR": _int(env, "GATEWAY_FLOOD_CASES_PER_HOUR", 5),
        "KEEP_OUTBOX_DAYS": _int(env, "GATEWAY_KEEP_OUTBOX_DAYS", 30),
        "KEEP_FREE_TEXT_DAYS": _int(env, "GATEWAY_KEEP_FREE_TEXT_DAYS", 90),
        "PURGE_INTERVAL": _int(env, "GATEWAY_PURGE_INTERVAL", 3600),
    }
