"""`gateway i18n`: keep the translation template and catalogs current, and check them."""

from __future__ import annotations

from pathlib import Path

import click

from flows.catalog_check import (
    MESSAGES,
    Domain,
    check_catalogs,
    check_template,
    compile_catalogs,
    review_line,
    review_states,
    review_table,
    update,
)
from gateway.commands.flows import report, split_codes
from gateway.config import ROOT

# The desk's words (gateway/desk): staff read them, in French or English (English is the source).
DESK = Domain("desk", "desk.cfg", ("fr",))
DOMAINS = (MESSAGES, DESK)

_ROOT_OPTION = click.option(
    "--root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=ROOT,
    help="Repository root, holding babel.cfg and locales/ (default: this checkout).",
)


@click.group("i18n")
def i18n_group() -> None:
    """Extract, update, compile and check the translations (pybabel, see locales/README.md)."""


@i18n_group.command("update")
@_ROOT_OPTION
def update_command(root: Path) -> None:
    """Regenerate locales/messages.pot and locales/desk.pot and update every catalog to them."""
    update(root, DOMAINS)
    click.echo("updated locales/messages.pot, locales/desk.pot and the catalogs: "
               "translate what is new")


@i18n_group.command("compile")
@_ROOT_OPTION
def compile_command(root: Path) -> None:
    """Write .mo files next to the catalogs (optional: the gateway compiles them at start)."""
    compile_catalogs(root, DOMAINS)
    click.echo("compiled the catalogs")


@i18n_group.command("check")
@_ROOT_OPTION
@click.option(
    "--languages", default=None,
    help="Comma-separated language codes (default: every one in locales/languages.toml).",
)
def check_command(root: Path, languages: str | None) -> None:
    """Fail when the template is stale or a language lacks or garbles a message.

    Print each language's reviewed messages and drafts (fuzzy: served, not yet checked by a native
    speaker); drafts are reported, never a failure.
    """
    codes = split_codes(languages)
    problems = []
    for domain in DOMAINS:
        problems += check_template(root, domain) + check_catalogs(root / "locales", codes, domain)
        for state in review_states(root / "locales", codes, domain):
            prefix = "" if domain is MESSAGES else f"{domain.name}: "
            click.echo(prefix + review_line(state))
    checked = "languages: " + (", ".join(codes) if codes is not None else "all configured")
    report(problems, "i18n check", checked)


@i18n_group.command("status")
@_ROOT_OPTION
def status_command(root: Path) -> None:
    """Print the table of README.md's language list: reviewed messages and drafts per language."""
    click.echo(review_table(review_states(root / "locales")), nl=False)


COMMANDS = [i18n_group]
