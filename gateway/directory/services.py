"""The service directory: the nearest service of the kind a report needs, up the places.

The last screen of a complaint, a help request or an alert of sexual violence names one service
(flows/definitions/README.md, "Services on the last screen"). Which kinds a report needs, in
order of preference, is decided here from its answers' codes; the nearest service wins: one
covering the caller's own place, else its parent's, and so on up to the country (a service
covering an area covers everything in it). Among equally near ones, the first kind of the list,
then one that speaks the caller's language, then the oldest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.models import Location, Service, ServiceKind, ServiceLocation

GBV, HEALTH = ServiceKind.GBV, ServiceKind.HEALTH
SHELTER, PSYCHOSOCIAL = ServiceKind.SHELTER, ServiceKind.PSYCHOSOCIAL
REINTEGRATION = ServiceKind.REINTEGRATION

# Complaints: sexual exploitation or abuse needs a GBV service (care for survivors, health
# included); other misconduct, the help the person harmed needs now, if any.
COMPLAINT_WHAT = {"sexual_exploitation_abuse": (GBV, HEALTH)}
COMPLAINT_HELP = {"health": (HEALTH,), "safety": (SHELTER, GBV), "psychosocial": (PSYCHOSOCIAL,)}
# Help requests (a child who left an armed group): health and safety first, else reintegration.
HELP_NEED = {"health": (HEALTH,), "safety": (SHELTER, GBV)}
HELP_GIRL_SAFETY = (GBV, SHELTER)  # a girl who needs to be safe: GBV services first
# Alerts: sexual violence only.
ALERT_CATEGORY = {"sexual_violence": (GBV, HEALTH)}


def kinds_needed(flow: str, answers: Mapping[str, str | None]) -> tuple[ServiceKind, ...]:
    """Return the kinds of service a finished report points to, preferred first; () for none."""
    if flow == "complaint":
        what = COMPLAINT_WHAT.get(answers.get("what") or "")
        return what or COMPLAINT_HELP.get(answers.get("help_now") or "", ())
    if flow == "help":
        need = answers.get("need") or ""
        if need == "safety" and answers.get("sex") == "girls":
            return HELP_GIRL_SAFETY
        return HELP_NEED.get(need, (REINTEGRATION,))
    if flow == "alert":
        return ALERT_CATEGORY.get(answers.get("category") or "", ())
    return ()


def _chain(session: Session, pcode: str | None) -> list[int]:
    """Return the ids of a place and its ancestors, nearest first; top-level places if none."""
    location = (
        session.scalar(select(Location).where(Location.pcode == pcode)) if pcode else None
    )
    if location is None:
        return list(session.scalars(select(Location.id).where(Location.parent_id.is_(None))))
    ids: list[int] = []
    while location is not None and location.id not in ids:
        ids.append(location.id)
        location = location.parent
    return ids


def nearest_service(
    session: Session, pcode: str | None, kinds: Sequence[ServiceKind], language: str = ""
) -> Service | None:
    """Return the active service of one of kinds nearest the place, or None."""
    if not kinds:
        return None
    chain = _chain(session, pcode)
    if not chain:
        return None
    found = session.execute(
        select(Service, ServiceLocation.location_id)
        .join(ServiceLocation, ServiceLocation.service_id == Service.id)
        .where(Service.active.is_(True), Service.kind.in_(list(kinds)),
               ServiceLocation.location_id.in_(chain))
    ).all()
    if not found:
        return None
    # A place's ancestors are few: ranked here, the same on every database.
    distance = {location_id: index for index, location_id in enumerate(chain)}
    if pcode is None:
        distance = dict.fromkeys(chain, 0)

    def rank(row: tuple[Service, int]) -> tuple[int, int, bool, int]:
        service, location_id = row
        speaks = language in (service.languages or []) or not service.languages
        return distance[location_id], list(kinds).index(service.kind), not speaks, service.id

    return min(found, key=rank)[0]
