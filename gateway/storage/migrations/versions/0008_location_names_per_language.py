"""Place names per language: a location may have its own name in a caller's language

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 08:00:00.000000

`locations.names` maps a language code to the place's name in that language
({"en": "Central African Republic"}), from the optional `name_<lang>` columns of the locations
CSV. A language without a name of its own reads `locations.name`, so existing rows start with
no names (`{}`) and every screen shows what it showed before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('names', sa.JSON(), server_default='{}', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_column('names')
