"""Areas where no woman receives alerts: cases about girls cannot go to a woman there."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.models import FocalPoint, FocalPointLocation, Gender, Role
from gateway.trends.places import Place, PlaceTree


def women_places(session: Session) -> set[int]:
    """Return the places covered by an active child-protection focal point who is a woman."""
    return set(session.scalars(
        select(FocalPointLocation.location_id)
        .join(FocalPoint, FocalPoint.id == FocalPointLocation.focal_point_id)
        .where(FocalPoint.active.is_(True), FocalPoint.role == Role.CHILD_PROTECTION,
               FocalPoint.gender == Gender.FEMALE)
    ))


def without_woman(session: Session, level: int, allowed: Collection[int] | None = None,
                  tree: PlaceTree | None = None) -> list[Place]:
    """Return the areas at `level` (within allowed) that no such woman covers.

    A woman covers an area when her places include it or a place above it: she receives every
    alert made there. One covering only part of it leaves the rest bare.
    """
    tree = tree or PlaceTree.load(session)
    covered = women_places(session)
    return [area for area in tree.areas(level, allowed)
            if not any(place.id in covered for place in tree.chain(area.id))]
