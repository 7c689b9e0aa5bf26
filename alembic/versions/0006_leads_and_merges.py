"""leads, their contacts, and merged people

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_leads_workspace_id", "leads", ["workspace_id"])
    op.create_table(
        "lead_contacts",
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "person_id"),
    )
    op.create_index("ix_lead_contacts_person", "lead_contacts", ["person_id"])
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("merged_into", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("merged_into")
    op.drop_table("lead_contacts")
    op.drop_table("leads")
