"""`gateway purge`: remove what may not be kept any longer."""

from __future__ import annotations

import click

from gateway.commands import run_counted
from gateway.retention import purge


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
def purge_command(dry_run: bool) -> None:
    """Remove expired data: outbox bodies, closed cases' free text, stale sessions."""
    run_counted(
        lambda app: purge(app, dry_run=dry_run),
        verb="would remove" if dry_run else "removed",
        none="nothing to purge in this database",
    )


COMMANDS = [purge_command]
