"""Partners and handover: pushes to Primero, the weekly digest, handover events

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 12:30:00.000000

`primero_pushes` holds one row per alert sent (or to be sent) to Primero as an MRM incident: its
client-chosen incident id, where the push stands and what Primero refused. The outbox gains the
purpose `digest` (the weekly summary to a coordinator) and case events the kinds
`primero_pushed`, `primero_refused` and `handed_over`: both check constraints are written again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_KINDS = (
    'created', 'partial', 'completed', 'spooled', 'routed', 'flagged_flood',
    'no_woman_available', 'no_recipient', 'sms_sent', 'sms_not_sent', 'sms_failed',
    'sms_interrupted', 'escalated', 'escalation_skipped', 'acknowledged', 'closed',
    'unauthorised_command', 'linked', 'assigned', 'note_added', 'verification_set', 'reopened',
)
NEW_EVENT_KINDS = (*EVENT_KINDS, 'primero_pushed', 'primero_refused', 'handed_over')
EVENT_CONSTRAINT = 'ck_case_events_case_event_kind'
PURPOSES = (
    'case_alert', 'flood_summary', 'escalation_1', 'escalation_2', 'reporter_reply',
    'reporter_ack', 'command_alert', 'contact',
)
NEW_PURPOSES = (*PURPOSES, 'digest')
PURPOSE_CONSTRAINT = 'ck_outbox_messages_outbox_purpose'
PUSH_STATUSES = ('pending', 'pushed', 'refused', 'stopped', 'failed')


def _within(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _check(table: str, name: str, column: str, values: Sequence[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(name), type_='check')
        batch_op.create_check_constraint(op.f(name), sa.text(_within(column, values)))


def upgrade() -> None:
    op.create_table('primero_pushes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('requested_by', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pushed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(_within('status', PUSH_STATUSES), name=op.f('ck_primero_pushes_push_status')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_primero_pushes_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_primero_pushes')),
    sa.UniqueConstraint('case_id', name=op.f('uq_primero_pushes_case_id')),
    sa.UniqueConstraint('incident_id', name=op.f('uq_primero_pushes_incident_id'))
    )
    with op.batch_alter_table('primero_pushes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_primero_pushes_status'), ['status'], unique=False)
    _check('case_events', EVENT_CONSTRAINT, 'kind', NEW_EVENT_KINDS)
    _check('outbox_messages', PURPOSE_CONSTRAINT, 'purpose', NEW_PURPOSES)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM outbox_messages WHERE purpose = 'digest'"))
    _check('outbox_messages', PURPOSE_CONSTRAINT, 'purpose', PURPOSES)
    kinds = ', '.join(repr(kind) for kind in NEW_EVENT_KINDS[len(EVENT_KINDS):])
    op.execute(sa.text(f"DELETE FROM case_events WHERE kind IN ({kinds})"))
    _check('case_events', EVENT_CONSTRAINT, 'kind', EVENT_KINDS)
    with op.batch_alter_table('primero_pushes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_primero_pushes_status'))
    op.drop_table('primero_pushes')
