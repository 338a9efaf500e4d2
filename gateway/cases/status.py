"""A case's status as people read it: `gateway cases` and the metrics say the same.

`Case.status` records how far routing went (new, routed, unassigned). What a focal point did
afterwards is in `acknowledged_at` and `closed_at`: a closed case is closed, an acknowledged one
acknowledged, whatever routing said. `status_of` reads a loaded case; `status_expression` is the
same rule in SQL, to count cases in the database.
"""

from __future__ import annotations

import enum

from sqlalchemy import case as when
from sqlalchemy.sql.elements import ColumnElement

from gateway.storage.models import Case


class DisplayStatus(enum.StrEnum):
    NEW = "new"  # committed, not yet routed
    ROUTED = "routed"  # sent to its focal points, not yet acknowledged
    UNASSIGNED = "unassigned"  # nobody covers its place and category
    ACKNOWLEDGED = "acknowledged"  # a focal point answered OK
    CLOSED = "closed"  # a focal point answered DONE


def status_of(case: Case) -> DisplayStatus:
    """Return a case's status: closed, acknowledged, else how far routing went."""
    if case.closed_at is not None:
        return DisplayStatus.CLOSED
    if case.acknowledged_at is not None:
        return DisplayStatus.ACKNOWLEDGED
    return DisplayStatus(case.status.value)


def status_expression() -> ColumnElement[str]:
    """Return `status_of` as a SQL expression, to group and count cases in the database."""
    return when(
        (Case.closed_at.is_not(None), DisplayStatus.CLOSED.value),
        (Case.acknowledged_at.is_not(None), DisplayStatus.ACKNOWLEDGED.value),
        else_=Case.status,
    )
