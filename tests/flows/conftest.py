"""Fixtures for the flows tests: real flow files, real catalogs, an in-memory place directory."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flowkit import CAR, LANGUAGES, LOCALES, MemoryPlaces, Recorder

from flows import Catalogs, Engine, load_flows


@pytest.fixture(scope="session")
def flows_defs():
    """Load the shipped flow definitions once."""
    return load_flows()


@pytest.fixture(scope="session")
def catalogs() -> Catalogs:
    """Load the shipped catalogs."""
    return Catalogs(LOCALES, LANGUAGES)


@pytest.fixture
def make_engine(flows_defs, catalogs) -> Callable[..., Engine]:
    """Build an engine over the shipped flows and catalogs for a given set of places."""

    def make(rows=CAR, languages=LANGUAGES, default="en") -> Engine:
        return Engine(flows_defs, catalogs, MemoryPlaces(rows), list(languages), default)

    return make


@pytest.fixture
def engine(make_engine) -> Engine:
    """An engine over a small piece of the Central African Republic."""
    return make_engine()


@pytest.fixture
def submit() -> Recorder:
    """A recording submit callable."""
    return Recorder()
