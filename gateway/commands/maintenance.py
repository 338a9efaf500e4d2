"""`gateway keys` and `gateway purge`: encryption keys, re-encryption and retention, on demand."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask import Flask

from gateway import create_app
from gateway.privacy.retention import purge
from gateway.storage.crypto import new_key, rotate_stored
from gateway.storage.db import get_engine
from gateway.storage.migrate import upgrade


def run_counted(task: Callable[[Flask], dict[str, int]], *, verb: str, none: str) -> None:
    """Run a maintenance task on the configured database and print what it counted, by kind."""
    app = create_app()
    upgrade(app)
    try:
        counts = task(app)
    finally:
        get_engine(app).dispose()
    for name, count in counts.items():
        click.echo(f"{name}: {verb} {count}")
    if not counts:
        click.echo(none)


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


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
def purge_command(dry_run: bool) -> None:
    """Remove expired data: outbox bodies, closed cases' free text, stale sessions."""
    run_counted(
        lambda app: purge(app, dry_run=dry_run),
        verb="would remove" if dry_run else "removed",
        none="nothing to purge in this database",
    )


COMMANDS = [keys, purge_command]
