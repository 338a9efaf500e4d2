"""`gateway primero push REF` and `gateway primero status`: alerts sent to Primero (MRMIMS+)."""

from __future__ import annotations

from collections import defaultdict

import click
from flask import Flask
from sqlalchemy import select

from gateway import create_app
from gateway.partners.mrm import MappingError, in_dataset
from gateway.partners.primero import (
    configured,
    due_not_pushable,
    mapping_of,
    not_pushable,
    push_after_commit,
    pushes,
    request_push,
)
from gateway.storage.db import get_engine, session_scope
from gateway.storage.migrate import require_current
from gateway.storage.models import Case, PrimeroPush, PushStatus, aware

BY = "command line"
ORDER = (PushStatus.PUSHED, PushStatus.PENDING, PushStatus.REFUSED, PushStatus.STOPPED,
         PushStatus.FAILED)
NOT_CONFIGURED = "Primero: not configured (set GATEWAY_PRIMERO_URL): nothing is queued"


@click.group("primero")
def primero_group() -> None:
    """Push alerts to Primero's MRM module and see where each push stands (docs/primero.md)."""


@primero_group.command("push")
@click.argument("reference")
def push_command(reference: str) -> None:
    """Queue the push of one alert to Primero (again, if it was pushed: Primero updates it)."""
    app = create_app()
    try:
        require_current(app)
        if not configured(app):
            raise click.ClickException(NOT_CONFIGURED)
        with session_scope(app) as session:
            case = session.scalar(select(Case).where(Case.reference == reference.strip()))
            if case is None or not in_dataset(case):
                # The same words for a complaint or a help request as for no case at all.
                raise click.ClickException(f"no alert {reference}: only alerts go to Primero")
            reason = not_pushable(case, mapping_of(app))
            if reason is not None:
                raise click.ClickException(f"case {case.reference} is not pushed: {reason}")
            request_push(app, session, case, BY)
            session.commit()
            case_id = case.id
            incident = session.scalar(select(PrimeroPush.incident_id)
                                      .where(PrimeroPush.case_id == case_id))
        if not push_after_commit(app, case_id):
            raise click.ClickException(
                f"case {reference} is pending but Redis did not take the job: run this again")
        click.echo(f"case {reference} queued for Primero (incident {incident})")
    finally:
        get_engine(app).dispose()


@primero_group.command("status")
def status_command() -> None:
    """List the pushes by reference: pushed, pending, refused (with the fields), stopped,
    failed, and the due alerts that are never pushed."""
    app = create_app()
    try:
        require_current(app)
        for line in status_lines(app):
            click.echo(line)
    finally:
        get_engine(app).dispose()


def status_lines(app: Flask) -> list[str]:
    """Return the lines of `gateway primero status`."""
    lines = [f"Primero: {app.config['PRIMERO_URL']} as {app.config['PRIMERO_USER']}"
             if configured(app) else NOT_CONFIGURED]
    try:
        mapping = mapping_of(app)
    except MappingError as exc:
        mapping = None
        lines.append(f"mapping: {exc}")
    else:
        lines.append(f"mapping: {app.config['PRIMERO_MAPPING']}")
    with session_scope(app) as session:
        grouped: dict[PushStatus, list[PrimeroPush]] = defaultdict(list)
        for row in pushes(session):
            grouped[row.status].append(row)
        for status in ORDER:
            rows = grouped.get(status, [])
            lines.append(f"{status.value}: {len(rows)}")
            lines += [_line(row) for row in rows]
        if mapping is not None:
            bare = due_not_pushable(session, mapping)
            lines.append(f"not pushed (verified or reported to the task force): {len(bare)}")
            lines += [f"  {case.reference}  {reason}" for case, reason in bare]
    return lines


def _line(row: PrimeroPush) -> str:
    line = f"  {row.case.reference}  incident {row.incident_id}"
    if row.status == PushStatus.PUSHED and row.pushed_at is not None:
        line += f"  at {aware(row.pushed_at).isoformat(timespec='seconds')}"
    elif row.status == PushStatus.PENDING:
        line += f"  attempts {row.attempts}"
    if row.status_code is not None:
        line += f"  HTTP {row.status_code}"
    if row.errors:
        label = "fields" if row.status == PushStatus.REFUSED else "error"
        line += f"  {label}: {', '.join(row.errors)}"
    if row.status == PushStatus.STOPPED:
        line += "  (check GATEWAY_PRIMERO_USER, GATEWAY_PRIMERO_PASSWORD and their role)"
    return line


COMMANDS = [primero_group]
