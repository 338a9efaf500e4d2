"""`gateway purge`: remove what may not be kept any longer."""

from __future__ import annotations

import click

from gateway import create_app
from gateway.db import get_engine
from gateway.migrate import upgrade
from gateway.retention import purge


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
def purge_command(dry_run: bool) -> None:
    """Remove expired data: outbox bodies, closed cases' free text, stale sessions."""
    app = create_app()
    upgrade(app)
    try:
        counts = purge(app, dry_run=dry_run)
    finally:
        get_engine(app).dispose()
    verb = "would remove" if dry_run else "removed"
    for name, count in counts.items():
        click.echo(f"{name}: {verb} {count}")
    if not counts:
        click.echo("nothing to purge in this database")


COMMANDS = [purge_command]
