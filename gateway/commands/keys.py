"""`gateway keys`: create encryption keys and re-encrypt stored data with the newest one."""

from __future__ import annotations

import click

from gateway import create_app
from gateway.crypto import new_key, rotate_stored
from gateway.db import get_engine
from gateway.migrate import upgrade


@click.group()
def keys() -> None:
    """Manage the encryption keys (GATEWAY_ENCRYPTION_KEYS, newest first)."""


@keys.command("new")
def keys_new() -> None:
    """Print a new random encryption key, to put first in GATEWAY_ENCRYPTION_KEYS."""
    click.echo(new_key())


@keys.command("rotate")
@click.option("--dry-run", is_flag=True, help="Count what would be re-encrypted; change nothing.")
def keys_rotate(dry_run: bool) -> None:
    """Re-encrypt every stored ciphertext with the newest key; older keys may then be removed.

    Pseudonyms cannot be recomputed without the numbers: with the old secret in
    GATEWAY_PREVIOUS_SECRET_KEYS, each caller is relinked on their next call.
    """
    app = create_app()
    upgrade(app)
    try:
        counts = rotate_stored(app, dry_run=dry_run)
    finally:
        get_engine(app).dispose()
    verb = "would re-encrypt" if dry_run else "re-encrypted"
    for name, count in counts.items():
        click.echo(f"{name}: {verb} {count}")
    if not counts:
        click.echo("no encrypted data stored yet")


COMMANDS = [keys]
