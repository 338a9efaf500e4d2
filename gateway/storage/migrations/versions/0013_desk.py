"""The desk: users, role policies, case notes, audit trail, and the work on a case

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 12:20:00.000000

`users` (argon2 hashes, lockout, an encrypted TOTP secret, the places they see in
`user_locations`), `role_policies` (a second factor an admin requires of a role), `case_notes`
(encrypted), `audit_entries` (every view of a case page and every action: no foreign key to the
case, so retention never touches the trail). Cases gain `verification`, `outcome`,
`duplicate_of_id` and who they are assigned to; four event kinds are added to
`ck_case_events_case_event_kind`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_KINDS = (
    'created', 'partial', 'completed', 'spooled', 'routed', 'flagged_flood',
    'no_woman_available', 'no_recipient', 'sms_sent', 'sms_not_sent', 'sms_failed',
    'sms_interrupted', 'escalated', 'escalation_skipped', 'acknowledged', 'closed',
    'unauthorised_command', 'linked',
)
NEW_EVENT_KINDS = (*EVENT_KINDS, 'assigned', 'note_added', 'verification_set', 'reopened')
CONSTRAINT = 'ck_case_events_case_event_kind'
DESK_ROLES = ('child_protection', 'conduct', 'assistance', 'services', 'coordinator', 'triage',
              'admin')
VERIFICATIONS = ('unverified', 'verified', 'not_verifiable', 'false_report')
OUTCOMES = ('referred', 'child_safe', 'task_force', 'duplicate', 'other')


def _within(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _event_kinds(values: Sequence[str]) -> None:
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CONSTRAINT), type_='check')
        batch_op.create_check_constraint(op.f(CONSTRAINT), sa.text(_within('kind', values)))


def upgrade() -> None:
    op.create_table('role_policies',
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('totp_required', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(_within('role', DESK_ROLES), name=op.f('ck_role_policies_desk_role')),
    sa.PrimaryKeyConstraint('role', name=op.f('pk_role_policies'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('focal_point_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('totp_secret', sa.Text(), nullable=True),
    sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(_within('role', DESK_ROLES), name=op.f('ck_users_desk_role')),
    sa.ForeignKeyConstraint(['focal_point_id'], ['focal_points.id'], name=op.f('fk_users_focal_point_id_focal_points'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('user_email', sa.String(length=254), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('case_reference', sa.String(length=12), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_entries_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_user_id'), ['user_id'], unique=False)
    op.create_table('user_locations',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_user_locations_location_id_locations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_locations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'location_id', name=op.f('pk_user_locations'))
    )
    with op.batch_alter_table('user_locations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_locations_location_id'), ['location_id'], unique=False)
    op.create_table('case_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_notes_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_notes_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_notes'))
    )
    with op.batch_alter_table('case_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_notes_case_id'), ['case_id'], unique=False)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification', sa.String(length=32), server_default='unverified', nullable=False))
        batch_op.add_column(sa.Column('outcome', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('duplicate_of_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assigned_focal_point_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assigned_user_id', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_cases_verification'), sa.text(_within('verification', VERIFICATIONS)))
        batch_op.create_check_constraint(op.f('ck_cases_outcome'), sa.text(_within('outcome', OUTCOMES)))
        batch_op.create_foreign_key(batch_op.f('fk_cases_assigned_user_id_users'), 'users', ['assigned_user_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_cases_assigned_focal_point_id_focal_points'), 'focal_points', ['assigned_focal_point_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_cases_duplicate_of_id_cases'), 'cases', ['duplicate_of_id'], ['id'], ondelete='SET NULL')
    _event_kinds(NEW_EVENT_KINDS)


def downgrade() -> None:
    kinds = ', '.join(repr(kind) for kind in NEW_EVENT_KINDS[len(EVENT_KINDS):])
    op.execute(sa.text(f"DELETE FROM case_events WHERE kind IN ({kinds})"))
    _event_kinds(EVENT_KINDS)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cases_duplicate_of_id_cases'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_cases_assigned_focal_point_id_focal_points'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_cases_assigned_user_id_users'), type_='foreignkey')
        batch_op.drop_constraint(op.f('ck_cases_outcome'), type_='check')
        batch_op.drop_constraint(op.f('ck_cases_verification'), type_='check')
        batch_op.drop_column('assigned_user_id')
        batch_op.drop_column('assigned_focal_point_id')
        batch_op.drop_column('duplicate_of_id')
        batch_op.drop_column('outcome')
        batch_op.drop_column('verification')
    with op.batch_alter_table('case_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_notes_case_id'))
    op.drop_table('case_notes')
    with op.batch_alter_table('user_locations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_locations_location_id'))
    op.drop_table('user_locations')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_user_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entries_case_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entries_at'))
    op.drop_table('audit_entries')
    op.drop_table('users')
    op.drop_table('role_policies')
