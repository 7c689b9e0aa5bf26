"""mailbox secrets and the IMAP UID ledger (not views)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_secrets",
        sa.Column("mailbox_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("mailbox_id"),
    )
    op.create_table(
        "imap_uids",
        sa.Column("mailbox_id", sa.String(length=36), nullable=False),
        sa.Column("folder", sa.String(length=512), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("copy_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("mailbox_id", "folder", "uidvalidity", "uid"),
    )
    op.create_index("ix_imap_uids_copy", "imap_uids", ["mailbox_id", "copy_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_imap_uids_copy", table_name="imap_uids")
    op.drop_table("imap_uids")
    op.drop_table("mailbox_secrets")
