"""Test doubles and helpers for the flows tests (imported by conftest and the tests)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from flows import Place, Screen, Submission

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "locales"
LANGUAGES = ["en", "fr"]
REFERENCE = "48219370"
STATUS = "Your report was received."


class MemoryPlaces:
    """The PlaceDirectory protocol over a list of (pcode, name, parent) rows."""

    def __init__(self, rows: Iterable[tuple[str, str, str | None]]) -> None:
        self.rows = list(rows)
        self.parents = {parent for _, _, parent in self.rows}

    def _place(self, pcode: str, name: str) -> Place:
        return Place(pcode=pcode, name=name, has_children=pcode in self.parents)

    def children(self, pcode: str | None) -> list[Place]:
        """Return the places under pcode, sorted by name."""
        found = [self._place(c, n) for c, n, parent in self.rows if parent == pcode]
        return sorted(found, key=lambda place: place.name)

    def get(self, pcode: str) -> Place | None:
        """Return the place with this pcode."""
        for code, name, _ in self.rows:
            if code == pcode:
                return self._place(code, name)
        return None


CAR = [
    ("CF", "Central African Republic", None),
    ("CF11", "Ouham", "CF"),
    ("CF12", "Bangui", "CF"),
    ("CF13", "Haute-Kotto", "CF"),
    ("CF111", "Bossangoa", "CF11"),
    ("CF112", "Nana-Bakassa", "CF11"),
    ("CF131", "Bria", "CF13"),
]


def long_level(count: int = 40) -> list[tuple[str, str, str | None]]:
    """Return a country with count provinces whose names are long."""
    rows: list[tuple[str, str, str | None]] = [("XX", "Country", None)]
    rows += [
        (f"XX{i:02d}", f"Province number {i:02d} of the northern highlands", "XX")
        for i in range(1, count + 1)
    ]
    return rows


class Recorder:
    """A submit callable that keeps what it receives and returns what each flow's end needs."""

    def __init__(self) -> None:
        self.calls: list[Submission] = []

    def __call__(self, submission: Submission) -> dict[str, str]:
        self.calls.append(submission)
        if submission.flow == "status":
            return {"status": STATUS}
        return {"reference": REFERENCE}


def numbers(screen: Screen) -> dict[str, str]:
    """Map each numbered line of a screen to its label."""
    found = {}
    for line in screen.text.split("\n"):
        match = re.fullmatch(r"(\d+) (.*)", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def pick(screen: Screen, label: str) -> str:
    """Return the number of the line whose label is label."""
    for number, text in numbers(screen).items():
        if text == label:
            return number
    raise AssertionError(f"no option {label!r} in:\n{screen.text}")
