"""Locations from the database, as the flows see them."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from flows import Place
from gateway.db import session_scope
from gateway.models import Location


class DatabasePlaces:
    """A PlaceDirectory reading the location hierarchy from the database."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def children(self, pcode: str | None) -> list[Place]:
        """Return the places directly under `pcode` (the top level for None), by name."""
        child = aliased(Location)
        has_children = exists().where(child.parent_id == Location.id)
        query = select(Location.pcode, Location.name, has_children).order_by(Location.name)
        with session_scope(self.app) as session:
            if pcode is None:
                query = query.where(Location.parent_id.is_(None))
            else:
                parent_id = session.scalar(select(Location.id).where(Location.pcode == pcode))
                if parent_id is None:
                    return []
                query = query.where(Location.parent_id == parent_id)
            return [Place(code, name, bool(more)) for code, name, more in session.execute(query)]

    def get(self, pcode: str) -> Place | None:
        """Return the place with that p-code, if any."""
        child = aliased(Location)
        has_children = exists().where(child.parent_id == Location.id)
        query = select(Location.pcode, Location.name, has_children).where(Location.pcode == pcode)
        with session_scope(self.app) as session:
            row = session.execute(query).first()
        return Place(row[0], row[1], bool(row[2])) if row else None
