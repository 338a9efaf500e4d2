"""requirements.lock pins every runtime dependency, so the audit in CI sees all of them."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "community-alert-gateway"


def _name(requirement: str) -> str:
    """Return a requirement's distribution name, normalised as pip compares them."""
    bare = re.split(r"[<>=!~\[;\s]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


def _locked() -> dict[str, str]:
    """Return the pinned version of each package of requirements.lock, by normalised name."""
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_name(name)] = version.strip()
    return pins


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Tell whether a requirement is needed here: its marker holds for this Python and extras."""
    if requirement.marker is None:
        return True
    return any(
        requirement.marker.evaluate({"extra": extra}) for extra in (extras or {""})
    )


def installed_runtime_dependencies() -> dict[str, str]:
    """Return name -> installed version of every package the project needs to run.

    Walks Requires-Dist from the project's own requirements (no extras: tools are not shipped),
    transitively, honouring markers and the extras each requirement asks of the next.
    """
    found: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(PROJECT, frozenset())]
    while todo:
        name, extras = todo.pop()
        for raw in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(raw)
            if not _applies(requirement, extras):
                continue
            key = canonicalize_name(requirement.name)
            wanted = set(requirement.extras)
            if key in found and wanted <= found[key]:
                continue
            found[key] = found.get(key, set()) | wanted
            todo.append((key, frozenset(found[key])))
    return {name: importlib.metadata.version(name) for name in sorted(found)}


def test_every_runtime_dependency_is_pinned_in_the_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(requirement) for requirement in project["dependencies"]}
    assert declared - set(_locked()) == set()


def test_the_lock_pins_every_installed_runtime_dependency_at_its_installed_version() -> None:
    locked = _locked()
    installed = installed_runtime_dependencies()
    assert "flask" in installed and "werkzeug" in installed  # the walk went past the first level
    problems = [
        f"{name}: installed {version}, "
        + (f"locked {locked[name]}" if name in locked else "not in requirements.lock")
        for name, version in installed.items()
        if locked.get(name) != version
    ]
    assert problems == [], "requirements.lock is out of date:\n" + "\n".join(problems)
