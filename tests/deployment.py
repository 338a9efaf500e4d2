"""A small deployment written straight into the test database."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import FocalPoint, Gender, Level, Location, Role

# Country > prefecture > sub-prefecture, as in the Central African Republic.
PLACES = [
    ("CF", "Central African Republic", None),
    ("CF11", "Bangui", "CF"),
    ("CF52", "Ouaka", "CF"),
    ("CF521", "Bambari", "CF52"),
    ("CF522", "Ippy", "CF52"),
    ("CF61", "Haute-Kotto", "CF"),
    ("CF611", "Bria", "CF61"),
]

OUAKA_PHONE = "+23670000011"
OUAKA_BACKUP_PHONE = "+23670000012"
NATIONAL_PHONE = "+23670000001"


def add_places(app: Flask, places: Sequence[tuple[str, str, str | None]] = PLACES) -> None:
    """Write locations (parents before children)."""
    with session_scope(app) as session:
        by_code: dict[str, Location] = {}
        for pcode, name, parent in places:
            parent_row = by_code.get(parent) if parent else None
            row = Location(
                pcode=pcode,
                name=name,
                parent=parent_row,
                depth=(parent_row.depth + 1) if parent_row else 0,
            )
            session.add(row)
            by_code[pcode] = row
        session.commit()


def add_focal_point(
    app: Flask,
    name: str,
    phone: str,
    pcodes: Sequence[str],
    *,
    categories: Sequence[str] = ("*",),
    level: Level = Level.PRIMARY,
    gender: Gender | None = Gender.FEMALE,
    languages: Sequence[str] = ("en",),
    role: Role = Role.CHILD_PROTECTION,
    active: bool = True,
) -> int:
    """Write one focal point (child protection unless told) covering the places; its id."""
    with session_scope(app) as session:
        locations = list(session.scalars(select(Location).where(Location.pcode.in_(pcodes))))
        assert len(locations) == len(pcodes), pcodes
        row = FocalPoint(
            name=name,
            phone=phone,
            organisation="UNICEF",
            gender=gender,
            languages=list(languages),
            categories=list(categories),
            role=role,
            level=level,
            active=active,
            locations=locations,
        )
        session.add(row)
        session.commit()
        return row.id


def standard(app: Flask) -> None:
    """Places, a primary and a backup for Ouaka, and a national focal point."""
    add_places(app)
    add_focal_point(app, name="Ouaka CP", phone=OUAKA_PHONE, pcodes=["CF52"])
    add_focal_point(
        app, name="Ouaka backup", phone=OUAKA_BACKUP_PHONE, pcodes=["CF52"], level=Level.BACKUP
    )
    add_focal_point(
        app, name="National CP", phone=NATIONAL_PHONE, pcodes=["CF"], languages=["fr"],
        gender=Gender.MALE,
    )


TRIAGE_PHONE = "+23670000099"
OUAKA_TRIAGE_PHONE = "+23670000091"
OUAKA_TRIAGE_BACKUP_PHONE = "+23670000092"


def add_triage(
    app: Flask, phone: str = TRIAGE_PHONE, pcodes: Sequence[str] = ("CF",), *,
    name: str = "Triage desk", level: Level = Level.PRIMARY,
) -> int:
    """Write one focal point with the `triage` role (national unless told); its id."""
    return add_focal_point(app, name=name, phone=phone, pcodes=list(pcodes), level=level,
                           role=Role.TRIAGE)


def with_triage(app: Flask) -> None:
    """The standard deployment and a national triage desk (SMS no flow understood)."""
    standard(app)
    add_triage(app)
