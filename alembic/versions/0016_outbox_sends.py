"""the outbox: sends, the workspace setting send_limits, bouncing addresses

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.String(length=36)


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("send_limits", sa.JSON(), nullable=True))
    with op.batch_alter_table("person_addresses") as batch:
        batch.add_column(sa.Column("bouncing", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "sends",
        sa.Column("id", ID, primary_key=True),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("mailbox_id", ID, nullable=False),
        sa.Column("sender_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("batch_id", ID),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("thread_key", sa.Text(), nullable=False),
        sa.Column("email_id", ID),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.String(length=40), nullable=False),
        sa.Column("next_at", sa.String(length=40)),
        sa.Column("sent_at", sa.String(length=40)),
        sa.Column("queued_position", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_sends_mailbox_id", "sends", ["mailbox_id"])
    op.create_index("ix_sends_sender", "sends", ["workspace_id", "sender_id", "queued_at", "id"])
    op.create_index("ix_sends_due", "sends", ["status", "next_at"])


def downgrade() -> None:
    op.drop_table("sends")
    with op.batch_alter_table("person_addresses") as batch:
        batch.drop_column("bouncing")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("send_limits")
