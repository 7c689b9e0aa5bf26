"""content-free fates of skipped and rejected messages; emails found by Message-ID; a mailbox's last error and its months

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ID = sa.String(length=36)


def upgrade() -> None:
    op.create_table(
        "message_fates",
        sa.Column("mailbox_id", ID, nullable=False),
        sa.Column("fate_hash", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("entry", sa.String(length=320), nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("mailbox_id", "fate_hash", "reason"),
    )
    op.create_table(
        "mailbox_months",
        sa.Column("mailbox_id", ID, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox_id", "month"),
    )
    op.create_index("ix_emails_workspace_message_id", "emails", ["workspace_id", "message_id"])
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_error_at", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("last_error_at")
        batch.drop_column("last_error")
    op.drop_index("ix_emails_workspace_message_id", table_name="emails")
    op.drop_table("mailbox_months")
    op.drop_table("message_fates")
