"""capture slugs: which members a capture address's readable half may belong to

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.capture import member_slug

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "capture_addresses",
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_index("ix_capture_addresses_slug", "capture_addresses", ["slug"])
    # the members a store already has get their slug now (what the MemberAdded handler computes)
    members = sa.table(
        "members", sa.column("id"), sa.column("workspace_id"), sa.column("name"), sa.column("emails", sa.JSON)
    )
    conn = op.get_bind()
    rows = [
        {"member_id": r.id, "workspace_id": r.workspace_id, "slug": member_slug(r.name, list(r.emails or []))}
        for r in conn.execute(sa.select(members))
    ]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index("ix_capture_addresses_slug", table_name="capture_addresses")
    op.drop_table("capture_addresses")
