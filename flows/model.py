"""The data the engine works with: places, submissions, screens and parsed flows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

STEP_TYPES = ("language", "menu", "location", "input", "end")
CHANNELS = ("ussd", "sms")
ACCEPTS = ("text", "digits")
# Flags the gateway may give a session when it begins (Engine.begin): an option with
# `requires: <flag>` is shown only to a session that has it.
FLAGS = ("focal_point",)


@dataclass(frozen=True)
class Place:
    """A location from the database, supplied by the gateway."""

    pcode: str
    name: str
    has_children: bool
    # Its own name in a language that has one; other languages read `name`. Left out of the
    # hash: a dict has none, and the p-code already tells places apart.
    names: Mapping[str, str] = field(default_factory=dict, hash=False)

    def name_in(self, lang: str | None) -> str:
        """Return the name a caller reading lang is shown: their language's, else `name`."""
        return self.names.get(lang or "") or self.name


class PlaceDirectory(Protocol):
    """Read access to the location hierarchy."""

    def children(self, pcode: str | None) -> list[Place]:
        """Return the places directly under pcode (None: top level), sorted by `name`.

        Sorted by the default name in every language, so that a place keeps its number
        whichever language a caller reads the menu in.
        """
        ...

    def get(self, pcode: str) -> Place | None:
        """Return the place with this pcode, or None."""
        ...


@dataclass(frozen=True)
class Submission:
    """What a flow hands to the gateway when the caller confirms."""

    flow: str
    language: str
    answers: dict[str, str | None]


@dataclass(frozen=True)
class Screen:
    """One USSD screen: translated text that is guaranteed to fit, and whether it ends."""

    text: str
    end: bool

    def ussd(self) -> str:
        """Return the answer body for the USSD provider, with its CON/END prefix."""
        return ("END " if self.end else "CON ") + self.text


@dataclass(frozen=True)
class Option:
    """One numbered choice of a menu step, as written in a flow file."""

    label: str
    value: str | None = None
    has_value: bool = False
    next: str | None = None
    flow: str | None = None
    line: int = 0
    # The number given with `number:` in the flow file; None: numbered by position.
    number: int | None = None
    # Shown only to a session with this flag (one of FLAGS); None: shown to every session.
    requires: str | None = None
    # Steps of the flow it starts that the session passes over from then on (a relay asks no
    # follow-up SMS and no call: the number is a focal point's, not a reporter's).
    skip: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a flow file or its translations, with where it is."""

    file: str
    step: str | None
    kind: str
    message: str
    language: str | None = None

    def __str__(self) -> str:
        where = self.file + (f": step {self.step!r}" if self.step else "")
        if self.language:
            where += f" [{self.language}]"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Step:
    """One step of a flow, as written in a flow file."""

    name: str
    type: str
    text: str | None = None
    save: str | None = None
    next: str | None = None
    submit: bool = False
    options: tuple[Option, ...] = ()
    line: int = 0
    # An input step: what a typed answer may be (text or digits); its options are taken first.
    accept: str | None = None
    # The channels the step is shown on (empty: all); elsewhere it is passed over.
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Flow:
    """A parsed flow: its name (the file name), its first step and its steps."""

    name: str
    start: str
    steps: dict[str, Step] = field(default_factory=dict)
    path: str = ""
