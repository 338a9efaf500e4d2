"""`gateway secrets new`: a complete set of strong secrets to paste into the environment file."""

from __future__ import annotations

import secrets

import click

from gateway.storage.crypto import check_key, new_key

# token_urlsafe(n) gives about 1.3 characters per byte (64 and 43 here, config.py wants 32 or
# more), only the letters, digits, - and _ that a callback URL keeps as they are.
SECRET_KEY_BYTES = 48
TOKEN_BYTES = 32


def _encryption_key() -> str:
    """Return a new encryption key that check_key() accepts."""
    while True:
        key = new_key()
        if check_key(key) is None:
            return key


def settings_block() -> str:
    """Return KEY=value lines, with short comments, holding a new value for every secret."""
    lines = [
        "# Community alert gateway secrets, made by `gateway secrets new`.",
        "# Keep this file readable by the gateway's user only (chmod 0600), and a copy offline:",
        "# without GATEWAY_SECRET_KEY and GATEWAY_ENCRYPTION_KEYS the stored data cannot be",
        "# linked or read again.",
        "",
        "# Keys the callers' pseudonyms; the same on every process. When changing it, put the",
        "# old one in GATEWAY_PREVIOUS_SECRET_KEYS.",
        f"GATEWAY_SECRET_KEY={secrets.token_urlsafe(SECRET_KEY_BYTES)}",
        "# Every Africa's Talking callback URL carries ?token=<this>.",
        f"GATEWAY_WEBHOOK_TOKEN={secrets.token_urlsafe(TOKEN_BYTES)}",
        "# Bearer token for /metrics and the details of /healthz.",
        f"GATEWAY_METRICS_TOKEN={secrets.token_urlsafe(TOKEN_BYTES)}",
        "# Encryption at rest, newest key first: to rotate, put a new key (`gateway keys new`)",
        "# in front, run `gateway keys rotate`, remove the old one when `gateway keys status`",
        "# shows nothing left under it.",
        f"GATEWAY_ENCRYPTION_KEYS={_encryption_key()}",
    ]
    return "\n".join(lines)


@click.group("secrets")
def secrets_group() -> None:
    """Make the secrets a deployment needs."""


@secrets_group.command("new")
def secrets_new() -> None:
    """Print new values for every secret, to paste into the environment file; writes nothing.

    Only for a new deployment: a running one that changes its secret key or drops an encryption
    key loses its links to earlier callers or its stored data (see `gateway keys`).
    """
    click.echo(settings_block())


COMMANDS = [secrets_group]
