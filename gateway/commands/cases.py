"""`gateway cases list|show`: cases and their history, never anything about who reported.

Complaints about personnel travel on a restricted path: they are listed and shown only with
`--role conduct`.
"""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import create_app
from gateway.cases.links import links_of
from gateway.cases.status import status_of
from gateway.storage.db import get_engine, session_scope
from gateway.storage.migrate import require_current
from gateway.storage.models import Case, CaseEvent, CaseKind, Role, aware

ROLES = [role.value for role in Role]
URGENCY_WORDS = {True: "yes", False: "no", None: "unknown"}


def _visible(case: Case, role: str | None) -> bool:
    return case.kind != CaseKind.COMPLAINT or role == Role.CONDUCT.value


def _minutes(case: Case, moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return f"{(aware(moment) - aware(case.created_at)).total_seconds() / 60:.1f} min"


def history(session: Session, case: Case) -> list[str]:
    """Return the lines of a case's history: what, where, and every event with its time."""
    lines = [
        f"case {case.reference}: {case.kind} {case.category}, {status_of(case)}",
        f"place: {case.location.pcode if case.location else 'not known'}; children: "
        f"{case.children}, {case.sex}; urgent: {URGENCY_WORDS[case.urgent]}; "
        f"channel: {case.channel}",
    ]
    if case.girls is not None or case.boys is not None or case.perpetrator is not None:
        # An alert's answers since girls and boys are counted (None: not asked then).
        lines.append(
            f"when: {case.incident_from or '?'} to {case.incident_to or '?'}; "
            f"girls: {case.girls}, boys: {case.boys}; age: {case.age_group}; "
            f"by: {case.perpetrator}"
        )
    if case.relayed_by_id is not None:
        # A focal point reported it for someone else (RELAY): staff, named; no reporter.
        relayed_by = case.relayed_by
        who = f"{relayed_by.name} ({relayed_by.role})" if relayed_by is not None else "?"
        lines.append(f"relayed by: {who}, focal_point:{case.relayed_by_id}")
    if case.answers:
        lines.append("answers: " + ", ".join(f"{k}={v}" for k, v in sorted(case.answers.items())))
    lines.append(f"acknowledged after: {_minutes(case, case.acknowledged_at)}; "
                 f"closed after: {_minutes(case, case.closed_at)}")
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    )
    for event in events:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(event.detail.items()))
        lines.append(f"{aware(event.created_at).isoformat(timespec='seconds')} "
                     f"(+{_minutes(case, event.created_at)}) {event.kind} {detail}".rstrip())
    return lines


def _when(moment: datetime) -> str:
    return aware(moment).isoformat(timespec="seconds")


def link_lines(session: Session, case: Case) -> list[str]:
    """Return the lines of a case's possible and confirmed duplicates (cases of its own kind)."""
    lines = []
    for link in links_of(session, case):
        line = (f"  {link.later} {link.kind} duplicate of {link.earlier}, "
                f"found {_when(link.created_at)}")
        if link.confirmed_at is not None:
            line += (f", confirmed by focal_point:{link.confirmed_by} "
                     f"at {_when(link.confirmed_at)}")
        lines.append(line)
    return ["links:", *lines] if lines else []


@click.group("cases")
def cases_group() -> None:
    """List cases and show a case's history (no reporter data)."""


@cases_group.command("list")
@click.option("--role", type=click.Choice(ROLES), help="Your role: complaints need conduct.")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
def list_command(role: str | None, limit: int) -> None:
    """List the newest cases (complaints only with --role conduct)."""
    app = create_app()
    try:
        require_current(app)
        with session_scope(app) as session:
            query = select(Case).order_by(Case.id.desc()).limit(limit)
            if role != Role.CONDUCT.value:
                query = query.where(Case.kind != CaseKind.COMPLAINT)
            for case in session.scalars(query):
                click.echo(f"{case.reference}  {case.kind:<12} {case.category:<26} "
                           f"{status_of(case):<12} {aware(case.created_at):%Y-%m-%d %H:%M}")
    finally:
        get_engine(app).dispose()


@cases_group.command("show")
@click.argument("reference")
@click.option("--role", type=click.Choice(ROLES), help="Your role: complaints need conduct.")
def show_command(reference: str, role: str | None) -> None:
    """Print a case's history: routed to whom, delivered, acknowledged, escalated, closed."""
    app = create_app()
    try:
        require_current(app)
        with session_scope(app) as session:
            case = session.scalar(select(Case).where(Case.reference == reference.strip()))
            if case is None or not _visible(case, role):
                # The same words whether it does not exist or is not for this role.
                raise click.ClickException(f"no case {reference}")
            for line in history(session, case):
                click.echo(line)
            for line in link_lines(session, case):
                click.echo(line)
    finally:
        get_engine(app).dispose()


COMMANDS = [cases_group]
