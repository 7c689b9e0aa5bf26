"""Reads of the outbox view: a sender's sends (keyset pages, newest first), what is due, how
many wait in a workspace, and the email a reply answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, tuple_

from domain.send import QUEUED, SENDING
from domain.values import SharingLevel
from domain.visibility import Viewer, email_level
from projections.email_queries import copies_by_email, email_in_workspace
from projections.tables import emails, sends

Key = tuple[Any, ...]
WAITING = (QUEUED, SENDING)


def _shown(r: Any) -> dict[str, Any]:
    waiting = r.status in WAITING
    return {
        "id": r.id,
        "mailbox_id": r.mailbox_id,
        "kind": r.kind,
        "batch_id": r.batch_id,
        "message_id": r.message_id,
        "thread_id": r.thread_key,
        "email_id": r.email_id,
        "status": r.status,
        "reason": r.reason,
        "attempts": r.attempts,
        "queued_at": r.queued_at,
        "goes_at": (r.next_at or r.queued_at) if waiting else None,
        "sent_at": r.sent_at,
    }


def send_rows(conn: Connection, viewer: Viewer, send_id: str | None = None, after: Key | None = None,
              limit: int = 50) -> tuple[list[Key], list[dict[str, Any]]]:  # fmt: skip
    """The viewer's own sends (only a mailbox's owner sends from it), newest first."""
    query = select(sends).where(
        sends.c.workspace_id == viewer.workspace_id, sends.c.sender_id == viewer.member_id
    )
    if send_id is not None:
        query = query.where(sends.c.id == send_id)
    if after is not None:
        query = query.where(tuple_(sends.c.queued_at, sends.c.id) < tuple_(after[0], after[1]))
    rows = conn.execute(query.order_by(sends.c.queued_at.desc(), sends.c.id.desc()).limit(limit)).all()
    return [(r.queued_at, r.id) for r in rows], [_shown(r) for r in rows]


def due_sends(conn: Connection, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(send id, mailbox id) of the sends whose time has come (queued, or an attempt's lease over)."""
    stamp = now.astimezone(UTC).isoformat(timespec="microseconds")
    query = (
        select(sends.c.id, sends.c.mailbox_id)
        .where(sends.c.status.in_(WAITING), or_(sends.c.next_at.is_(None), sends.c.next_at <= stamp))
        .order_by(func.coalesce(sends.c.next_at, sends.c.queued_at), sends.c.queued_position)
        .limit(limit)
    )
    return [(r.id, r.mailbox_id) for r in conn.execute(query)]


def scheduled_count(conn: Connection, workspace_id: str) -> int:
    query = select(func.count()).where(sends.c.workspace_id == workspace_id, sends.c.status.in_(WAITING))
    return int(conn.execute(query).scalar() or 0)


def reply_parent(conn: Connection, viewer: Viewer, email_id: str) -> tuple[str, str] | None:
    """(a copy of the email the viewer may see, the email's thread) or None when it is not theirs to see."""
    if not email_in_workspace(conn, viewer, email_id):
        return None
    copies = copies_by_email(conn, [email_id]).get(email_id, [])
    if email_level(viewer, [c.access for c in copies]) is SharingLevel.NONE:
        return None
    visible = [c for c in copies if not c.access.hidden]
    own = [c for c in visible if c.owner_id == viewer.member_id]
    if not (own or visible):
        return None
    chosen = (own or visible)[0]
    thread = conn.execute(select(emails.c.thread_key).where(emails.c.id == email_id)).scalar_one()
    return chosen.id, str(thread)
