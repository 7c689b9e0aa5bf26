"""email_copies.bulk: the copy is mass mail (List-Unsubscribe, List-Id, Precedence, Auto-Submitted)

Connection strength (domain/strength.py) counts mass mail for less than direct mail.
Views built before this revision hold false for older copies until they are rebuilt from the log.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_copies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bulk", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("email_copies", schema=None) as batch_op:
        batch_op.drop_column("bulk")
