"""Service directory and consented contact for complaints and help requests

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 10:20:00.000000

`services` (with `service_locations`) is the directory the last screen of a report names the
nearest service from: an organisation's public number, stored plain. `contact_consents` keeps,
encrypted, the number of a reporter who agreed to be called by a support service, and when it
is safe; it goes to `assistance` or `services` focal points in an outbox row of the new purpose
`contact`: the check constraint `ck_outbox_messages_outbox_purpose` is written again with it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSES = (
    'case_alert', 'flood_summary', 'escalation_1', 'escalation_2', 'reporter_reply',
    'reporter_ack', 'command_alert',
)
NEW_PURPOSES = (*PURPOSES, 'contact')
PURPOSE_CONSTRAINT = 'ck_outbox_messages_outbox_purpose'
SERVICE_KINDS = ('health', 'gbv', 'psychosocial', 'legal', 'shelter', 'reintegration')


def _within(column: str, values: Sequence[str]) -> sa.TextClause:
    return sa.text(f"{column} IN ({', '.join(repr(v) for v in values)})")


def _purposes(values: Sequence[str]) -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(PURPOSE_CONSTRAINT), type_='check')
        batch_op.create_check_constraint(op.f(PURPOSE_CONSTRAINT), _within('purpose', values))


def upgrade() -> None:
    op.create_table(
        'services',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.Enum(*SERVICE_KINDS, name='service_kind', native_enum=False,
                                  create_constraint=True, length=32), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('hours', sa.String(length=100), nullable=False),
        sa.Column('languages', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
        sa.UniqueConstraint('name', 'kind', name='uq_services_name_kind'),
    )
    op.create_table(
        'service_locations',
        sa.Column('service_id', sa.Integer(), nullable=False),
        sa.Column('location_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['location_id'], ['locations.id'],
                                name=op.f('fk_service_locations_location_id_locations'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['service_id'], ['services.id'],
                                name=op.f('fk_service_locations_service_id_services'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('service_id', 'location_id', name=op.f('pk_service_locations')),
    )
    with op.batch_alter_table('service_locations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_locations_location_id'), ['location_id'],
                              unique=False)
    op.create_table(
        'contact_consents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('pseudonym', sa.String(length=64), nullable=False),
        sa.Column('number', sa.Text(), nullable=True),
        sa.Column('safe_time', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_contact_consents_case_id_cases'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_consents')),
        sa.UniqueConstraint('case_id', name=op.f('uq_contact_consents_case_id')),
    )
    with op.batch_alter_table('contact_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_consents_pseudonym'), ['pseudonym'],
                              unique=False)
    _purposes(NEW_PURPOSES)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM outbox_messages WHERE purpose = 'contact'"))
    _purposes(PURPOSES)
    with op.batch_alter_table('contact_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_consents_pseudonym'))
    op.drop_table('contact_consents')
    with op.batch_alter_table('service_locations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_locations_location_id'))
    op.drop_table('service_locations')
    op.drop_table('services')
