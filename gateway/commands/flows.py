"""`gateway flows check`: every problem of the flow files and their translations."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click

from flows.check import check_flows
from flows.model import Problem
from gateway.config import ROOT


def default_locales() -> Path:
    """Return the locales folder the gateway reads (GATEWAY_LOCALES_DIR, else locales/)."""
    return Path(os.environ.get("GATEWAY_LOCALES_DIR") or ROOT / "locales")


def _relative(path: str) -> str:
    """Show a path under the current folder as relative to it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def report(problems: Sequence[Problem], what: str, checked: str) -> None:
    """Print one line per problem and a summary; exit 1 when there is any problem."""
    for problem in problems:
        shown = Problem(
            _relative(problem.file), problem.step, problem.kind, problem.message, problem.language
        )
        click.echo(str(shown))
    if not problems:
        click.echo(f"{what}: no problem ({checked})")
        return
    counts = Counter(problem.kind for problem in problems)
    kinds = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    click.echo(f"{what}: {len(problems)} problem(s): {kinds}")
    raise SystemExit(1)


def split_codes(raw: str | None) -> list[str] | None:
    """Read a comma-separated list of language codes (None: every configured language)."""
    if raw is None:
        return None
    return [code.strip() for code in raw.split(",") if code.strip()]


@click.group("flows")
def flows_group() -> None:
    """Check the conversation flows."""


@flows_group.command("check")
@click.option(
    "--definitions", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
    help="Folder of flow files (default: flows/definitions).",
)
@click.option(
    "--locales", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
    help="Locales folder (default: GATEWAY_LOCALES_DIR, else locales/).",
)
@click.option(
    "--languages", default=None,
    help="Comma-separated language codes (default: every one in locales/languages.toml).",
)
def check(definitions: Path | None, locales: Path | None, languages: str | None) -> None:
    """Report unknown, unreachable and dead-end steps, translations and screens too long."""
    codes = split_codes(languages)
    problems = check_flows(definitions, locales or default_locales(), codes)
    checked = "languages: " + (", ".join(codes) if codes is not None else "all configured")
    report(problems, "flows check", checked)


COMMANDS = [flows_group]
