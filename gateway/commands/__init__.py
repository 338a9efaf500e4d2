"""The `gateway` command: one module per group of sub-commands (serve, worker, data, keys...)."""

from __future__ import annotations

import sys

import click

from gateway.commands import (
    audit,
    cases,
    data,
    database,
    export,
    flows,
    handover,
    i18n,
    maintenance,
    primero,
    run,
    secrets,
    smsgate,
    trends,
    users,
)
from gateway.errors import ConfigError, DatabaseBehind
from gateway.logs import UNREACHABLE, unreachable


@click.group()
def cli() -> None:
    """Community alert gateway: USSD/SMS alerts routed to child-protection focal points."""


def _register() -> None:
    """Add every sub-command to the group (calling it again changes nothing)."""
    for module in (data, run, database, maintenance, cases, flows, i18n, secrets, smsgate,
                   users, audit, primero, export, trends, handover):
        for command in module.COMMANDS:
            cli.add_command(command)


def main() -> None:
    """Run the `gateway` command, turning configuration and dependency errors into one line."""
    _register()
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"Configuration error: {exc}", err=True)
        sys.exit(2)
    except DatabaseBehind as exc:
        click.echo(str(exc), err=True)  # it says what to run
        sys.exit(3)
    except UNREACHABLE as exc:
        click.echo(unreachable(exc) or type(exc).__name__, err=True)
        sys.exit(3)
