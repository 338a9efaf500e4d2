"""The `gateway` command: one module per group of sub-commands (serve, worker, data, keys...)."""

from __future__ import annotations

import sys

import click

from gateway.commands import cases, data, database, flows, i18n, maintenance, run
from gateway.errors import ConfigError


@click.group()
def cli() -> None:
    """Community alert gateway: USSD/SMS alerts routed to child-protection focal points."""


def _register() -> None:
    """Add every sub-command to the group (calling it again changes nothing)."""
    for module in (data, run, database, maintenance, cases, flows, i18n):
        for command in module.COMMANDS:
            cli.add_command(command)


def main() -> None:
    """Run the `gateway` command, turning configuration errors into one clear line."""
    _register()
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"Configuration error: {exc}", err=True)
        sys.exit(2)
