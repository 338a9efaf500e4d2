"""Possible duplicates: links between reports of one incident

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 10:20:00.000000

`case_links` holds a later case that may be (kind `possible`, found at routing) or is (kind
`confirmed`, by a focal point's SAME) a report of the same incident as an earlier case. A
confirmation is a case event of the new kind `linked`: the check constraint
`ck_case_events_case_event_kind` is written again with it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_KINDS = (
    'created', 'partial', 'completed', 'spooled', 'routed', 'flagged_flood',
    'no_woman_available', 'no_recipient', 'sms_sent', 'sms_not_sent', 'sms_failed',
    'sms_interrupted', 'escalated', 'escalation_skipped', 'acknowledged', 'closed',
    'unauthorised_command',
)
NEW_EVENT_KINDS = (*EVENT_KINDS, 'linked')
CONSTRAINT = 'ck_case_events_case_event_kind'


def _within(column: str, values: Sequence[str]) -> sa.TextClause:
    return sa.text(f"{column} IN ({', '.join(repr(v) for v in values)})")


def _event_kinds(values: Sequence[str]) -> None:
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CONSTRAINT), type_='check')
        batch_op.create_check_constraint(op.f(CONSTRAINT), _within('kind', values))


def upgrade() -> None:
    op.create_table('case_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('other_case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_by', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('possible', 'confirmed')", name=op.f('ck_case_links_link_kind')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_links_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['other_case_id'], ['cases.id'], name=op.f('fk_case_links_other_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['confirmed_by'], ['focal_points.id'], name=op.f('fk_case_links_confirmed_by_focal_points'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_links')),
    sa.UniqueConstraint('case_id', 'other_case_id', name=op.f('uq_case_links_case_id_other_case_id'))
    )
    with op.batch_alter_table('case_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_links_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_links_other_case_id'), ['other_case_id'], unique=False)
    _event_kinds(NEW_EVENT_KINDS)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM case_events WHERE kind = 'linked'"))
    _event_kinds(EVENT_KINDS)
    with op.batch_alter_table('case_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_links_other_case_id'))
        batch_op.drop_index(batch_op.f('ix_case_links_case_id'))
    op.drop_table('case_links')
