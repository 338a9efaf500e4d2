"""Settings: safe embedded defaults, overridden by environment variables."""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flows.i18n import load_languages
from gateway.errors import ConfigError
from gateway.storage.crypto import check_key, new_key

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
WEAK_SECRETS = {"secret", "changeme", "change-me", "password", "dev", "development", "test"}
MIN_SECRET_LENGTH = 32
# The webhook token travels in the callback URLs: only characters a URL keeps as they are.
URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")
# A trusted proxy's X-Forwarded-For is believed: no range wider than one organisation's network.
WIDEST_PROXY_PREFIX = {4: 8, 6: 32}

T = TypeVar("T")
N = TypeVar("N", int, float)
# `gateway serve`'s web processes by default: one per core, at most this many (docs/deploy.md).
MAX_DEFAULT_WEB_CONCURRENCY = 4


def default_web_concurrency() -> int:
    """Return the web processes `gateway serve` runs by default: one per usable core, 1 to 4.

    Each gunicorn process (4 threads) keeps about one core busy under load; more processes than
    cores only take CPU from the worker that routes and sends the alerts.
    """
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may run on (a container's)
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WEB_CONCURRENCY))


class _RefusedItem(ValueError):
    """One item of a comma-separated value is refused; its only argument is that item."""


class Env:
    """Read environment variables; a value that cannot be used raises a ConfigError naming it."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def raw(self, name: str, default: str = "") -> str:
        """Return a variable's text as given, or `default` when it is unset."""
        return self.environ.get(name, default)

    def text(self, name: str, default: str = "") -> str:
        """Return a variable's text without surrounding spaces, or `default` when it is unset."""
        return self.raw(name, default).strip()

    def parse(self, name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
        """Return `parse(value)`, or `default` when unset; a ValueError names the variable."""
        raw = self.environ.get(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            refused = exc.args[0] if isinstance(exc, _RefusedItem) else raw.strip()
            detail = f" (refused: {refused!r})" if refused != raw.strip() else ""
            raise ConfigError(f"{name} must be {expected}, got {raw!r}{detail}") from exc

    def whole(
        self, name: str, default: int, expected: str, *, minimum: int, maximum: int | None = None
    ) -> int:
        """Return a whole number within bounds, e.g. expected="a whole number of seconds"."""
        return self.parse(
            name,
            default,
            lambda raw: _within(int(raw), minimum, maximum),
            f"{expected} ({_bounds(minimum, maximum)})",
        )

    def number(self, name: str, default: float, expected: str, *, minimum: float) -> float:
        """Return a finite number, fractions allowed, of at least `minimum`."""
        return self.parse(
            name,
            default,
            lambda raw: _within(_finite(raw), minimum),
            f"{expected} ({_bounds(minimum)})",
        )

    def rate(self, name: str, default: tuple[int, int]) -> tuple[int, int]:
        """Return a rate limit written as COUNT/SECONDS (0/... turns the limit off)."""
        return self.parse(
            name, default, _rate, "COUNT/SECONDS, e.g. 30/60, with COUNT >= 0 and SECONDS >= 1"
        )

    def items(
        self, name: str, default: list[T], item: Callable[[str], T], expected: str
    ) -> list[T]:
        """Return the comma-separated items of a variable, each read by `item`; blanks skipped."""

        def parse(raw: str) -> list[T]:
            """Read every non-blank item, naming the first one refused."""
            values: list[T] = []
            for part in (part.strip() for part in raw.split(",")):
                if not part:
                    continue
                try:
                    values.append(item(part))
                except ValueError as exc:
                    raise _RefusedItem(part) from exc
            return values

        return self.parse(name, default, parse, expected)


def _bounds(minimum: float, maximum: float | None = None) -> str:
    """Describe the accepted range of a number, e.g. "1 or more"."""
    return f"{minimum:g} or more" if maximum is None else f"{minimum:g} to {maximum:g}"


def _within(value: N, minimum: N, maximum: N | None = None) -> N:
    """Return `value` if it is within bounds, else raise ValueError."""
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{value} is out of range")
    return value


def _finite(raw: str) -> float:
    """Parse a finite number (no nan or inf), else raise ValueError."""
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"{raw!r} is not finite")
    return value


def _rate(raw: str) -> tuple[int, int]:
    """Parse COUNT/SECONDS with COUNT >= 0 and SECONDS >= 1, else raise ValueError."""
    count, seconds = (int(part) for part in raw.split("/"))
    return _within(count, 0), _within(seconds, 1)


def _network(part: str) -> str:
    """Return an address or CIDR range unchanged, refusing a malformed one by ValueError."""
    ipaddress.ip_network(part, strict=False)
    return part


def _proxy_network(part: str) -> str:
    """Return a trusted proxy's address or range, refusing one wider than a /8 or an IPv6 /32."""
    network = ipaddress.ip_network(part, strict=False)
    if network.prefixlen < WIDEST_PROXY_PREFIX[network.version]:
        raise ValueError(f"{part!r} is wider than /{WIDEST_PROXY_PREFIX[network.version]}")
    return part


def _delay(part: str) -> tuple[str, float]:
    """Parse one "<key>=<seconds>" item (seconds above 0), else raise ValueError."""
    key, _, value = part.partition("=")
    seconds = _finite(value)
    if not key.strip() or seconds <= 0:
        raise ValueError(f"{part!r} is not <key>=<seconds>")
    return key.strip(), seconds


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


def _keys(env: Env, name: str) -> list[str]:
    """Return the comma-separated keys of a variable (secrets: never echoed in a message)."""
    return env.items(name, [], str, "comma-separated keys")


def _secret_list(env: Env, name: str) -> list[str]:
    """Return the comma-separated keys of a variable, refusing any weak one."""
    keys = _keys(env, name)
    if any(_secret_is_weak(key) for key in keys):
        raise ConfigError(
            f"{name} holds a weak key: use at least {MIN_SECRET_LENGTH} random characters"
        )
    return keys


def _encryption_keys(env: Env, data_dir: Path, embedded: bool) -> list[str]:
    """Return the encryption keys, newest first: GATEWAY_ENCRYPTION_KEYS, or the embedded one."""
    keys = _keys(env, "GATEWAY_ENCRYPTION_KEYS")
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


def _languages(env: Env, locales_dir: str) -> list[str]:
    """Return the offered languages: GATEWAY_LANGUAGES, else every one in languages.toml."""
    try:
        configured = load_languages(locales_dir)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the languages of {locales_dir}: {exc}") from exc
    chosen = env.items("GATEWAY_LANGUAGES", [], str, "comma-separated language codes")
    unknown = [code for code in chosen if code not in configured]
    if unknown:
        raise ConfigError(
            f"GATEWAY_LANGUAGES names {', '.join(unknown)}, not in {locales_dir}/languages.toml: "
            "add a line there (see locales/README.md)"
        )
    return chosen or list(configured)


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the settings from the environment, refusing unsafe combinations."""
    env = Env(os.environ if environ is None else environ)
    data_dir = Path(env.raw("GATEWAY_DATA_DIR", "instance")).resolve()
    database_url = env.text("DATABASE_URL")
    redis_url = env.text("REDIS_URL")
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    embedded = not database_url and not redis_url

    secret = env.text("GATEWAY_SECRET_KEY")
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

    locales_dir = env.raw("GATEWAY_LOCALES_DIR", str(ROOT / "locales"))

    at_username = env.text("AT_USERNAME")
    at_api_key = env.text("AT_API_KEY")
    if bool(at_username) != bool(at_api_key):
        missing = "AT_API_KEY" if at_username else "AT_USERNAME"
        raise ConfigError(
            f"{missing} is required when the other Africa's Talking credential is set"
        )

    sms_settings = _sms_provider_settings(env, bool(at_username))

    seconds = "a whole number of seconds"
    config: dict[str, Any] = {
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url or f"sqlite:///{data_dir / 'gateway.db'}",
        "REDIS_URL": redis_url or None,
        "EMBEDDED": embedded,
        "SECRET_KEY": secret,
        "PORT": env.whole("PORT", 5000, "a whole number", minimum=1, maximum=65535),
        "WEB_CONCURRENCY": env.whole(
            "GATEWAY_WEB_CONCURRENCY", default_web_concurrency(),
            "a whole number of web processes for `gateway serve`", minimum=1,
        ),
        "AT_USERNAME": at_username or None,
        "AT_API_KEY": at_api_key or None,
        "AT_SENDER_ID": env.text("AT_SENDER_ID") or None,
        "AT_API_URL": env.text("AT_API_URL").rstrip("/") or None,
        **sms_settings,
        "DEFAULT_LANGUAGE": env.text("GATEWAY_DEFAULT_LANGUAGE", "fr"),
        "LANGUAGES": _languages(env, locales_dir),
        "LOCALES_DIR": locales_dir,
        "USSD_SESSION_TTL": env.whole("GATEWAY_USSD_SESSION_TTL", 300, seconds, minimum=1),
        "RESUME_WINDOW": env.whole(
            "GATEWAY_RESUME_WINDOW", 300, f"{seconds}, 0 to turn the offer off", minimum=0
        ),
        "SEND_RETRY_DELAYS": env.items(
            "GATEWAY_SEND_RETRY_DELAYS",
            [10.0, 60.0, 300.0, 900.0],
            lambda part: _within(_finite(part), 0.0),
            "a comma-separated list of seconds (each 0 or more), e.g. 10,60,300,900",
        ),
        "SWEEP_INTERVAL": env.whole("GATEWAY_SWEEP_INTERVAL", 30, seconds, minimum=1),
        "SMS_SEGMENTS_PER_SECOND": env.number(
            "GATEWAY_SMS_SEGMENTS_PER_SECOND",
            5.0,
            "a number per second, e.g. 5, 0 for no limit",
            minimum=0,
        ),
        "ESCALATION_DELAYS": dict(
            env.items(
                "GATEWAY_ESCALATION_DELAYS",
                [],
                _delay,
                "a comma-separated list of <key>=<seconds>, e.g. urgent=1800,default=86400,"
                "abduction:urgent=900, with seconds above 0",
            )
        ),
        "SEND_INTERRUPTED_AFTER": env.number(
            "GATEWAY_SEND_INTERRUPTED_AFTER", 90.0, "a number of seconds", minimum=1
        ),
        "METRICS_TOKEN": env.text("GATEWAY_METRICS_TOKEN") or None,
        # The coordinators' weekly digest (gateway/trends/digest.py): its day and hour, UTC.
        "DIGEST_DAY": env.whole("GATEWAY_DIGEST_DAY", 1, "a day of the week, 1 (Monday) to "
                                "7 (Sunday)", minimum=1, maximum=7),
        "DIGEST_HOUR": env.whole("GATEWAY_DIGEST_HOUR", 7, "an hour of the day, UTC",
                                 minimum=0, maximum=23),
        **_primero_settings(env),
        **_security_settings(env, data_dir, embedded),
    }
    other_secrets = [secret, *config["PREVIOUS_SECRET_KEYS"], *config["ENCRYPTION_KEYS"]]
    if config["METRICS_TOKEN"]:
        other_secrets.append(config["METRICS_TOKEN"])
    config["WEBHOOK_TOKEN"] = _webhook_token(env, embedded, other_secrets)
    if not embedded and not config["ALLOWED_IPS"]:
        log.warning(
            "GATEWAY_ALLOWED_IPS is not set: the webhooks take requests from any address that "
            "holds the token; set it to Africa's Talking's addresses (see docs/deploy.md)"
        )
    return config


SMS_PROVIDERS = ("africastalking", "android")
SMSGATE_CLOUD_URL = "https://api.sms-gate.app/3rdparty/v1"
MIN_SIGNING_KEY_LENGTH = 16


def _sms_provider_settings(env: Env, at_set: bool) -> dict[str, Any]:
    """Return GATEWAY_SMS_PROVIDER and the SMSGATE_* settings of an Android phone gateway.

    With no choice made, the provider is the one whose credentials are set; with both set the
    choice must be explicit (sending through the wrong SIM or account is not a default).
    Android as the provider needs its signing key: the webhook never takes an unsigned event.
    """
    username = env.text("SMSGATE_USERNAME")
    password = env.text("SMSGATE_PASSWORD")
    if bool(username) != bool(password):
        missing = "SMSGATE_PASSWORD" if username else "SMSGATE_USERNAME"
        raise ConfigError(f"{missing} is required when the other SMSGATE credential is set")
    url = (env.text("SMSGATE_URL") or SMSGATE_CLOUD_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"SMSGATE_URL must be an http:// or https:// address, e.g. http://192.168.1.20:8080 "
            f"(the phone's local server) or {SMSGATE_CLOUD_URL}"  # not echoed: may hold a password
        )
    choice = env.text("GATEWAY_SMS_PROVIDER").lower()
    if choice and choice not in SMS_PROVIDERS:
        raise ConfigError(
            f"GATEWAY_SMS_PROVIDER must be one of {', '.join(SMS_PROVIDERS)}, got {choice!r}"
        )
    if not choice:
        if at_set and username:
            raise ConfigError(
                "GATEWAY_SMS_PROVIDER is required when both Africa's Talking (AT_USERNAME) and "
                "Android phone (SMSGATE_USERNAME) credentials are set: africastalking or android"
            )
        choice = "android" if username else "africastalking" if at_set else ""
    if choice == "africastalking" and not at_set:
        raise ConfigError("AT_USERNAME and AT_API_KEY are required when GATEWAY_SMS_PROVIDER "
                          "is africastalking")
    signing_key = env.text("SMSGATE_SIGNING_KEY")
    if choice == "android":
        if not username:
            raise ConfigError("SMSGATE_USERNAME and SMSGATE_PASSWORD are required when "
                              "GATEWAY_SMS_PROVIDER is android (the app shows them)")
        if len(signing_key) < MIN_SIGNING_KEY_LENGTH:
            raise ConfigError(
                f"SMSGATE_SIGNING_KEY is required when the SMS provider is android, with at "
                f"least {MIN_SIGNING_KEY_LENGTH} characters: the webhook refuses unsigned "
                "events (set the same key in the app: Settings, Webhooks, Signing key)"
            )
    return {
        "SMS_PROVIDER": choice or None,
        "SMSGATE_URL": url,
        "SMSGATE_USERNAME": username or None,
        "SMSGATE_PASSWORD": password or None,
        "SMSGATE_SIGNING_KEY": signing_key or None,
    }


PRIMERO_MAPPING = ROOT / "gateway" / "partners" / "primero_mapping.toml"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _primero_settings(env: Env) -> dict[str, Any]:
    """GATEWAY_PRIMERO_*: where verified alerts are pushed (docs/primero.md); off when unset.

    Basic auth sends the password with every request: never over plain http, except to this
    machine (a tunnel, a test stand-in), and never without both credentials.
    """
    url = env.text("GATEWAY_PRIMERO_URL").rstrip("/")
    user = env.text("GATEWAY_PRIMERO_USER")
    password = env.raw("GATEWAY_PRIMERO_PASSWORD")
    mapping = Path(env.text("GATEWAY_PRIMERO_MAPPING") or PRIMERO_MAPPING)
    if url:
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError("GATEWAY_PRIMERO_URL must be an https:// address, e.g. "
                              "https://mrm.example.org (the Primero server, without /api/v2)")
        if parsed.scheme == "http" and parsed.hostname not in LOCAL_HOSTS:
            raise ConfigError("GATEWAY_PRIMERO_URL must use https:// (the password travels "
                              "with every request); plain http only to localhost")
        if not user or not password:
            missing = "GATEWAY_PRIMERO_USER" if not user else "GATEWAY_PRIMERO_PASSWORD"
            raise ConfigError(f"{missing} is required when GATEWAY_PRIMERO_URL is set")
        if not mapping.is_file():
            raise ConfigError(f"GATEWAY_PRIMERO_MAPPING names no readable file: {mapping}")
    return {
        "PRIMERO_URL": url or None,
        "PRIMERO_USER": user or None,
        "PRIMERO_PASSWORD": password or None,
        "PRIMERO_MAPPING": str(mapping),
        "PRIMERO_RETRY_DELAYS": env.items(
            "GATEWAY_PRIMERO_RETRY_DELAYS",
            [60.0, 300.0, 900.0, 3600.0],
            lambda part: _within(_finite(part), 1.0),
            "a comma-separated list of seconds (each 1 or more), e.g. 60,300,900,3600",
        ),
    }


def _webhook_token(env: Env, embedded: bool, other_secrets: list[str]) -> str | None:
    """Return GATEWAY_WEBHOOK_TOKEN: required off the embedded default, refused when weak."""
    token = env.text("GATEWAY_WEBHOOK_TOKEN")
    advice = (
        f"give at least {MIN_SECRET_LENGTH} random characters, only letters, digits and - _ . ~ "
        "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )
    if not token:
        if embedded:
            return None
        raise ConfigError(
            "GATEWAY_WEBHOOK_TOKEN is required when DATABASE_URL or REDIS_URL is set "
            f"(without it anyone can post reports and delivery reports): {advice}"
        )
    if _secret_is_weak(token) or not URL_SAFE.fullmatch(token):
        raise ConfigError(f"GATEWAY_WEBHOOK_TOKEN is too weak or not URL-safe: {advice}")
    if token in other_secrets:
        raise ConfigError(
            "GATEWAY_WEBHOOK_TOKEN must not be one of the other keys or tokens: it travels in "
            "the callback URLs, where proxies and dashboards keep it"
        )
    return token


def _yes_no(raw: str) -> bool:
    """Read a yes/no setting: yes, true, 1, on or no, false, 0, off."""
    word = raw.strip().lower()
    if word in ("yes", "true", "1", "on"):
        return True
    if word in ("no", "false", "0", "off"):
        return False
    raise ValueError(raw)


def _security_settings(env: Env, data_dir: Path, embedded: bool) -> dict[str, Any]:
    """Keys, webhook guards, rate limits and retention periods (see SECURITY.md)."""
    networks = "a comma-separated list of addresses or CIDR ranges, e.g. 10.0.0.0/8,192.0.2.7"
    days = "a whole number of days"
    return {
        "PREVIOUS_SECRET_KEYS": _secret_list(env, "GATEWAY_PREVIOUS_SECRET_KEYS"),
        "ENCRYPTION_KEYS": _encryption_keys(env, data_dir, embedded),
        "ALLOWED_IPS": env.items("GATEWAY_ALLOWED_IPS", [], _network, networks),
        "TRUSTED_PROXIES": env.items(
            "GATEWAY_TRUSTED_PROXIES",
            [],
            _proxy_network,
            f"{networks}, none wider than /{WIDEST_PROXY_PREFIX[4]} (IPv4) "
            f"or /{WIDEST_PROXY_PREFIX[6]} (IPv6)",
        ),
        "MAX_BODY_BYTES": env.whole(
            "GATEWAY_MAX_BODY_BYTES", 16384, "a whole number of bytes, 0 for no limit", minimum=0
        ),
        "RATE_PER_ADDRESS": env.rate("GATEWAY_RATE_PER_ADDRESS", (1200, 60)),
        # The desk (gateway/desk): a session unused this long must log in again; its cookie is
        # sent over HTTPS only, except on the embedded default (http://127.0.0.1 on one machine).
        "DESK_IDLE_MINUTES": env.whole(
            "GATEWAY_DESK_IDLE_MINUTES", 30, "a whole number of minutes", minimum=1
        ),
        "DESK_SECURE_COOKIES": env.parse(
            "GATEWAY_DESK_SECURE_COOKIES", not embedded, _yes_no, "yes or no (or 1 or 0)"
        ),
        "SMS_CONVERSATION_TTL": env.whole(
            "GATEWAY_SMS_CONVERSATION_TTL", 3600, "a whole number of seconds", minimum=1
        ),
        "STATUS_TRIES": env.rate("GATEWAY_STATUS_TRIES", (6, 3600)),
        "RATE_PER_CALLER": env.rate("GATEWAY_RATE_PER_CALLER", (30, 60)),
        # Replies to one SMS sender: beyond, messages are still read but get no answer.
        "SMS_PER_SENDER": env.rate("GATEWAY_SMS_PER_SENDER", (20, 3600)),
        "FLOOD_CASES_PER_HOUR": env.whole(
            "GATEWAY_FLOOD_CASES_PER_HOUR", 5, "a whole number of cases per hour", minimum=0
        ),
        "KEEP_OUTBOX_DAYS": env.whole("GATEWAY_KEEP_OUTBOX_DAYS", 30, days, minimum=0),
        "KEEP_FREE_TEXT_DAYS": env.whole("GATEWAY_KEEP_FREE_TEXT_DAYS", 90, days, minimum=0),
        # How long a pseudonym stays linked to its cases, places and SMS (flood control, STOP).
        "KEEP_REPORTER_LINK_DAYS": env.whole(
            "GATEWAY_KEEP_REPORTER_LINK_DAYS", 30, days, minimum=1
        ),
        "PURGE_INTERVAL": env.whole(
            "GATEWAY_PURGE_INTERVAL", 3600, "a whole number of seconds", minimum=1
        ),
    }
