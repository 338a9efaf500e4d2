"""`gateway db`: the database schema, migrated only on demand."""

from __future__ import annotations

import click

from gateway import create_app
from gateway.storage.migrate import upgrade


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    app = create_app()
    upgrade(app)
    click.echo("Database is up to date.")


COMMANDS = [db]
