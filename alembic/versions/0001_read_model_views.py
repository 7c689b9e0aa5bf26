"""read model views

Revision ID: 0001
Revises:
Create Date: 2026-11-22 23:57:29.725566
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_table(
        "companies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("origin", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.create_index("ix_companies_workspace_domain", ["workspace_id", "domain"], unique=True)

    op.create_table(
        "email_copies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("mailbox_id", sa.String(length=36), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("sent_at", sa.String(length=40), nullable=True),
        sa.Column("thread_key", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("expunged_at", sa.BigInteger(), nullable=True),
        sa.Column("internal_at", sa.BigInteger(), nullable=True),
        sa.Column("excluded_at", sa.BigInteger(), nullable=True),
        sa.Column("blocklisted_at", sa.BigInteger(), nullable=True),
        sa.Column("blocklisted_entry", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("email_copies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_copies_email_id"), ["email_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_email_copies_mailbox_id"), ["mailbox_id"], unique=False)
        batch_op.create_index("ix_email_copies_workspace", ["workspace_id"], unique=False)

    op.create_table(
        "email_participants",
        sa.Column("copy_id", sa.String(length=36), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("email_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("copy_id", "address", "role"),
    )
    with op.batch_alter_table("email_participants", schema=None) as batch_op:
        batch_op.create_index("ix_participants_workspace_address", ["workspace_id", "address"], unique=False)
        batch_op.create_index("ix_participants_workspace_domain", ["workspace_id", "domain"], unique=False)

    op.create_table(
        "emails",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.String(length=40), nullable=True),
        sa.Column("from_address", sa.String(length=320), nullable=True),
        sa.Column("in_reply_to", sa.Text(), nullable=True),
        sa.Column("thread_key", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.create_index("ix_emails_workspace_sent", ["workspace_id", "sent_at"], unique=False)

    op.create_table(
        "grants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("copy_id", sa.String(length=36), nullable=False),
        sa.Column("mailbox_id", sa.String(length=36), nullable=False),
        sa.Column("email_id", sa.String(length=36), nullable=False),
        sa.Column("thread_key", sa.Text(), nullable=False),
        sa.Column("thread", sa.Boolean(), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("everyone", sa.Boolean(), nullable=False),
        sa.Column("granted_by", sa.String(length=36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_mailbox_id"), ["mailbox_id"], unique=False)

    op.create_table(
        "mailboxes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("sharing", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("blocklist", sa.JSON(), nullable=False),
        sa.Column("blocklist_at", sa.JSON(), nullable=False),
        sa.Column("cursors", sa.JSON(), nullable=False),
        sa.Column("synced", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("sharing_at", sa.BigInteger(), nullable=False),
        sa.Column("removed_at", sa.BigInteger(), nullable=True),
        sa.Column("erased_at", sa.BigInteger(), nullable=True),
        sa.Column("last_sync_at", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mailboxes_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "members",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_members_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "people",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("origin", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_people_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "person_addresses",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "address"),
    )
    with op.batch_alter_table("person_addresses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_addresses_person_id"), ["person_id"], unique=False)

    op.create_table(
        "view_tracking",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("signup_domain", sa.String(length=255), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("record_creation", sa.String(length=16), nullable=False),
        sa.Column("internal_domains", sa.JSON(), nullable=False),
        sa.Column("exclusions", sa.JSON(), nullable=False),
        sa.Column("member_addresses", sa.JSON(), nullable=False),
        sa.Column("mailbox_addresses", sa.JSON(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:

    op.drop_table("workspaces")
    op.drop_table("view_tracking")
    with op.batch_alter_table("person_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_addresses_person_id"))

    op.drop_table("person_addresses")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_workspace_id"))

    op.drop_table("people")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_workspace_id"))

    op.drop_table("members")
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mailboxes_workspace_id"))

    op.drop_table("mailboxes")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_mailbox_id"))

    op.drop_table("grants")
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_index("ix_emails_workspace_sent")

    op.drop_table("emails")
    with op.batch_alter_table("email_participants", schema=None) as batch_op:
        batch_op.drop_index("ix_participants_workspace_domain")
        batch_op.drop_index("ix_participants_workspace_address")

    op.drop_table("email_participants")
    with op.batch_alter_table("email_copies", schema=None) as batch_op:
        batch_op.drop_index("ix_email_copies_workspace")
        batch_op.drop_index(batch_op.f("ix_email_copies_mailbox_id"))
        batch_op.drop_index(batch_op.f("ix_email_copies_email_id"))

    op.drop_table("email_copies")
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_index("ix_companies_workspace_domain")

    op.drop_table("companies")
    op.drop_table("api_tokens")
