"""participants whose address did not normalise, screened by blocklists and exclusions

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unparsed_participants",
        sa.Column("copy_id", sa.String(length=36), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("copy_id", "address"),
    )
    op.create_index(
        "ix_unparsed_participants_workspace_domain", "unparsed_participants", ["workspace_id", "domain"]
    )


def downgrade() -> None:
    op.drop_index("ix_unparsed_participants_workspace_domain", table_name="unparsed_participants")
    op.drop_table("unparsed_participants")
