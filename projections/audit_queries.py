"""Explain what a viewer sees of one email, and which rule and event decided it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from domain.values import SharingLevel
from domain.visibility import AUDITOR_CEILING, Viewer, copy_level, email_level
from projections.email_queries import copies_by_email, grant_applies
from projections.tables import audit_log, email_copies, grants, mailboxes


def explain(conn: Connection, viewer: Viewer, email_id: str) -> dict[str, Any] | None:
    """Metadata and decisions only: never a subject or a body."""
    copies = copies_by_email(conn, [email_id]).get(email_id, [])
    if not copies:
        return None
    rows = {
        r.id: r
        for r in conn.execute(
            select(email_copies, mailboxes.c.sharing, mailboxes.c.sharing_at, mailboxes.c.removed_at)
            .select_from(email_copies.join(mailboxes, mailboxes.c.id == email_copies.c.mailbox_id))
            .where(email_copies.c.email_id == email_id)
        )
    }
    grant_rows = list(conn.execute(select(grants).where(grants.c.email_id == email_id)))
    explained = []
    for copy in copies:
        row = rows[copy.id]
        level = copy_level(viewer, copy.access)
        explained.append(
            {
                "copy_id": copy.id,
                "mailbox_id": copy.mailbox_id,
                "owner_id": copy.owner_id,
                "level": level.value,
                "hidden_reason": copy.hidden_reason,
                "rules": _rules(viewer, copy, row, grant_rows, level),
            }
        )
    return {
        "email_id": email_id,
        "viewer": viewer.member_id,
        "level": email_level(viewer, [c.access for c in copies]).value,
        "copies": explained,
    }


def _rules(
    viewer: Viewer, copy: Any, row: Any, grant_rows: list[Any], level: SharingLevel
) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    if row.removed_at is not None:
        rules.append({"rule": "mailbox_removed", "position": row.removed_at})
    if row.expunged_at is not None:
        rules.append({"rule": "expunged", "position": row.expunged_at})
    if row.internal_at is not None:
        rules.append({"rule": "internal_only", "position": row.internal_at})
    if row.excluded_at is not None:
        rules.append({"rule": "workspace_exclusion", "position": row.excluded_at})
    if row.blocklisted_at is not None:
        rules.append({"rule": "blocklist", "entry": row.blocklisted_entry, "position": row.blocklisted_at})
    if rules:
        return rules
    sharing = {"rule": "sharing", "level": row.sharing, "position": row.sharing_at}
    if viewer.is_auditor:  # grants and sharing reach no further than metadata (domain/visibility.py)
        return [sharing, {"rule": "auditor_metadata_only", "level": AUDITOR_CEILING.value}]
    if copy.owner_id == viewer.member_id:
        return [{"rule": "owner", "level": SharingLevel.FULL.value}]
    for grant in grant_rows:
        if not grant_applies(grant, copy):
            continue
        if grant.everyone or viewer.member_id in grant.members:
            rules.append(
                {
                    "rule": "grant",
                    "grant_id": grant.id,
                    "thread": grant.thread,
                    "position": grant.position,
                    "revoked_at": grant.revoked_at,
                    "level": SharingLevel.FULL.value if grant.revoked_at is None else None,
                }
            )
    rules.append(sharing)
    return rules


def log_page(
    conn: Connection,
    workspace_id: str,
    aggregate_id: str | None,
    event_type: str | None,
    since: str | None,
    until: str | None,
    after: int,
    limit: int,
    owner_id: str | None = None,
    mailbox_id: str | None = None,
) -> list[dict[str, Any]]:
    """The workspace's events in log order: metadata only (never subjects, bodies or addresses).
    `owner_id` / `mailbox_id` keep the events of that member's mailboxes (or that one) and of
    the copies they hold."""
    statement = select(audit_log).where(
        audit_log.c.workspace_id == workspace_id, audit_log.c.position > after
    )
    if owner_id is not None or mailbox_id is not None:
        boxes = select(mailboxes.c.id).where(mailboxes.c.workspace_id == workspace_id)
        if owner_id is not None:
            boxes = boxes.where(mailboxes.c.owner_id == owner_id)
        if mailbox_id is not None:
            boxes = boxes.where(mailboxes.c.id == mailbox_id)
        copies = select(email_copies.c.id).where(email_copies.c.mailbox_id.in_(boxes))
        statement = statement.where(
            audit_log.c.aggregate_id.in_(boxes) | audit_log.c.aggregate_id.in_(copies)
        )
    if aggregate_id is not None:
        statement = statement.where(audit_log.c.aggregate_id == aggregate_id)
    if event_type is not None:
        statement = statement.where(
            (audit_log.c.event_type == event_type) | (audit_log.c.aggregate_type == event_type)
        )
    if since is not None:
        statement = statement.where(audit_log.c.occurred_at >= since)
    if until is not None:
        statement = statement.where(audit_log.c.occurred_at <= until)
    rows = conn.execute(statement.order_by(audit_log.c.position).limit(limit))
    return [
        {
            "position": r.position,
            "occurred_at": r.occurred_at,
            "aggregate_type": r.aggregate_type,
            "aggregate_id": r.aggregate_id,
            "version": r.version,
            "event_type": r.event_type,
        }
        for r in rows
    ]
