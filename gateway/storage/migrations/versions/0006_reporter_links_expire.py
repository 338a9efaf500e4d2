"""Reporter links expire: a reporter's first-seen time may be erased

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 08:00:00.000000

The purge (gateway/privacy/retention.py) erases what links a pseudonym to its past after
GATEWAY_KEEP_REPORTER_LINK_DAYS: the reporter row itself when they were not seen since, else
the times older than that. `reporters.created_at` becomes nullable so that a reporter seen
again keeps no trace of when they first called. Existing rows keep their value.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('reporters', schema=None) as batch_op:
        batch_op.alter_column(
            'created_at', existing_type=sa.DateTime(timezone=True), nullable=True
        )


def downgrade() -> None:
    # A reporter whose first-seen time was erased is given their last-seen time.
    op.execute('UPDATE reporters SET created_at = last_seen_at WHERE created_at IS NULL')
    with op.batch_alter_table('reporters', schema=None) as batch_op:
        batch_op.alter_column(
            'created_at', existing_type=sa.DateTime(timezone=True), nullable=False
        )
