"""audit log view: one metadata row per event

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("aggregate_type", sa.String(length=64), nullable=False),
        sa.Column("aggregate_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=96), nullable=False),
        sa.Column("occurred_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_audit_log_workspace_position", "audit_log", ["workspace_id", "position"])
    op.create_index("ix_audit_log_aggregate", "audit_log", ["aggregate_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
