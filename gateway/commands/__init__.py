"""The `gateway` command's sub-commands, one module per concern."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask import Flask


def run_counted(task: Callable[[Flask], dict[str, int]], *, verb: str, none: str) -> None:
    """Run a maintenance task on the configured database and print what it counted, by kind."""
    from gateway import create_app
    from gateway.db import get_engine
    from gateway.migrate import upgrade

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
