"""kept per-record summaries, per-member interactions and connection strength

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.String(length=36)


def upgrade() -> None:
    op.create_table(
        "record_summaries",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("viewer", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("email_count", sa.Integer(), nullable=False),
        *(
            sa.Column(f"{end}_{what}", size, nullable=False)
            for end in ("first", "last")
            for what, size in (
                ("at", sa.String(length=40)),
                ("member", ID),
                ("direction", sa.String(length=8)),
                ("email", ID),
            )
        ),
        sa.Column("score", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "record_id", "viewer"),
    )
    for name, key in (("last", "last_at"), ("score", "score")):
        op.create_index(
            f"ix_record_summaries_{name}",
            "record_summaries",
            ["workspace_id", "kind", "viewer", sa.text(f"{key} DESC"), "created_at", "record_id"],
        )
    op.create_table(
        "record_members",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("variant", sa.String(length=4), nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.String(length=40), nullable=False),
        sa.Column("first_direction", sa.String(length=8), nullable=False),
        sa.Column("last_at", sa.String(length=40), nullable=False),
        sa.Column("last_direction", sa.String(length=8), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=False) for name in ("s_sent", "s_received", "s_mass")),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "n_sent",
                "n_received",
                "n_mass",
                "n_direct_sent",
                "n_direct_received",
                "window_days",
            )
        ),
        sa.Column("score", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "record_id", "member_id", "variant"),
    )
    op.create_index("ix_record_members_workspace", "record_members", ["workspace_id", "kind"])
    op.create_table(
        "strength_days",
        sa.Column("person_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("variant", sa.String(length=4), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("last_direct", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("person_id", "member_id", "variant", "day"),
    )
    op.create_index("ix_strength_days_window", "strength_days", ["workspace_id", "last_direct"])
    op.create_table(
        "strength_clock",
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("as_of", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id"),
    )


def downgrade() -> None:
    op.drop_table("strength_clock")
    op.drop_index("ix_strength_days_window", table_name="strength_days")
    op.drop_table("strength_days")
    op.drop_index("ix_record_members_workspace", table_name="record_members")
    op.drop_table("record_members")
    for name in ("last", "score"):
        op.drop_index(f"ix_record_summaries_{name}", table_name="record_summaries")
    op.drop_table("record_summaries")
