"""Relay: a case reported by a focal point for someone else

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 11:00:00.000000

`cases.relayed_by_id` names the focal point who relayed a report (RELAY by SMS, "Report for
someone else" on USSD); NULL for every other case. Deleting the focal point keeps the case.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = 'fk_cases_relayed_by_id_focal_points'


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('relayed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f(FOREIGN_KEY), 'focal_points',
                                    ['relayed_by_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(FOREIGN_KEY), type_='foreignkey')
        batch_op.drop_column('relayed_by_id')
