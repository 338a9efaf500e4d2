"""The `gateway` command."""

from __future__ import annotations

import sys

import click

from gateway.errors import ConfigError


@click.group()
def cli() -> None:
    """Community alert gateway: USSD/SMS alerts routed to child-protection focal points."""


def _register() -> None:
    from gateway.commands import cases, data, flows, i18n, keys, purge, run

    commands = (*data.COMMANDS, *run.COMMANDS, *keys.COMMANDS, *purge.COMMANDS)
    commands = (*commands, *cases.COMMANDS)
    for command in (*commands, *flows.COMMANDS, *i18n.COMMANDS):
        cli.add_command(command)


def main() -> None:
    """Run the `gateway` command, turning configuration errors into one clear line."""
    _register()
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"Configuration error: {exc}", err=True)
        sys.exit(2)
