"""Every `gateway` command the docs tell an operator to type exists, with the options they give."""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import click
import pytest

from gateway.commands import _register, cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/deploy.md", "SECURITY.md", "docs/handover.md", "docs/primero.md"]
# How the docs call the command: installed, from a checkout's venv, or as the services run it.
PROGRAMS = ("gateway", ".venv/bin/gateway", "/opt/gateway/.venv/bin/gateway", "gateway-admin")
SHELL_OPERATORS = {"&&", "||", "|", ";", ">", ">>", "<", "2>&1", "&"}


def shell_lines(text: str) -> list[str]:
    """The lines of every ```sh block, with continuation lines joined."""
    lines: list[str] = []
    for block in re.findall(r"```(?:sh|shell|bash|console)\n(.*?)```", text, flags=re.DOTALL):
        lines.extend(block.replace("\\\n", " ").splitlines())
    return lines


def gateway_calls(line: str) -> list[list[str]]:
    """Each `gateway ...` command on a shell line, as its arguments."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return []
    calls: list[list[str]] = []
    current: list[str] | None = None
    starts = True  # at the start of a command: the line's, or after an operator
    for word in words:
        word = word.lstrip("(") if starts else word
        if word in SHELL_OPERATORS or word.startswith((">", "2>")):
            if current is not None:
                calls.append(current)
            current, starts = None, True
        elif current is not None:
            current.append(word)
        elif starts and word in PROGRAMS:
            current = []
        else:
            starts = False
    if current is not None:
        calls.append(current)
    return calls


def documented_calls() -> list[tuple[str, list[str]]]:
    found = []
    for name in DOCS:
        for line in shell_lines((ROOT / name).read_text()):
            for args in gateway_calls(line):
                found.append((name, args))
    return found


def _unparsed(context: click.Context) -> list[str]:
    with warnings.catch_warnings():  # click 9 folds protected_args into args
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*context.protected_args, *context.args]


def parse(args: list[str]) -> None:
    """Parse args as the `gateway` command would, down to the sub-command; run nothing."""
    _register()
    command: click.Command = cli
    context = command.make_context("gateway", list(args), resilient_parsing=False)
    rest = _unparsed(context)
    while isinstance(command, click.Group) and rest:
        name, sub, rest = command.resolve_command(context, rest)
        assert name is not None and sub is not None
        command = sub
        context = command.make_context(name, rest, parent=context)
        rest = _unparsed(context) if isinstance(command, click.Group) else []


def test_the_docs_show_commands() -> None:
    calls = documented_calls()
    assert len(calls) >= 15, calls  # the walk in docs/deploy.md is made of them
    assert any(args[:2] == ["db", "upgrade"] for _doc, args in calls)
    assert any(args[:2] == ["keys", "status"] for _doc, args in calls)
    assert any(args[:2] == ["secrets", "new"] for _doc, args in calls)


@pytest.mark.parametrize(("doc", "args"), documented_calls(), ids=lambda value: " ".join(value)
                         if isinstance(value, list) else value)
def test_every_documented_command_exists_with_its_options(
    doc: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # A file the example names (locations.csv, an archive, a key) is opened or checked as it is
    # parsed: one stands in for it.
    for index, arg in enumerate(args):
        if arg.endswith((".csv", ".age", ".key")):
            args[index] = str(tmp_path / Path(arg).name)
            Path(args[index]).write_text("")
    try:
        parse(args)
    except click.UsageError as exc:
        pytest.fail(f"{doc}: `gateway {' '.join(args)}`: {exc}")
