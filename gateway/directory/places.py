"""Locations from the database, as the flows see them, kept in memory between imports."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from flows import Place
from gateway.storage.db import session_scope
from gateway.storage.models import Location

# How often a process asks the database whether the locations changed (an import, an edit).
CHECK_SECONDS = 1.0


@dataclass
class _Tree:
    """Every place by p-code, and the places under each (None: the top level), by `name`."""

    stamp: tuple[Any, ...]
    places: dict[str, Place] = field(default_factory=dict)
    children: dict[str | None, list[Place]] = field(default_factory=dict)


class DatabasePlaces:
    """A PlaceDirectory reading the location hierarchy from the database.

    The hierarchy is read whole and kept in each process: a hop reads no row of it. Once a
    second at most, a hop asks the database for a stamp of the table (its row count, highest
    id and latest update) and reads the hierarchy again when the stamp changed.
    """

    def __init__(self, app: Flask, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.clock = clock
        self._tree: _Tree | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def children(self, pcode: str | None) -> list[Place]:
        """Return the places directly under `pcode` (the top level for None), by name."""
        return list(self._current().children.get(pcode, ()))

    def get(self, pcode: str) -> Place | None:
        """Return the place with that p-code, if any."""
        return self._current().places.get(pcode)

    def _current(self) -> _Tree:
        tree = self._tree
        if tree is not None and self.clock() - self._checked < CHECK_SECONDS:
            return tree
        with self._lock:
            if self._tree is None or self.clock() - self._checked >= CHECK_SECONDS:
                self._tree = self._read(self._tree)
                # An empty table is asked again at the next hop: places are being loaded.
                self._checked = self.clock() if self._tree.places else float("-inf")
            return self._tree

    def _read(self, known: _Tree | None) -> _Tree:
        """Read the hierarchy again if its stamp changed since `known`."""
        stamp_query = select(
            func.count(Location.id), func.max(Location.id), func.max(Location.updated_at)
        )
        with session_scope(self.app) as session:
            stamp = tuple(session.execute(stamp_query).one())
            if known is not None and known.stamp == stamp:
                return known
            rows = session.execute(
                select(
                    Location.id, Location.pcode, Location.name, Location.names,
                    Location.parent_id,
                ).order_by(Location.name)
            ).all()
        parents = {parent_id for *_, parent_id in rows if parent_id is not None}
        pcode_of = {row_id: pcode for row_id, pcode, *_ in rows}
        tree = _Tree(stamp)
        for row_id, pcode, name, names, parent_id in rows:
            # The names in every language are read here, with the tree: a hop asks none.
            place = Place(pcode, name, row_id in parents, dict(names or {}))
            tree.places[pcode] = place
            parent = pcode_of.get(parent_id) if parent_id is not None else None
            tree.children.setdefault(parent, []).append(place)
        return tree
