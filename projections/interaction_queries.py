"""First and last interaction of a record: time, member and direction of its visible emails."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from domain.visibility import Viewer
from projections.email_queries import VISIBLE_COPY
from projections.tables import email_copies, email_participants, mailboxes


def _matching_copies(viewer: Viewer, match: ColumnElement[bool]) -> Any:
    """Visible copies with a matching participant; Bcc only on the viewer's own copies."""
    return (
        select(email_copies.c.email_id, email_copies.c.sent_at, email_copies.c.direction, mailboxes.c.owner_id)
        .select_from(
            email_copies.join(mailboxes, mailboxes.c.id == email_copies.c.mailbox_id).join(
                email_participants, email_participants.c.copy_id == email_copies.c.id
            )
        )
        .where(
            email_copies.c.workspace_id == viewer.workspace_id,
            email_copies.c.sent_at.is_not(None),
            VISIBLE_COPY,
            match,
            or_(email_participants.c.role != "bcc", mailboxes.c.owner_id == viewer.member_id),
        )
    )


def interactions(conn: Connection, viewer: Viewer, match: ColumnElement[bool]) -> dict[str, Any]:
    """{"first": ..., "last": ...}, each the time, member, direction and email, or None."""
    query = _matching_copies(viewer, match)
    newest = conn.execute(
        query.order_by(email_copies.c.sent_at.desc(), email_copies.c.email_id.desc(), mailboxes.c.owner_id)
        .limit(1)
    ).first()
    oldest = conn.execute(
        query.order_by(email_copies.c.sent_at, email_copies.c.email_id, mailboxes.c.owner_id).limit(1)
    ).first()
    return {"first": _moment(oldest), "last": _moment(newest)}


def _moment(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"at": row.sent_at, "member_id": row.owner_id, "direction": row.direction, "email_id": row.email_id}


def by_addresses(addresses: list[str]) -> ColumnElement[bool]:
    return email_participants.c.address.in_(addresses)


def by_domain(domain: str) -> ColumnElement[bool]:
    return and_(email_participants.c.domain == domain)
