"""The weekly SMS digest: each active coordinator hears the counts of their own area.

Who: every active focal point of the `coordinator` role who covers at least one place. What:
the alerts and help requests (the kinds a coordinator works; complaints never, cases still to
triage neither) of their places and every place below (a coordinator of a top-level place: the
cases with no place too), in the categories they cover, counted over the week up to this week's
digest moment (GATEWAY_DIGEST_DAY at GATEWAY_DIGEST_HOUR, UTC):

- new: received in the week; acknowledged: first acknowledged in the week;
- escalated: escalated to someone in the week (each case once);
- waiting: open and not yet acknowledged, received before the digest moment.

Counts only: no reference, no category, no place below their area, nothing about a child. One
SMS per coordinator and ISO week: its outbox row's dedupe key `digest-<focal point id>-<week>`
is unique, so a second run (a restart, two workers) queues nothing. The words are written in the
coordinator's language when queued, kept in the row (encrypted like every body) and sent by the
ordinary send job (gateway/delivery/send.py), after the commit, through workers.enqueue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from gateway.cases.messages import DIGEST_SMS
from gateway.cases.outbox import fold_for
from gateway.conversation import get_catalogs
from gateway.storage.crypto import encrypt
from gateway.storage.db import session_scope
from gateway.storage.models import (
    COVERED_WITH,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    FocalPoint,
    OutboxMessage,
    OutboxPurpose,
    OutboxStatus,
    Role,
    utcnow,
)
from gateway.trends.places import PlaceTree

log = logging.getLogger(__name__)

KINDS = (CaseKind.ALERT, CaseKind.HELP_REQUEST)


@dataclass(frozen=True)
class Week:
    """The week a digest tells of: [start, end), end being this ISO week's digest moment."""

    label: str  # the ISO year and week of the digest moment, e.g. 2026-W05
    start: datetime
    end: datetime


def due_week(now: datetime, day: int, hour: int) -> Week | None:
    """Return the week whose digest is due at `now`; None before this week's digest moment.

    day: 1 (Monday) to 7 (Sunday); hour: 0 to 23, UTC.
    """
    now = now.astimezone(UTC)
    monday = (now - timedelta(days=now.isoweekday() - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    moment = monday + timedelta(days=day - 1, hours=hour)
    if now < moment:
        return None
    year, number, _ = moment.isocalendar()
    return Week(f"{year}-W{number:02d}", moment - timedelta(days=7), moment)


def dedupe_key(focal_point_id: int, week: Week) -> str:
    """Return the key that makes a coordinator's digest of a week unique."""
    return f"digest-{focal_point_id}-{week.label}"


@dataclass(frozen=True)
class Counts:
    """What a digest says."""

    new: int
    acknowledged: int
    escalated: int
    waiting: int


def _area(session: Session, focal_point: FocalPoint, tree: PlaceTree) -> ColumnElement[bool]:
    """Return the condition a case meets to be in the coordinator's area and categories."""
    own = {place.id for place in focal_point.locations}
    below = [place_id for place_id in tree.places
             if any(place.id in own for place in tree.chain(place_id))]
    where: ColumnElement[bool] = Case.location_id.in_(below)
    if any(place.parent_id is None for place in focal_point.locations):
        where = or_(where, Case.location_id.is_(None))
    categories = set(focal_point.categories or ["*"])
    if "*" not in categories:
        categories |= {code for code, under in COVERED_WITH.items()
                       if not under.isdisjoint(categories)}
        where = and_(where, Case.category.in_(sorted(categories)))
    return and_(Case.kind.in_(KINDS), Case.needs_triage.is_(False), where)


def count(session: Session, focal_point: FocalPoint, week: Week,
          tree: PlaceTree | None = None) -> Counts:
    """Count the week's cases of a coordinator's area."""
    area = _area(session, focal_point, tree or PlaceTree.load(session))

    def total(*conditions: ColumnElement[bool]) -> int:
        return int(session.scalar(select(func.count(Case.id)).where(area, *conditions)) or 0)

    escalated = session.scalar(
        select(func.count(func.distinct(CaseEvent.case_id)))
        .join(Case, Case.id == CaseEvent.case_id)
        .where(area, CaseEvent.kind == CaseEventKind.ESCALATED,
               CaseEvent.created_at >= week.start, CaseEvent.created_at < week.end)
    )
    return Counts(
        new=total(Case.created_at >= week.start, Case.created_at < week.end),
        acknowledged=total(Case.acknowledged_at >= week.start, Case.acknowledged_at < week.end),
        escalated=int(escalated or 0),
        waiting=total(Case.closed_at.is_(None), Case.acknowledged_at.is_(None),
                      Case.created_at < week.end),
    )


def compose(app: Flask, lang: str, week: Week, counts: Counts) -> str:
    """Write a digest SMS in lang (folded to GSM-7 where the language allows it)."""
    text = get_catalogs(app).gettext(
        lang, DIGEST_SMS, start=week.start.date().isoformat(), end=week.end.date().isoformat(),
        new=counts.new, acknowledged=counts.acknowledged, escalated=counts.escalated,
        waiting=counts.waiting,
    )
    return fold_for(app, text, lang)


def coordinators(session: Session) -> list[FocalPoint]:
    """Return the active coordinators who cover at least one place."""
    found = session.scalars(
        select(FocalPoint)
        .where(FocalPoint.role == Role.COORDINATOR, FocalPoint.active.is_(True))
        .options(selectinload(FocalPoint.locations))
        .order_by(FocalPoint.id)
    )
    return [focal_point for focal_point in found if focal_point.locations]


def queue_digests(app: Flask, week: Week) -> list[int]:
    """Queue the week's digest of every coordinator who has none yet; the new outbox ids.

    Each row is committed on its own: the caller queues their sending (workers.enqueue).
    """
    queued: list[int] = []
    with session_scope(app) as session:
        tree = PlaceTree.load(session)
        for focal_point in coordinators(session):
            key = dedupe_key(focal_point.id, week)
            if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
                continue
            lang = focal_point.language or app.config["DEFAULT_LANGUAGE"]
            text = compose(app, lang, week, count(session, focal_point, week, tree))
            row = OutboxMessage(
                case_id=None, focal_point_id=focal_point.id, purpose=OutboxPurpose.DIGEST,
                body=encrypt(text, app), dedupe_key=key, urgent=False,
                status=OutboxStatus.QUEUED,
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # another run queued it first: theirs is the one
                session.rollback()
                continue
            queued.append(row.id)
    if queued:
        log.info("digest %s: %d SMS queued", week.label, len(queued))
    return queued


def queue_due(app: Flask, now: datetime | None = None) -> list[int]:
    """Queue this week's digests if they are due; the new outbox ids (none before the moment)."""
    week = due_week(now or utcnow(), int(app.config.get("DIGEST_DAY", 1)),
                    int(app.config.get("DIGEST_HOUR", 7)))
    return queue_digests(app, week) if week is not None else []
