"""`gateway db`: the database schema, migrated only on demand."""

from __future__ import annotations

import click

from gateway import create_app
from gateway.storage.db import get_engine
from gateway.storage.migrate import current_revision, upgrade


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration and say which."""
    app = create_app()
    try:
        applied = upgrade(app)
        now = current_revision(app)
    finally:
        get_engine(app).dispose()
    if not applied:
        click.echo(f"Database already up to date (at {now}).")
        return
    noun = "migration" if len(applied) == 1 else "migrations"
    click.echo(f"Applied {len(applied)} {noun}:")
    for migration in applied:
        click.echo(f"  {migration}")
    click.echo(f"Database is at {now}.")


COMMANDS = [db]
