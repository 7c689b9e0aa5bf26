"""Capture slugs: which members a capture address's readable half may belong to."""

from __future__ import annotations

from sqlalchemy import Connection, select

from domain.capture import member_slug
from domain.workspace import Workspace
from projections.tables import capture_addresses
from projections.writer import Handler, ViewWriter


def member_added(event: Workspace.MemberAdded, w: ViewWriter, position: int) -> None:
    w.insert(
        capture_addresses,
        {
            "member_id": event.member_id,
            "workspace_id": str(event.originator_id),
            "slug": member_slug(event.name, event.emails),
        },
    )


HANDLERS: dict[type, Handler] = {Workspace.MemberAdded: member_added}


def members_with_slug(conn: Connection, slug: str) -> list[tuple[str, str]]:
    """(workspace id, member id) of every member whose capture slug is `slug`."""
    rows = conn.execute(
        select(capture_addresses.c.workspace_id, capture_addresses.c.member_id)
        .where(capture_addresses.c.slug == slug)
        .order_by(capture_addresses.c.member_id)
    )
    return [(r.workspace_id, r.member_id) for r in rows]
