"""`gateway keys` and `gateway purge`: encryption keys, re-encryption and retention, on demand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask

from gateway import create_app
from gateway.commands.handover import destroy_everything
from gateway.privacy.retention import purge
from gateway.storage.crypto import KeyUsage, fingerprint, key_usage, new_key, rotate_stored
from gateway.storage.db import get_engine
from gateway.storage.migrate import require_current


def run_counted(task: Callable[[Flask], dict[str, int]], *, verb: str, none: str) -> None:
    """Run a maintenance task on the configured database and print what it counted, by kind."""
    app = create_app()
    try:
        require_current(app)
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


@keys.command("status")
def keys_status() -> None:
    """Count the stored values each key still encrypts: remove an old key only at zero."""
    app = create_app()
    try:
        require_current(app)
        usage = key_usage(app)
    finally:
        get_engine(app).dispose()
    for line in status_lines(app.config["ENCRYPTION_KEYS"], usage):
        click.echo(line)


def status_lines(keys: list[str], usage: KeyUsage) -> list[str]:
    """Describe, key by key (never shown, named by position and fingerprint), what it holds."""
    lines = []
    for number, (key, count) in enumerate(zip(keys, usage.per_key, strict=True), start=1):
        name = f"key {number} (newest)" if number == 1 else f"key {number}"
        lines.append(f"{name} {fingerprint(key)}: {_values(count)}")
    lines.append(f"under no configured key (unreadable): {_values(usage.unreadable)}")
    older = [number for number, count in enumerate(usage.per_key, start=1) if number > 1]
    still = [number for number in older if usage.per_key[number - 1]]
    if still:
        lines.append(f"Run `gateway keys rotate` before removing key {_numbers(still)}.")
    elif older:
        lines.append(f"Key {_numbers(older)} encrypts nothing stored: it may be removed "
                     "from GATEWAY_ENCRYPTION_KEYS (keep a copy for backups made under it).")
    if usage.unreadable:
        lines.append("Some values open with no configured key: a key was removed too early?")
    return lines


def _values(count: int) -> str:
    return f"{count} stored value{'' if count == 1 else 's'}"


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(number) for number in numbers)


@keys.command("rotate")
@click.option("--dry-run", is_flag=True, help="Count what would be re-encrypted; change nothing.")
def keys_rotate(dry_run: bool) -> None:
    """Re-encrypt with the newest key every value an older key encrypts; see `keys status`.

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
@click.option("--everything", is_flag=True,
              help="Destroy all the gateway's data (docs/handover.md); asks to confirm.")
@click.option("--yes-i-understand", "confirmed", is_flag=True,
              help="With --everything: confirm without typing the word (scripts).")
@click.option("--proof", type=click.Path(path_type=Path, dir_okay=False),
              help="With --everything: also write the proof to this file.")
def purge_command(dry_run: bool, everything: bool, confirmed: bool, proof: Path | None) -> None:
    """Remove expired data; with --everything, destroy all of it and print a proof."""
    if everything:
        if dry_run:
            raise click.UsageError("--everything has no dry run: `gateway archive` first")
        destroy_everything(confirmed, proof)
        return
    if confirmed or proof is not None:
        raise click.UsageError("--yes-i-understand and --proof go with --everything")
    run_counted(
        lambda app: purge(app, dry_run=dry_run),
        verb="would remove" if dry_run else "removed",
        none="nothing to purge in this database",
    )


COMMANDS = [keys, purge_command]
