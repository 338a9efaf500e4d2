"""The MRM minimal dataset of an alert: what the export prints and the Primero push sends.

Only an alert's coded answers and the desk's coded work: never the reporter's words
(Case.details), never anything about who reported, never a complaint or a help request.
An alert still waiting for triage (an SMS nobody has read yet) is left out too: it may turn out
to be a complaint.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from gateway.errors import ConfigError
from gateway.storage.models import (
    CATEGORIES,
    AgeGroup,
    Case,
    CaseKind,
    Location,
    Perpetrator,
    Verification,
    aware,
)

# Primero's MRM violation types (app/models/violation.rb, Violation::TYPES).
VIOLATION_TYPES = (
    "recruitment", "killing", "maiming", "sexual_violence", "abduction", "attack_on_schools",
    "attack_on_hospitals", "military_use", "denial_humanitarian_access", "deprivation_liberty",
)
# A count as the caller chose it, tallied as its lower bound: what is certain, never more.
COUNT_LOWER_BOUND = {"0": 0, "1": 1, "2-3": 2, "4-9": 4, "10+": 10}
# Slots of the mapping file's [fields], and the gateway values [values.<slot>] may name.
FIELD_SLOTS = ("received_date", "incident_date_end", "date_range", "verification",
               "perpetrator", "age_group")
VALUE_SLOTS: dict[str, frozenset[str]] = {
    "verification": frozenset(v.value for v in Verification),
    "perpetrator": frozenset(p.value for p in Perpetrator),
    "age_group": frozenset(a.value for a in AgeGroup),
}

# The export's columns, in order (docs/primero.md describes each): a contract.
COLUMNS = (
    "reference", "received_date", "incident_from", "incident_to", "place_pcode", "place_name",
    "admin1_name", "admin2_name", "category", "girls", "boys", "unknown", "age_band",
    "perpetrator_type", "urgent", "verification", "outcome", "duplicate_of",
    "hours_to_acknowledgement", "hours_to_close",
)


class MappingError(ConfigError):
    """The Primero mapping file cannot be read or names something unknown."""


@dataclass(frozen=True)
class Tally:
    """Children of an alert as Primero's violation_tally counts them."""

    girls: int
    boys: int
    unknown: int

    @property
    def total(self) -> int:
        return self.girls + self.boys + self.unknown

    def as_primero(self) -> dict[str, int]:
        """Return the violation_tally object."""
        return {"boys": self.boys, "girls": self.girls, "unknown": self.unknown,
                "total": self.total}


def tally(case: Case) -> Tally:
    """Tally an alert's girls and boys: each count's lower bound ("2-3" is 2, "10+" is 10).

    A count not known ("unknown", or not asked) adds nobody; when neither girls nor boys are
    counted and at least one of them is not known, the alert is about one child at least, of
    sex unknown: unknown is 1. "0" girls and "0" boys tally nobody at all.
    """
    girls = COUNT_LOWER_BOUND.get(case.girls or "", 0)
    boys = COUNT_LOWER_BOUND.get(case.boys or "", 0)
    not_known = case.girls not in COUNT_LOWER_BOUND or case.boys not in COUNT_LOWER_BOUND
    return Tally(girls=girls, boys=boys, unknown=1 if girls + boys == 0 and not_known else 0)


@dataclass(frozen=True)
class PrimeroMapping:
    """The deployment's mapping file (gateway/partners/primero_mapping.toml, documented there)."""

    categories: Mapping[str, tuple[str, ...]]
    fields: Mapping[str, str]
    values: Mapping[str, Mapping[str, str]]

    def violations(self, category: str) -> tuple[str, ...]:
        """Return the MRM violation types an alert of the category is pushed as (may be none)."""
        return self.categories.get(category, ())

    def field(self, slot: str) -> str:
        """Return the instance's field name for a slot, "" when it is left out."""
        return self.fields.get(slot, "")

    def value(self, slot: str, gateway_value: str | None) -> str | None:
        """Return the instance's option id for a gateway value, None when not mapped."""
        if gateway_value is None:
            return None
        return self.values.get(slot, {}).get(str(gateway_value))


def load_mapping(path: str | Path) -> PrimeroMapping:
    """Read and check a mapping file; MappingError names the file and what is wrong."""
    where = f"GATEWAY_PRIMERO_MAPPING ({path})"
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{where} cannot be read: {exc}") from exc
    unknown_tables = set(data) - {"categories", "fields", "values"}
    if unknown_tables:
        raise MappingError(f"{where} has unknown tables: {', '.join(sorted(unknown_tables))}")
    categories: dict[str, tuple[str, ...]] = {}
    for category, types in _table(data, "categories", where).items():
        if category not in CATEGORIES:
            raise MappingError(f"{where}: [categories] names {category!r}, not a category")
        if not isinstance(types, list) or any(t not in VIOLATION_TYPES for t in types):
            raise MappingError(f"{where}: [categories] {category} must be a list of MRM "
                               f"violation types ({', '.join(VIOLATION_TYPES)})")
        categories[category] = tuple(types)
    fields = _table(data, "fields", where)
    for slot, name in fields.items():
        if slot not in FIELD_SLOTS or not isinstance(name, str):
            raise MappingError(f"{where}: [fields] {slot} is not one of "
                               f"{', '.join(FIELD_SLOTS)} or not a text")
    values: dict[str, dict[str, str]] = {}
    for slot, table in _table(data, "values", where).items():
        allowed = VALUE_SLOTS.get(slot)
        if allowed is None or not isinstance(table, dict):
            raise MappingError(f"{where}: [values.{slot}] is not one of "
                               f"{', '.join(VALUE_SLOTS)}")
        wrong = [key for key, value in table.items()
                 if key not in allowed or not isinstance(value, str)]
        if wrong:
            raise MappingError(f"{where}: [values.{slot}] names {', '.join(wrong)}: "
                               f"use {', '.join(sorted(allowed))} = \"option id\"")
        values[slot] = dict(table)
    return PrimeroMapping(categories=categories, fields=dict(fields), values=values)


def _table(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise MappingError(f"{where}: {name} must be a table ([{name}])")
    return table


# The dataset ----------------------------------------------------------------------------------


def alerts(since: date | None = None) -> Select[tuple[Case]]:
    """Return the query of the alerts in the dataset (received on or after `since`), in order."""
    query = (
        select(Case)
        .where(Case.kind == CaseKind.ALERT, Case.needs_triage.is_(False))
        .options(joinedload(Case.location).joinedload(Location.parent)
                 .joinedload(Location.parent),
                 joinedload(Case.duplicate_of))
        .order_by(Case.created_at, Case.id)
    )
    if since is not None:
        start = datetime(since.year, since.month, since.day, tzinfo=UTC)
        query = query.where(Case.created_at >= start)
    return query


def in_dataset(case: Case) -> bool:
    """Tell whether a case belongs to the MRM dataset: an alert, read by a person."""
    return case.kind == CaseKind.ALERT and not case.needs_triage


def ancestors(location: Location | None) -> dict[int, Location]:
    """Return a place and the places above it, by depth (0: the country)."""
    found: dict[int, Location] = {}
    while location is not None and location.depth not in found:
        found[location.depth] = location
        location = location.parent
    return found


def _hours(case: Case, moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return round((aware(moment) - aware(case.created_at)).total_seconds() / 3600, 1)


def received_date(case: Case) -> date:
    """Return the day (UTC) the gateway received the alert."""
    return aware(case.created_at).date()


def incident_date(case: Case) -> date:
    """Return the incident's date if known (its first day), else the day it was received."""
    return case.incident_from or case.incident_to or received_date(case)


def dataset_row(case: Case) -> dict[str, Any]:
    """Return an alert's row of the minimal dataset, typed (None where nothing is known)."""
    places = ancestors(case.location)
    counted = tally(case)
    return {
        "reference": case.reference,
        "received_date": received_date(case).isoformat(),
        "incident_from": case.incident_from.isoformat() if case.incident_from else None,
        "incident_to": case.incident_to.isoformat() if case.incident_to else None,
        "place_pcode": case.location.pcode if case.location else None,
        "place_name": case.location.name if case.location else None,
        "admin1_name": places[1].name if 1 in places else None,
        "admin2_name": places[2].name if 2 in places else None,
        "category": case.category,
        "girls": counted.girls,
        "boys": counted.boys,
        "unknown": counted.unknown,
        "age_band": case.age_group.value if case.age_group else None,
        "perpetrator_type": case.perpetrator.value if case.perpetrator else None,
        "urgent": case.urgent,
        "verification": Verification(case.verification or Verification.UNVERIFIED).value,
        "outcome": case.outcome.value if case.outcome else None,
        "duplicate_of": case.duplicate_of.reference if case.duplicate_of else None,
        "hours_to_acknowledgement": _hours(case, case.acknowledged_at),
        "hours_to_close": _hours(case, case.closed_at),
    }
