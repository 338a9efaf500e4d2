"""The place hierarchy in memory: which area at level N a place belongs to."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.models import Location


@dataclass(frozen=True)
class Place:
    """A place as trends name it: its id, p-code, names, parent."""

    id: int
    pcode: str
    name: str
    parent_id: int | None
    names: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def name_in(self, lang: str | None) -> str:
        """Return the place's name in lang, or its default name."""
        return self.names.get(lang or "") or self.name


class PlaceTree:
    """Every place, with the chain from each up to its country (depth 0)."""

    def __init__(self, places: Collection[Place]) -> None:
        self.places = {place.id: place for place in places}
        self._chains: dict[int, list[Place]] = {}

    @classmethod
    def load(cls, session: Session) -> PlaceTree:
        """Read every place once."""
        rows = session.execute(
            select(Location.id, Location.pcode, Location.name, Location.parent_id, Location.names)
        ).all()
        return cls([Place(id=row[0], pcode=row[1], name=row[2], parent_id=row[3],
                          names=dict(row[4] or {})) for row in rows])

    def chain(self, place_id: int) -> list[Place]:
        """Return the place and those above it, country first."""
        found = self._chains.get(place_id)
        if found is None:
            found, seen = [], set()
            current = self.places.get(place_id)
            while current is not None and current.id not in seen:  # a loop in bad data: stop
                seen.add(current.id)
                found.append(current)
                current = self.places.get(current.parent_id) if current.parent_id else None
            found.reverse()
            self._chains[place_id] = found
        return found

    def depth(self, place_id: int) -> int:
        """Return how deep a place is: 0 for a country."""
        return len(self.chain(place_id)) - 1

    def area(self, place_id: int, level: int, allowed: Collection[int] | None = None) -> Place:
        """Return the place's area at `level` (the place itself when it is shallower).

        allowed: the places a user may see; an area they do not wholly cover is replaced by the
        highest of the place's own ancestors they do cover.
        """
        chain = self.chain(place_id)
        area = chain[level] if len(chain) > level else chain[-1]
        if allowed is None or area.id in allowed:
            return area
        return next((place for place in chain if place.id in allowed), chain[-1])

    def areas(self, level: int, allowed: Collection[int] | None = None) -> list[Place]:
        """Return the areas at `level` within `allowed`, as alerts are counted under them.

        A place with nothing below it that is shallower than `level` is an area of its own;
        a user who covers only part of an area has their own places instead.
        """
        parents = {place.parent_id for place in self.places.values()}
        found: dict[int, Place] = {}
        for place_id in self.places:
            if allowed is not None and place_id not in allowed:
                continue
            if self.depth(place_id) >= level or place_id not in parents:
                area = self.area(place_id, level, allowed)
                found[area.id] = area
        return sorted(found.values(), key=lambda place: place.pcode)
