"""Handover: an organisation's open cases, coverage and escalations move to another one's.

What moves, precisely (docs/handover.md says it for operators):

- The leaving organisation's focal points are those whose `organisation` is ORG (compared
  without case or surrounding spaces), active or not; its successor's are ORG2's active ones.
- Coverage: every (place, role) an active focal point of ORG covers, with the categories it
  receives there. It finds a successor when active focal points of ORG2 with the same role
  cover that place, at the place itself or above it (a place covers everything below it, as
  routing reads it), for every one of those categories. Nothing is copied: ORG2's roster, as
  imported, is what routing reads once ORG's focal points are deactivated; a (place, role)
  whose categories ORG2 does not all cover is listed with the categories that find no one.
- Cases: every open case (not closed) routed to a focal point of ORG (an alert, flood
  summary or escalation SMS to them), or assigned to one. For each role of ORG's focal points
  that received it, ORG2's focal points of that role covering the case's place receive it as
  routing would choose them (the nearest level, primaries first, a woman added where the case
  needs one): a new CASE_ALERT each, sent after the commit. A role with nobody in ORG2 is
  listed with the case; a case left with no active recipient at all becomes unassigned, so
  the desk shows it. Each moved case gets a HANDED_OVER event and one audit row.
- Escalations: timers are per case and stage (workers.enqueue), and a stage picks its
  recipients when it fires, among active focal points: a pending stage of a moved case fires
  to ORG2's backups and coordinators. A moved case waiting for a stage whose timer is gone
  has it scheduled again. Messages to ORG's focal points not sent yet are stopped (they would
  never be sent to a deactivated focal point anyway) without starting an escalation at once.
- The complaint path: a place where ORG has a `conduct` focal point must keep one of another
  organisation, at the place or above, for every category ORG's covered there; otherwise the
  handover is refused and changes nothing (HandoverRefused names the places).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from gateway.cases.contact import contact_recipients, has_number
from gateway.cases.escalation import LAST_STAGE, due_at
from gateway.cases.routing import WOMAN_CATEGORIES, WOMAN_SEXES, levels_covering
from gateway.errors import GatewayError
from gateway.storage.db import session_scope
from gateway.storage.models import (
    CATEGORIES,
    AuditEntry,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    FocalPoint,
    Gender,
    Level,
    Location,
    OutboxMessage,
    OutboxPurpose,
    OutboxStatus,
    Role,
    utcnow,
)
from workers.enqueue import enqueue_sends, escalation_job_id, live_jobs, schedule_escalation

# Who the audit trail names for what this command does: no desk user, the command line.
ACTOR = "gateway handover (command line)"
AUDIT_ACTION = "handover"
# The messages that carry a case to a focal point: who received one had the case routed to them.
ROUTED_PURPOSES = (
    OutboxPurpose.CASE_ALERT, OutboxPurpose.FLOOD_SUMMARY,
    OutboxPurpose.ESCALATION_1, OutboxPurpose.ESCALATION_2,
)
PENDING = (OutboxStatus.QUEUED, OutboxStatus.RETRYING)
# Why a message to a leaving focal point was not sent (outbox last_error).
HANDED_OVER_ERROR = "not sent: recipient handed over"


class HandoverError(GatewayError):
    """The handover cannot be planned: an organisation unknown, or the same on both sides."""


class HandoverRefused(GatewayError):
    """The handover would leave places without a `conduct` focal point: nothing was changed."""

    def __init__(self, plan: HandoverPlan) -> None:
        places = ", ".join(f"{gap.pcode} {gap.name}" for gap in plan.stranded)
        super().__init__(f"refused: complaints would reach no `conduct` focal point in {places}")
        self.plan = plan


@dataclass(frozen=True)
class Gap:
    """A place and role whose categories find no one."""

    pcode: str
    name: str
    role: str
    categories: tuple[str, ...]

    def describe(self) -> str:
        """Return the gap in one line, categories abbreviated to `*` when all of them."""
        cats = "*" if set(self.categories) == set(CATEGORIES) else ", ".join(self.categories)
        return f"{self.pcode} {self.name}, role {self.role}: {cats}"


@dataclass(frozen=True)
class CoverageMove:
    """A place and role of ORG, and the focal points of ORG2 that cover it from now on."""

    pcode: str
    name: str
    role: str
    successors: tuple[str, ...]  # "name (place)"


@dataclass
class CaseMove:
    """An open case of ORG: who of ORG2 receives it now, and the roles nobody takes."""

    case_id: int
    reference: str
    urgent: bool
    from_ids: list[int]
    to_ids: list[int] = field(default_factory=list)  # new CASE_ALERT recipients
    to_names: list[str] = field(default_factory=list)
    contact_ids: list[int] = field(default_factory=list)  # the consented number goes to them
    nobody_for: list[str] = field(default_factory=list)  # roles
    left_alone: bool = False  # no active recipient at all once ORG leaves
    escalation_pending: bool = False  # a stage still to come (not acknowledged)


@dataclass
class HandoverPlan:
    """What a handover does; the same whether it is carried out or only printed."""

    from_org: str
    to_org: str
    leaving: list[int]  # ORG's active focal point ids
    cases: list[CaseMove]
    coverage: list[CoverageMove]
    bare: list[Gap]  # coverage of ORG that finds no one in ORG2
    stranded: list[Gap]  # conduct coverage nobody else keeps: refuses the handover
    no_woman: list[Gap]  # where ORG had a woman of the role and nobody else is one
    pending_messages: int  # SMS to ORG's focal points not sent yet: stopped

    @property
    def cases_finding_no_one(self) -> list[CaseMove]:
        """Return the cases of which some role finds nobody in ORG2."""
        return [move for move in self.cases if move.nobody_for]


def _same(organisation: str, name: str) -> bool:
    return organisation.strip().casefold() == name.strip().casefold()


def categories_of(point: FocalPoint) -> set[str]:
    """Return every category a focal point receives (`*` and the categories it implies)."""
    return {category for category in CATEGORIES if point.covers_category(category)}


class _Roster:
    """Every focal point and place in memory: coverage questions answered without queries."""

    def __init__(self, session: Session) -> None:
        self.places = {place.id: place for place in session.scalars(select(Location))}
        self.points = list(session.scalars(
            select(FocalPoint).options(selectinload(FocalPoint.locations))
            .order_by(FocalPoint.id)
        ))

    def chain(self, location_id: int) -> list[int]:
        """Return a place and its ancestors, nearest first."""
        found: list[int] = []
        current: int | None = location_id
        while current is not None and current not in found:
            found.append(current)
            place = self.places.get(current)
            current = place.parent_id if place is not None else None
        return found

    def covering(self, location_id: int, role: Role,
                 points: Iterable[FocalPoint]) -> list[tuple[int, FocalPoint]]:
        """Return (distance, focal point) of the active points of a role covering a place."""
        chain = self.chain(location_id)
        found = []
        for point in points:
            if not point.active or point.role != role:
                continue
            distances = [chain.index(place.id) for place in point.locations if place.id in chain]
            if distances:
                found.append((min(distances), point))
        return sorted(found, key=lambda pair: (pair[0], pair[1].id))


def _gaps(roster: _Roster, wanted: dict[tuple[int, Role], set[str]],
          keepers: list[FocalPoint]) -> tuple[list[Gap], dict[tuple[int, Role], list[str]]]:
    """Return the (place, role) whose categories no keeper covers, and who keeps the others."""
    gaps: list[Gap] = []
    kept: dict[tuple[int, Role], list[str]] = {}
    for (location_id, role), categories in sorted(
            wanted.items(), key=lambda item: (roster.places[item[0][0]].pcode, item[0][1])):
        covering = roster.covering(location_id, role, keepers)
        missing = sorted(c for c in categories
                         if not any(point.covers_category(c) for _, point in covering))
        place = roster.places[location_id]
        if missing:
            gaps.append(Gap(place.pcode, place.name, role.value, tuple(missing)))
        kept[(location_id, role)] = [
            f"{point.name} ({_place_code(roster, point, location_id)})" for _, point in covering
        ]
    return gaps, kept


def _place_code(roster: _Roster, point: FocalPoint, location_id: int) -> str:
    """Return the p-code at which a focal point covers a place (the nearest of the chain)."""
    chain = roster.chain(location_id)
    ids = sorted((place.id for place in point.locations if place.id in chain), key=chain.index)
    return roster.places[ids[0]].pcode if ids else "?"


def _coverage(roster: _Roster, leaving: list[FocalPoint]) -> dict[tuple[int, Role], set[str]]:
    """Return ORG's coverage: (place, role) -> the categories it receives there."""
    wanted: dict[tuple[int, Role], set[str]] = defaultdict(set)
    for point in leaving:
        for place in point.locations:
            wanted[(place.id, point.role)] |= categories_of(point)
    return wanted


def _women_lost(roster: _Roster, leaving: list[FocalPoint], staying: list[FocalPoint]) -> list[Gap]:
    """Return the (place, role) where ORG had a woman and no other woman covers it."""
    lost: dict[tuple[int, Role], None] = {}
    for point in leaving:
        if point.gender != Gender.FEMALE:
            continue
        for place in point.locations:
            others = roster.covering(place.id, point.role, staying)
            if not any(other.gender == Gender.FEMALE for _, other in others):
                lost[(place.id, point.role)] = None
    return [Gap(roster.places[pid].pcode, roster.places[pid].name, role.value, ())
            for pid, role in sorted(lost, key=lambda key: (roster.places[key[0]].pcode, key[1]))]


def _needs_a_woman(case: Case) -> bool:
    return case.category in WOMAN_CATEGORIES or case.sex in WOMAN_SEXES


def _successors(session: Session, case: Case, role: Role,
                successor_ids: set[int]) -> list[FocalPoint]:
    """Return ORG2's focal points of a role that receive the case, as routing would choose."""
    levels = {
        distance: [point for point in points if point.id in successor_ids]
        for distance, points in levels_covering(session, case, role).items()
    }
    nearest = next((points for points in levels.values() if points), [])
    chosen = [point for point in nearest if point.level == Level.PRIMARY] or nearest
    if chosen and _needs_a_woman(case) and not any(p.gender == Gender.FEMALE for p in chosen):
        for points in levels.values():
            women = sorted((p for p in points if p.gender == Gender.FEMALE),
                           key=lambda p: (p.level != Level.PRIMARY, p.id))
            if women:
                chosen.append(women[0])
                break
    return chosen


def _open_cases(session: Session, leaving_ids: set[int]) -> list[tuple[Case, set[int]]]:
    """Return the open cases routed or assigned to ORG's focal points, with who of ORG had them."""
    received: dict[int, set[int]] = defaultdict(set)
    rows = session.execute(
        select(OutboxMessage.case_id, OutboxMessage.focal_point_id)
        .join(Case, Case.id == OutboxMessage.case_id)
        .where(OutboxMessage.focal_point_id.in_(leaving_ids),
               OutboxMessage.purpose.in_(ROUTED_PURPOSES),
               Case.closed_at.is_(None))
    )
    for case_id, point_id in rows:
        received[case_id].add(point_id)
    assigned = session.execute(
        select(Case.id, Case.assigned_focal_point_id).where(
            Case.assigned_focal_point_id.in_(leaving_ids), Case.closed_at.is_(None))
    )
    for case_id, point_id in assigned:
        received[case_id].add(point_id)
    cases = session.scalars(select(Case).where(Case.id.in_(list(received))).order_by(Case.id))
    return [(case, received[case.id]) for case in cases]


def _still_reached(session: Session, case: Case, leaving_ids: set[int]) -> bool:
    """Tell whether an active focal point outside ORG received the case."""
    found = session.scalar(
        select(OutboxMessage.id)
        .join(FocalPoint, FocalPoint.id == OutboxMessage.focal_point_id)
        .where(OutboxMessage.case_id == case.id, OutboxMessage.purpose.in_(ROUTED_PURPOSES),
               FocalPoint.active.is_(True), FocalPoint.id.not_in(leaving_ids))
        .limit(1)
    )
    return found is not None


def _move(session: Session, roster: _Roster, case: Case, had: set[int],
          successor_ids: set[int], leaving_ids: set[int]) -> CaseMove:
    """Plan one case's move: who of ORG2 receives it, per role of ORG's focal points."""
    by_id = {point.id: point for point in roster.points}
    move = CaseMove(case.id, case.reference, case.is_urgent, sorted(had))
    alerted = set(session.scalars(select(OutboxMessage.focal_point_id).where(
        OutboxMessage.case_id == case.id, OutboxMessage.purpose == OutboxPurpose.CASE_ALERT)))
    roles = sorted({by_id[point_id].role for point_id in had if point_id in by_id})
    receivers: list[FocalPoint] = []
    for role in roles:
        chosen = _successors(session, case, role, successor_ids)
        if not chosen:
            move.nobody_for.append(role.value)
        receivers += [point for point in chosen if point not in receivers]
    new = [point for point in receivers if point.id not in alerted]
    move.to_ids = [point.id for point in new]
    move.to_names = [f"{point.name} ({point.role})" for point in receivers]
    if has_number(session, case):
        # A reporter who agreed to a support service's call: ORG2's assistance or services
        # focal points it now goes to are that service (as routing gives it, cases/contact.py).
        contacted = set(session.scalars(select(OutboxMessage.focal_point_id).where(
            OutboxMessage.case_id == case.id, OutboxMessage.purpose == OutboxPurpose.CONTACT)))
        move.contact_ids = [point.id for point in contact_recipients(case, receivers)
                            if point.id not in contacted]
    move.left_alone = not receivers and not _still_reached(session, case, leaving_ids)
    move.escalation_pending = (case.acknowledged_at is None and not move.left_alone
                               and case.escalation_stage < LAST_STAGE)
    return move


def plan_handover(session: Session, from_org: str, to_org: str) -> HandoverPlan:
    """Work out a handover from the database as it is; change nothing."""
    if _same(from_org, to_org):
        raise HandoverError("the two organisations are the same")
    roster = _Roster(session)
    theirs = [point for point in roster.points if _same(point.organisation, from_org)]
    if not theirs:
        raise HandoverError(f"no focal point of organisation {from_org!r}")
    successors = [point for point in roster.points
                  if _same(point.organisation, to_org) and point.active]
    if not successors:
        raise HandoverError(f"no active focal point of organisation {to_org!r}")
    leaving = [point for point in theirs if point.active]
    leaving_ids = {point.id for point in theirs}
    staying = [point for point in roster.points if point.id not in leaving_ids]

    wanted = _coverage(roster, leaving)
    bare, kept = _gaps(roster, wanted, successors)
    conduct = {key: cats for key, cats in wanted.items() if key[1] == Role.CONDUCT}
    stranded, _ = _gaps(roster, conduct, staying)
    coverage = [
        CoverageMove(roster.places[pid].pcode, roster.places[pid].name, role.value,
                     tuple(kept[(pid, role)]))
        for pid, role in sorted(wanted, key=lambda key: (roster.places[key[0]].pcode, key[1]))
    ]
    successor_ids = {point.id for point in successors}
    cases = [_move(session, roster, case, had, successor_ids, leaving_ids)
             for case, had in _open_cases(session, leaving_ids)]
    pending = len(session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.focal_point_id.in_(leaving_ids), OutboxMessage.status.in_(PENDING))).all())
    return HandoverPlan(
        from_org=from_org, to_org=to_org, leaving=[point.id for point in leaving],
        cases=cases, coverage=coverage, bare=bare, stranded=stranded,
        no_woman=_women_lost(roster, leaving, staying), pending_messages=pending,
    )


def record_command_line(session: Session, action: str, case: Case | None = None,
                        **detail: object) -> AuditEntry:
    """Add an audit row for an action of the command line (no desk user); the caller commits."""
    entry = AuditEntry(
        user_id=None, user_email=ACTOR, action=action,
        case_id=case.id if case is not None else None,
        case_reference=case.reference if case is not None else None,
        detail=dict(detail),
    )
    session.add(entry)
    return entry


def _apply(session: Session, plan: HandoverPlan) -> list[tuple[int, bool]]:
    """Carry a plan out in the session; return the new outbox rows (id, urgent) to send."""
    leaving_ids = set(plan.leaving) | {
        point.id for point in session.scalars(select(FocalPoint))
        if _same(point.organisation, plan.from_org)
    }
    now = utcnow()
    session.execute(
        update(FocalPoint).where(FocalPoint.id.in_(leaving_ids))
        .values(active=False, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.focal_point_id.in_(leaving_ids), OutboxMessage.status.in_(PENDING))
        .values(status=OutboxStatus.FAILED, last_error=HANDED_OVER_ERROR)
        .execution_options(synchronize_session=False)
    )
    outbox: list[OutboxMessage] = []
    for move in plan.cases:
        case = session.get(Case, move.case_id)
        assert case is not None
        rows = [OutboxMessage(case_id=case.id, focal_point_id=point_id,
                              purpose=OutboxPurpose.CASE_ALERT, urgent=case.is_urgent)
                for point_id in move.to_ids]
        rows += [OutboxMessage(case_id=case.id, focal_point_id=point_id,
                               purpose=OutboxPurpose.CONTACT, urgent=case.is_urgent)
                 for point_id in move.contact_ids]
        session.add_all(rows)
        outbox += rows
        detail: dict[str, object] = {
            "from": plan.from_org, "to": plan.to_org,
            "from_focal_point_ids": move.from_ids, "to_focal_point_ids": move.to_ids,
        }
        if move.nobody_for:
            detail["nobody_for"] = move.nobody_for
        if case.assigned_focal_point_id in leaving_ids:
            detail["unassigned_from"] = case.assigned_focal_point_id
            case.assigned_focal_point_id = None
        session.add(CaseEvent(case_id=case.id, kind=CaseEventKind.HANDED_OVER, detail=detail))
        if move.left_alone:
            case.status = CaseStatus.UNASSIGNED
            session.add(CaseEvent(case_id=case.id, kind=CaseEventKind.NO_RECIPIENT, detail={
                "category": case.category, "location_id": case.location_id,
                "roles": move.nobody_for,
            }))
        record_command_line(session, AUDIT_ACTION, case, **detail)
    session.flush()
    return [(row.id, row.urgent) for row in outbox]


def _rearm(app: Flask, plan: HandoverPlan) -> int:
    """Schedule again the next stage of moved cases whose timer is gone; return how many."""
    moves = [move for move in plan.cases if move.escalation_pending]
    if not moves:
        return 0
    with session_scope(app) as session:
        cases = {move.case_id: session.get(Case, move.case_id) for move in moves}
        waiting = [case_id for case_id, case in cases.items()
                   if case is not None and case.acknowledged_at is None
                   and case.closed_at is None and case.escalation_stage < LAST_STAGE]
        # When each next stage is due: the same rule as the sweep's (escalation.due_at).
        due = due_at(session, waiting, app.config.get("ESCALATION_DELAYS"))
        now = utcnow()
        wanted = {case_id: (cases[case_id].escalation_stage + 1,  # type: ignore[union-attr]
                            max((due[case_id] - now).total_seconds(), 0.0))
                  for case_id in waiting}
    ids = [escalation_job_id(case_id, stage, now) for case_id, (stage, _) in wanted.items()
           for now in (False, True)]
    live = live_jobs(app, ids)
    armed = 0
    for case_id, (stage, delay) in wanted.items():
        if {escalation_job_id(case_id, stage), escalation_job_id(case_id, stage, True)} & live:
            continue
        armed += schedule_escalation(app, case_id, stage, delay)
    return armed


def hand_over(app: Flask, from_org: str, to_org: str, *, dry_run: bool = False) -> HandoverPlan:
    """Plan a handover and, unless dry_run, carry it out; raise HandoverRefused to protect
    the complaint path (then nothing is changed).

    The new alerts are queued after the commit (workers.enqueue), and escalation timers of the
    moved cases checked.
    """
    with session_scope(app) as session:
        plan = plan_handover(session, from_org, to_org)
        if plan.stranded:
            raise HandoverRefused(plan)
        if dry_run:
            return plan
        sends = _apply(session, plan)
        session.commit()
    enqueue_sends(app, sends)
    _rearm(app, plan)
    return plan
