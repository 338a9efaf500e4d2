"""`gateway keys`: create encryption keys and re-encrypt stored data with the newest one."""

from __future__ import annotations

import click

from gateway.commands import run_counted
from gateway.crypto import new_key, rotate_stored


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
    run_counted(
        lambda app: rotate_stored(app, dry_run=dry_run),
        verb="would re-encrypt" if dry_run else "re-encrypted",
        none="no encrypted data stored yet",
    )


COMMANDS = [keys]
