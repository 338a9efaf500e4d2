"""The audit trail: every view of a case page and every action on the desk, append-only.

`record` adds a row in the caller's transaction (the view or the action commits it with its
work). No code of the application changes or deletes an audit row: a session that tries (an
ORM change, a bulk UPDATE or DELETE) raises AuditAppendOnly before anything reaches the
database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Delete, Update, event, select
from sqlalchemy.orm import ORMExecuteState, Session

from gateway.errors import GatewayError
from gateway.storage.models import AuditEntry, Case, User


class AuditAppendOnly(GatewayError):
    """Something tried to change or delete an audit row."""


def record(session: Session, user: User, action: str, case: Case | None = None,
           **detail: Any) -> AuditEntry:
    """Add an audit row (user, now, case, action); the caller commits."""
    entry = AuditEntry(
        user_id=user.id, user_email=user.email, action=action,
        case_id=case.id if case is not None else None,
        case_reference=case.reference if case is not None else None,
        detail=detail,
    )
    session.add(entry)
    return entry


def entries(session: Session, *, reference: str | None = None, email: str | None = None,
            limit: int | None = None, offset: int = 0) -> Sequence[AuditEntry]:
    """Return audit rows, newest first, of one case and/or one user."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if reference:
        query = query.where(AuditEntry.case_reference == reference.strip())
    if email:
        query = query.where(AuditEntry.user_email == email.strip().lower())
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return session.scalars(query).all()


@event.listens_for(Session, "before_flush")
def _no_change(session: Session, _context: object, _instances: object) -> None:
    for instance in (*session.dirty, *session.deleted):
        if isinstance(instance, AuditEntry) and (
            instance in session.deleted or session.is_modified(instance)
        ):
            raise AuditAppendOnly("audit rows are append-only")


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_change(state: ORMExecuteState) -> None:
    statement = state.statement
    if isinstance(statement, Update | Delete) and state.bind_mapper is not None and (
        state.bind_mapper.class_ is AuditEntry
    ):
        raise AuditAppendOnly("audit rows are append-only")
