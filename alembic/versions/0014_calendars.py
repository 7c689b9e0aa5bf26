"""calendars, meeting copies, their participants, attendance and record meeting summaries

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.String(length=36)


def upgrade() -> None:
    op.create_table(
        "calendars",
        sa.Column("id", ID, primary_key=True),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("sharing", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("cursors", sa.JSON(), nullable=False),
        sa.Column("synced", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("removed_at", sa.BigInteger()),
        sa.Column("erased_at", sa.BigInteger()),
        sa.Column("last_sync_at", sa.String(length=40)),
        sa.Column("created_at", sa.String(length=40), nullable=False),
    )
    op.create_index("ix_calendars_workspace_id", "calendars", ["workspace_id"])
    op.create_table(
        "meeting_copies",
        sa.Column("id", ID, primary_key=True),
        sa.Column("meeting_id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("calendar_id", ID, nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("starts_at", sa.String(length=40), nullable=False),
        sa.Column("ends_at", sa.String(length=40), nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response", sa.String(length=16), nullable=False),
        sa.Column("organizer", sa.String(length=320), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("retracted_at", sa.BigInteger()),
        sa.Column("retracted_reason", sa.String(length=32)),
        sa.Column("hidden", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_meeting_copies_meeting_id", "meeting_copies", ["meeting_id"])
    op.create_index("ix_meeting_copies_calendar_id", "meeting_copies", ["calendar_id"])
    op.create_index("ix_meeting_copies_workspace", "meeting_copies", ["workspace_id"])
    op.create_table(
        "meeting_participants",
        sa.Column("copy_id", ID, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("meeting_id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("partstat", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("copy_id", "address"),
    )
    op.create_index("ix_meeting_participants_meeting_id", "meeting_participants", ["meeting_id"])
    op.create_table(
        "meeting_attendance",
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("meeting_id", ID, nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("starts_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "address", "meeting_id"),
    )
    op.create_index(
        "ix_meeting_attendance_address",
        "meeting_attendance",
        ["workspace_id", "address", "starts_at", "meeting_id"],
    )
    op.create_index(
        "ix_meeting_attendance_domain",
        "meeting_attendance",
        ["workspace_id", "domain", "starts_at", "meeting_id"],
    )
    op.create_index("ix_meeting_attendance_meeting", "meeting_attendance", ["meeting_id"])
    op.create_table(
        "record_meeting_summaries",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.String(length=40), nullable=False),
        sa.Column("first_meeting", ID, nullable=False),
        sa.Column("latest_at", sa.String(length=40), nullable=False),
        sa.Column("latest_meeting", ID, nullable=False),
        sa.PrimaryKeyConstraint("kind", "record_id"),
    )


def downgrade() -> None:
    for table in ("record_meeting_summaries", "meeting_attendance", "meeting_participants", "meeting_copies",
                  "calendars"):  # fmt: skip
        op.drop_table(table)
