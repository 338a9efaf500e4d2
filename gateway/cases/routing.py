"""Who receives a case: the focal points covering its place and its category, nearest first."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from sqlalchemy import Integer, Select, bindparam, func, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from gateway.cases.contact import consented, contact_recipients, has_number
from gateway.cases.links import link_quietly
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseStatus,
    FocalPoint,
    FocalPointLocation,
    Gender,
    Level,
    Location,
    OutboxMessage,
    OutboxPurpose,
    Role,
    utcnow,
)

log = logging.getLogger(__name__)

# A literal 0, not a bound parameter: PostgreSQL needs the recursive query's column types to agree.
_ZERO = literal_column("0", Integer)

# Cases a woman should receive wherever one covers the area (design: "do no harm").
WOMAN_CATEGORIES = frozenset({"sexual_violence"})
WOMAN_SEXES = frozenset({"girls", "both"})


@cache
def _covering(by_place: bool) -> Select[tuple[FocalPoint, int]]:
    """Return the query of levels_covering, built once: its values are bound when run.

    Building it (a recursive CTE over an alias) cost more than running it, every routing.
    """
    if not by_place:
        top = select(Location.id).where(Location.parent_id.is_(None))
        query = select(FocalPoint, _ZERO.label("distance")).join(
            FocalPointLocation, FocalPointLocation.focal_point_id == FocalPoint.id
        ).where(FocalPointLocation.location_id.in_(top))
    else:
        # The case's location and all its ancestors, in one recursive query.
        chain = (
            select(Location.id, Location.parent_id, _ZERO.label("distance"))
            .where(Location.id == bindparam("location_id"))
            .cte("chain", recursive=True)
        )
        parent = aliased(Location)
        chain = chain.union_all(
            select(parent.id, parent.parent_id, (chain.c.distance + 1).label("distance")).where(
                parent.id == chain.c.parent_id
            )
        )
        query = (
            select(FocalPoint, chain.c.distance)
            .join(FocalPointLocation, FocalPointLocation.focal_point_id == FocalPoint.id)
            .join(chain, chain.c.id == FocalPointLocation.location_id)
        )
    return query.where(
        FocalPoint.active.is_(True), FocalPoint.role == bindparam("role")
    ).order_by(FocalPoint.id)


def levels_covering(
    session: Session, case: Case, role: Role = Role.CHILD_PROTECTION
) -> dict[int, list[FocalPoint]]:
    """Return active focal points of a role covering the case's place, by distance.

    Distance 0 is the case's own location, 1 its parent, and so on up to the country: a
    location covers everything below it. A case without a location is covered by those who
    cover a top-level location (distance 0).
    """
    query = _covering(case.location_id is not None)
    values: dict[str, object] = {"role": role}
    if case.location_id is not None:
        values["location_id"] = case.location_id
    by_distance: dict[int, list[FocalPoint]] = defaultdict(list)
    nearest: dict[int, int] = {}
    for focal_point, distance in session.execute(query, values):
        # Categories are a JSON list: filtered here, portable across databases.
        if not focal_point.covers_category(case.category):
            continue
        if focal_point.id not in nearest or distance < nearest[focal_point.id]:
            nearest[focal_point.id] = distance
            by_distance[distance].append(focal_point)
    # A focal point covering two places of the chain counts at the nearer one only.
    return {
        distance: [fp for fp in points if nearest[fp.id] == distance]
        for distance, points in sorted(by_distance.items())
    }


def _needs_a_woman(case: Case) -> bool:
    return case.category in WOMAN_CATEGORIES or case.sex in WOMAN_SEXES


def _woman(points: list[FocalPoint]) -> FocalPoint | None:
    """Return the first woman of points, primaries before backups."""
    ordered = sorted(points, key=lambda fp: (fp.level != Level.PRIMARY, fp.id))
    return next((fp for fp in ordered if fp.gender == Gender.FEMALE), None)


def _nearest(levels: dict[int, list[FocalPoint]]) -> list[FocalPoint]:
    """Return the nearest level's primaries, or its backups when it has no primary."""
    for points in levels.values():
        if points:
            primaries = [fp for fp in points if fp.level == Level.PRIMARY]
            return primaries or points
    return []


# Help a complaint's survivor needs now: a victim-assistance focal point receives it at once.
ASSISTANCE_NEEDS = frozenset({"health", "safety", "psychosocial"})


def roles_for(case: Case) -> list[Role]:
    """Return the roles a case is routed to: complaints only ever to `conduct` (and help)."""
    if case.needs_triage:
        # An SMS no flow understood may be a complaint about personnel: only `triage` reads it.
        return [Role.TRIAGE]
    if case.kind == CaseKind.COMPLAINT:
        needs = (case.answers or {}).get("help_now")
        # A survivor who agreed to a support service's call reaches victim assistance too.
        assist = needs in ASSISTANCE_NEEDS or consented(case)
        return [Role.CONDUCT, *([Role.ASSISTANCE] if assist else [])]
    if case.kind == CaseKind.HELP_REQUEST:
        return [Role.SERVICES]
    return [Role.CHILD_PROTECTION]


@dataclass(frozen=True)
class Plan:
    """Who a case goes to, and whether it needed a woman that nobody of its role could be."""

    recipients: list[FocalPoint]
    no_woman: bool = False


def _with_a_woman(
    case: Case, levels: dict[int, list[FocalPoint]], chosen: list[FocalPoint]
) -> tuple[list[FocalPoint], bool]:
    """Add the nearest woman of levels when none is chosen; True when there is none at all."""
    if not chosen or not _needs_a_woman(case) or any(fp.gender == Gender.FEMALE for fp in chosen):
        return chosen, False
    for points in levels.values():
        woman = _woman(points)
        if woman is not None:
            return [*chosen, woman], False
    return chosen, True


def routing_plan(session: Session, case: Case) -> Plan:
    """Return the focal points a case goes to: per role, the nearest level, primaries first.

    Girls and sexual violence go to a woman where one covers the area with the same role: the
    nearest one, in addition to those chosen; where none does, the plan says so. A case to
    triage (an SMS no flow understood) goes to the nearest `triage` focal points only.
    """
    recipients: list[FocalPoint] = []
    no_woman = False
    for role in roles_for(case):
        levels = levels_covering(session, case, role)
        chosen, missing = _with_a_woman(case, levels, _nearest(levels))
        recipients += [fp for fp in chosen if fp not in recipients]
        no_woman = no_woman or missing
    if case.relayed_by_id is not None and recipients and all(
            fp.id == case.relayed_by_id for fp in recipients):
        recipients += _second_pair_of_eyes(session, case)
    return Plan(recipients, no_woman)


def _second_pair_of_eyes(session: Session, case: Case) -> list[FocalPoint]:
    """Return who else receives a case its relayer alone would: never back to them alone.

    Of the case's roles, the nearest others covering it (the relayer's backups at their own
    level, else the next level up); where there is nobody, the area's nearest coordinators.
    """
    def others(levels: dict[int, list[FocalPoint]]) -> list[FocalPoint]:
        for points in levels.values():
            found = [fp for fp in points if fp.id != case.relayed_by_id]
            if found:
                return [fp for fp in found if fp.level == Level.PRIMARY] or found
        return []

    for role in roles_for(case):
        found = others(levels_covering(session, case, role))
        if found:
            return found
    return others(levels_covering(session, case, Role.COORDINATOR))


FLOOD_WINDOW = timedelta(hours=1)


# Cases to triage from one sender paged one by one in an hour: the first only. The next one goes
# out as the hour's summary (often the same person's second SMS, or a correction), the rest are
# saved and flagged: a spoofed or rotating sender's free text pages the triage desk twice an
# hour at most per sender number.
TRIAGE_CASES_PER_HOUR = 1


def flood_count(session: Session, case: Case, limit: int, *, triage: bool = False) -> int | None:
    """Return how many cases the case's reporter made in the hour up to it, when over `limit`.

    A reporter over the limit (a flood, or a phone in the wrong hands) still has every case
    saved, but focal points are not paged for each one. Cases to triage and the others are
    counted apart (`triage`): they reach different focal points.
    """
    if limit <= 0 or case.reporter_id is None:
        return None
    count = session.scalar(
        select(func.count())
        .select_from(Case)
        .where(
            Case.reporter_id == case.reporter_id,
            Case.needs_triage.is_(triage),
            Case.id <= case.id,
            Case.created_at >= case.created_at - FLOOD_WINDOW,
        )
    ) or 0
    return count if count > limit else None


def _flood(session: Session, case: Case, limit: int) -> int | None:
    """Return the count that holds a case back from paging: a flood, or a sender's triage cases."""
    if case.needs_triage:
        return flood_count(session, case, TRIAGE_CASES_PER_HOUR, triage=True)
    return flood_count(session, case, limit)


def _summary_sent_this_hour(session: Session, case: Case) -> bool:
    """Tell whether a flood summary about this case's reporter went out within the hour.

    Cases to triage and the others have a summary each: they reach different focal points.
    """
    if case.reporter_id is None:
        return False
    found = session.scalar(
        select(OutboxMessage.id)
        .join(Case, Case.id == OutboxMessage.case_id)
        .where(
            Case.reporter_id == case.reporter_id,
            Case.needs_triage.is_(case.needs_triage),
            OutboxMessage.purpose == OutboxPurpose.FLOOD_SUMMARY,
            OutboxMessage.created_at >= utcnow() - FLOOD_WINDOW,
        )
        .limit(1)
    )
    return found is not None


@dataclass(frozen=True)
class Routed:
    """What routing a case did: the messages to send once committed, and whether to escalate."""

    case: Case
    outbox_ids: list[int]
    urgent: bool
    escalate: bool  # routed to someone who must acknowledge it: start the escalation timer


def _events(case: Case, plan: Plan, recipients: list[FocalPoint], flood: int | None,
            paged: list[int | None]) -> list[CaseEvent]:
    """Return the history a routing adds to its case."""
    if flood:
        # Saved and visible, but focal points are not paged once per case of a flood.
        detail: dict[str, object] = {"cases_last_hour": flood}
        if case.needs_triage:
            detail["triage"] = True  # grouped with the sender's other cases to triage
        events = [CaseEvent(case_id=case.id, kind=CaseEventKind.FLAGGED_FLOOD, detail=detail)]
    else:
        events = [CaseEvent(case_id=case.id, kind=CaseEventKind.ROUTED,
                            detail={"focal_point_ids": paged})]
    if plan.no_woman and not flood:
        # Girls or sexual violence, and no woman covers it: coordinators see the gap.
        events.append(CaseEvent(case_id=case.id, kind=CaseEventKind.NO_WOMAN_AVAILABLE,
                                detail={"category": case.category}))
    if not plan.recipients:
        events.append(CaseEvent(case_id=case.id, kind=CaseEventKind.NO_RECIPIENT, detail={
            "category": case.category, "location_id": case.location_id,
            "roles": [str(role) for role in roles_for(case)],
        }))
    return events


def route(session: Session, case_id: int, flood_limit: int) -> Routed | None:
    """Route a new case: one committed outbox row per recipient; None if routed already."""
    case = session.get(Case, case_id)
    if case is None or case.status != CaseStatus.NEW:
        return None
    flood = _flood(session, case, flood_limit)
    plan = routing_plan(session, case)
    recipients = [] if flood else plan.recipients
    # A flood pages nobody case by case, but never nobody at all: once an hour per sender,
    # the latest case goes out as a summary (a real emergency can look like a flood).
    summary = bool(flood) and not _summary_sent_this_hour(session, case)
    status = CaseStatus.ROUTED if plan.recipients else CaseStatus.UNASSIGNED
    # Only the run that moves the case out of NEW goes on: a concurrent run waits for this
    # row's lock, finds the status changed and stops here.
    claimed = session.execute(
        update(Case)
        .where(Case.id == case_id, Case.status == CaseStatus.NEW)
        .values(status=status, routed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        session.rollback()
        return None
    # Possible duplicate: found in this transaction, never in the way of the alert (links.py).
    link_quietly(session, case)
    # A case routed before (a partial case, since completed) goes only to those it adds: who
    # had its alert and who had its contact SMS, in one query.
    alerted: set[int | None] = set()
    contacted: set[int | None] = set()
    for focal_point_id, sent_purpose in session.execute(
        select(OutboxMessage.focal_point_id, OutboxMessage.purpose).where(
            OutboxMessage.case_id == case_id,
            OutboxMessage.purpose.in_((OutboxPurpose.CASE_ALERT, OutboxPurpose.CONTACT)),
        )
    ):
        (alerted if sent_purpose == OutboxPurpose.CASE_ALERT else contacted).add(focal_point_id)
    purpose, to = OutboxPurpose.CASE_ALERT, [fp for fp in recipients if fp.id not in alerted]
    if summary:
        purpose, to = OutboxPurpose.FLOOD_SUMMARY, plan.recipients
    rows = [OutboxMessage(case_id=case_id, focal_point_id=fp.id, purpose=purpose,
                          urgent=case.is_urgent) for fp in to]
    session.add_all(rows)
    # The number a reporter agreed to be called on: a separate SMS, to assistance or services
    # only (cases/contact.py); a flood pages nobody with it. The number is looked for only
    # when someone could receive it.
    contact_to = [] if flood else [
        fp for fp in contact_recipients(case, recipients) if fp.id not in contacted
    ]
    contacts = [
        OutboxMessage(case_id=case_id, focal_point_id=fp.id, purpose=OutboxPurpose.CONTACT,
                      urgent=case.is_urgent)
        for fp in contact_to
    ] if contact_to and has_number(session, case) else []
    session.add_all(contacts)
    session.add_all(_events(case, plan, recipients, flood,
                            [row.focal_point_id for row in rows]))
    try:
        session.commit()
    except IntegrityError:
        # Rows for this case already exist: another run routed it.
        session.rollback()
        log.info("case %s already routed by another run", case_id)
        return None
    if flood:
        log.warning("case %s flagged: its reporter made %d cases%s within an hour", case_id,
                    flood, " to triage" if case.needs_triage else "")
    if not plan.recipients:
        log.warning("case %s unassigned: nobody of its role covers its place and category",
                    case_id)
    elif not flood:
        log.info("case %s routed to %d focal point(s)", case_id, len(rows))
    return Routed(case=case, outbox_ids=[row.id for row in [*rows, *contacts]],
                  urgent=case.is_urgent,
                  escalate=bool(recipients) and not flood)
