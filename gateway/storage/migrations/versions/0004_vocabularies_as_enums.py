"""Vocabularies as enums: case event kinds, outbox purposes, inbound statuses; urgency a bool

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 08:00:00.000000

`cases.urgent` held "yes", "no" or "unknown": it becomes a boolean, NULL when not known.
Case event kinds, outbox purposes and inbound statuses keep their stored values and gain a
named check constraint, as every other enum of the schema has.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_KINDS = (
    'created', 'partial', 'completed', 'spooled', 'routed', 'flagged_flood',
    'no_woman_available', 'no_recipient', 'sms_sent', 'sms_not_sent', 'sms_failed',
    'sms_interrupted', 'escalated', 'escalation_skipped', 'acknowledged', 'closed',
    'unauthorised_command',
)
PURPOSES = (
    'case_alert', 'flood_summary', 'escalation_1', 'escalation_2', 'reporter_reply',
    'reporter_ack',
)
INBOUND_STATUSES = ('received', 'processed', 'failed')


def _within(column: str, values: Sequence[str]) -> sa.TextClause:
    return sa.text(f"{column} IN ({', '.join(repr(v) for v in values)})")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.alter_column('urgent', existing_type=sa.String(length=16), nullable=True)
    op.execute(sa.text(
        "UPDATE cases SET urgent = NULL WHERE urgent IS NOT NULL AND urgent NOT IN ('yes', 'no')"
    ))
    if dialect == 'postgresql':
        op.alter_column('cases', 'urgent', existing_type=sa.String(length=16),
                        type_=sa.Boolean(), existing_nullable=True,
                        postgresql_using="urgent::boolean")
    else:
        # SQLite copies the table: '1' and '0' become the booleans it stores.
        op.execute(sa.text(
            "UPDATE cases SET urgent = CASE urgent WHEN 'yes' THEN '1' ELSE '0' END "
            "WHERE urgent IS NOT NULL"
        ))
        with op.batch_alter_table('cases', schema=None) as batch_op:
            batch_op.alter_column('urgent', existing_type=sa.String(length=16),
                                  type_=sa.Boolean(), existing_nullable=True)
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=40),
                              type_=sa.String(length=32), existing_nullable=False)
        batch_op.create_check_constraint(op.f('ck_case_events_case_event_kind'),
                                         _within('kind', EVENT_KINDS))
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_outbox_messages_outbox_purpose'),
                                         _within('purpose', PURPOSES))
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=16),
                              type_=sa.String(length=32), existing_nullable=False)
        batch_op.create_check_constraint(op.f('ck_inbound_messages_inbound_status'),
                                         _within('status', INBOUND_STATUSES))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_inbound_messages_inbound_status'), type_='check')
        batch_op.alter_column('status', existing_type=sa.String(length=32),
                              type_=sa.String(length=16), existing_nullable=False)
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_messages_outbox_purpose'), type_='check')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_case_events_case_event_kind'), type_='check')
        batch_op.alter_column('kind', existing_type=sa.String(length=32),
                              type_=sa.String(length=40), existing_nullable=False)
    if dialect == 'postgresql':
        words = "CASE WHEN urgent THEN 'yes' WHEN NOT urgent THEN 'no' ELSE 'unknown' END"
        op.alter_column('cases', 'urgent', existing_type=sa.Boolean(),
                        type_=sa.String(length=16), existing_nullable=True,
                        postgresql_using=words)
    else:
        with op.batch_alter_table('cases', schema=None) as batch_op:
            batch_op.alter_column('urgent', existing_type=sa.Boolean(),
                                  type_=sa.String(length=16), existing_nullable=True)
        op.execute(sa.text(
            "UPDATE cases SET urgent = CASE urgent WHEN '1' THEN 'yes' WHEN '0' THEN 'no' "
            "ELSE 'unknown' END"
        ))
    op.execute(sa.text("UPDATE cases SET urgent = 'unknown' WHERE urgent IS NULL"))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.alter_column('urgent', existing_type=sa.String(length=16), nullable=False)
