"""webhook subscriptions and their deliveries (not views: a replay never touches them); the
threads view

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ID = sa.String(length=36)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text()),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhooks_workspace", "webhooks", ["workspace_id", "created_at", "id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("webhook_id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("email_id", ID),
        sa.Column("payload", sa.Text()),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("response_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("first_attempt_at", sa.Float()),
        sa.Column("next_attempt_at", sa.Float()),
        sa.Column("delivered_at", sa.String(length=40)),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_webhook_deliveries_order", "webhook_deliveries", ["webhook_id", "position", "seq"], unique=True
    )
    op.create_index(
        "ix_webhook_deliveries_status", "webhook_deliveries", ["webhook_id", "status", "position"]
    )
    op.create_index("ix_webhook_deliveries_email", "webhook_deliveries", ["workspace_id", "email_id"])

    op.create_table(
        "threads",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("thread_key", sa.Text(), nullable=False),
        sa.Column("first_email_id", ID, nullable=False),
        sa.Column("first_at", sa.String(length=40), nullable=False),
        sa.Column("last_at", sa.String(length=40), nullable=False),
        sa.Column("emails", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_threads_workspace_last", "threads", ["workspace_id", "last_at", "id"])
    op.create_table(
        "thread_addresses",
        sa.Column("thread_id", ID, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("last_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("thread_id", "address"),
    )
    op.create_index(
        "ix_thread_addresses_address", "thread_addresses", ["workspace_id", "address", "last_at", "thread_id"]
    )
    op.create_index(
        "ix_thread_addresses_domain", "thread_addresses", ["workspace_id", "domain", "last_at", "thread_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_thread_addresses_domain", table_name="thread_addresses")
    op.drop_index("ix_thread_addresses_address", table_name="thread_addresses")
    op.drop_table("thread_addresses")
    op.drop_index("ix_threads_workspace_last", table_name="threads")
    op.drop_table("threads")
    op.drop_index("ix_webhook_deliveries_email", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_status", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_order", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhooks_workspace", table_name="webhooks")
    op.drop_table("webhooks")
