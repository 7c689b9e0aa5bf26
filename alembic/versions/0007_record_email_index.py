"""record email lists as index ranges: the copy's time, owner, direction and hiding on each
participant row, emails keyed by (workspace, time, id), and the leads' emails kept by the projections

A store migrated from 0006 gets the participant columns filled from the copies here; its
lead_emails rows appear with the next rebuild from the log (`mailtrail replay`), as 0004's
`bulk` did.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

HIDDEN = "expunged_at IS NOT NULL OR internal_at IS NOT NULL OR excluded_at IS NOT NULL OR blocklisted_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("email_participants") as batch:
        batch.add_column(sa.Column("sent_at", sa.String(length=40), nullable=False, server_default=""))
        batch.add_column(sa.Column("owner_id", sa.String(length=36), nullable=False, server_default=""))
        batch.add_column(sa.Column("direction", sa.String(length=8), nullable=False, server_default=""))
        batch.add_column(sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE email_participants SET"
        " sent_at = COALESCE((SELECT c.sent_at FROM email_copies c WHERE c.id = email_participants.copy_id), ''),"
        " direction = COALESCE((SELECT c.direction FROM email_copies c WHERE c.id = email_participants.copy_id), ''),"
        " owner_id = COALESCE((SELECT m.owner_id FROM email_copies c JOIN mailboxes m ON m.id = c.mailbox_id"
        " WHERE c.id = email_participants.copy_id), '')"
    )
    op.execute(
        f"UPDATE email_participants SET hidden = true WHERE copy_id IN (SELECT id FROM email_copies WHERE {HIDDEN})"
    )
    op.drop_index("ix_participants_workspace_address", table_name="email_participants")
    op.drop_index("ix_participants_workspace_domain", table_name="email_participants")
    op.create_index(
        "ix_participants_address_time",
        "email_participants",
        ["workspace_id", "address", "sent_at", "email_id"],
    )
    op.create_index(
        "ix_participants_domain_time", "email_participants", ["workspace_id", "domain", "sent_at", "email_id"]
    )
    op.drop_index("ix_emails_workspace_sent", table_name="emails")
    op.create_index("ix_emails_workspace_sent", "emails", ["workspace_id", "sent_at", "id"])
    op.create_index("ix_emails_workspace_thread", "emails", ["workspace_id", "thread_key"])
    for table in ("people", "companies", "leads"):
        op.create_index(f"ix_{table}_workspace_created", table, ["workspace_id", "created_at", "id"])
    op.create_table(
        "lead_emails",
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("email_id", sa.String(length=36), nullable=False),
        sa.Column("bcc_owner", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("sent_at", sa.String(length=40), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "email_id", "bcc_owner"),
    )
    op.create_index("ix_lead_emails_time", "lead_emails", ["lead_id", "sent_at", "email_id"])


def downgrade() -> None:
    op.drop_table("lead_emails")
    for table in ("people", "companies", "leads"):
        op.drop_index(f"ix_{table}_workspace_created", table_name=table)
    op.drop_index("ix_emails_workspace_thread", table_name="emails")
    op.drop_index("ix_emails_workspace_sent", table_name="emails")
    op.create_index("ix_emails_workspace_sent", "emails", ["workspace_id", "sent_at"])
    op.drop_index("ix_participants_domain_time", table_name="email_participants")
    op.drop_index("ix_participants_address_time", table_name="email_participants")
    op.create_index("ix_participants_workspace_domain", "email_participants", ["workspace_id", "domain"])
    op.create_index("ix_participants_workspace_address", "email_participants", ["workspace_id", "address"])
    with op.batch_alter_table("email_participants") as batch:
        for column in ("hidden", "direction", "owner_id", "sent_at"):
            batch.drop_column(column)
