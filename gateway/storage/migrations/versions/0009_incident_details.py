"""Alert answers a focal point needs: incident dates, perpetrator, age, girls and boys counts

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 10:20:00.000000

New nullable columns on `cases`: existing rows keep NULL (not asked then) and their
`children`/`sex`, which stay for them and are still derived for new alerts. The two
vocabularies are stored by value with a named check constraint, as every enum of the schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERPETRATORS = ('armed_group', 'state_forces', 'other', 'unknown')
AGE_GROUPS = ('under_15', '15_17', 'unknown')


def _within(column: str, values: Sequence[str]) -> sa.TextClause:
    return sa.text(f"{column} IN ({', '.join(repr(v) for v in values)})")


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incident_from', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('incident_to', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('perpetrator', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('age_group', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('girls', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('boys', sa.String(length=8), nullable=True))
        batch_op.create_check_constraint(op.f('ck_cases_perpetrator'),
                                         _within('perpetrator', PERPETRATORS))
        batch_op.create_check_constraint(op.f('ck_cases_age_group'),
                                         _within('age_group', AGE_GROUPS))


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_cases_age_group'), type_='check')
        batch_op.drop_constraint(op.f('ck_cases_perpetrator'), type_='check')
        batch_op.drop_column('boys')
        batch_op.drop_column('girls')
        batch_op.drop_column('age_group')
        batch_op.drop_column('perpetrator')
        batch_op.drop_column('incident_to')
        batch_op.drop_column('incident_from')
