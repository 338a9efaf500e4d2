"""Command alerts: an outbox purpose for unconfirmed focal point commands on a case

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 08:00:00.000000

Focal point commands that change a case are confirmed by a one-time code; past three
unconfirmed or refused commands on one case, its area's coordinator (for a complaint: the
conduct lead) is told once. That SMS is an outbox row of the new purpose `command_alert`: the
check constraint `ck_outbox_messages_outbox_purpose` is written again with it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSES = (
    'case_alert', 'flood_summary', 'escalation_1', 'escalation_2', 'reporter_reply',
    'reporter_ack',
)
NEW_PURPOSES = (*PURPOSES, 'command_alert')
CONSTRAINT = 'ck_outbox_messages_outbox_purpose'


def _within(column: str, values: Sequence[str]) -> sa.TextClause:
    return sa.text(f"{column} IN ({', '.join(repr(v) for v in values)})")


def _purposes(values: Sequence[str]) -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CONSTRAINT), type_='check')
        batch_op.create_check_constraint(op.f(CONSTRAINT), _within('purpose', values))


def upgrade() -> None:
    _purposes(NEW_PURPOSES)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM outbox_messages WHERE purpose = 'command_alert'"))
    _purposes(PURPOSES)
