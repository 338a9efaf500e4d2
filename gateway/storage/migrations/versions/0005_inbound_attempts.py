"""Incoming SMS count the runs of their job: one failing every time is given up, not retried

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 08:00:00.000000

`inbound_messages.attempts` counts the runs of a message's job begun; after three the message
is marked failed and its text and number are erased (workers/inbound.py). Existing rows start
at 0.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('attempts', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_column('attempts')
