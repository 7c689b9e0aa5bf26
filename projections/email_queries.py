"""Reads of the emails view, filtered for the viewer by domain.visibility."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, exists, select, tuple_

from domain.threads import thread_id_for
from domain.values import SharingLevel
from domain.visibility import CopyAccess, Viewer, copy_level, email_level
from projections.tables import email_copies, email_participants, emails, grants, mailboxes

HIDING_COLUMNS = ("expunged_at", "internal_at", "excluded_at", "blocklisted_at")
VISIBLE_COPY = and_(
    *(email_copies.c[column].is_(None) for column in HIDING_COLUMNS),
    mailboxes.c.removed_at.is_(None),
)


EmailKey = tuple[str, str]  # (sent_at, or '' without a date; email id): lists run newest first


def visible_email_ids(
    conn: Connection, viewer: Viewer, after: EmailKey | None = None, limit: int = 50
) -> list[EmailKey]:
    """Keys of the workspace's emails with a visible copy, newest first (no date last), after `after`.

    Two index ranges of (workspace, sent_at, id), dated then undated emails, each checked
    for a visible copy: a page costs the same wherever it is."""
    visible = exists().where(
        email_copies.c.email_id == emails.c.id, mailboxes.c.id == email_copies.c.mailbox_id, VISIBLE_COPY
    )
    found: list[EmailKey] = []
    if after is None or after[0] != "":
        dated = select(emails.c.sent_at, emails.c.id).where(
            emails.c.workspace_id == viewer.workspace_id, emails.c.sent_at.is_not(None), visible
        )
        if after is not None:
            dated = dated.where(tuple_(emails.c.sent_at, emails.c.id) < tuple_(after[0], after[1]))
        found = [
            (r.sent_at, r.id)
            for r in conn.execute(dated.order_by(emails.c.sent_at.desc(), emails.c.id.desc()).limit(limit))
        ]
    if len(found) < limit:
        undated = select(emails.c.id).where(
            emails.c.workspace_id == viewer.workspace_id, emails.c.sent_at.is_(None), visible
        )
        if after is not None and after[0] == "":
            undated = undated.where(emails.c.id < after[1])
        found += [
            ("", r.id) for r in conn.execute(undated.order_by(emails.c.id.desc()).limit(limit - len(found)))
        ]
    return found


@dataclass(frozen=True)
class CopyRow:
    id: str
    email_id: str
    mailbox_id: str
    direction: str
    owner_id: str
    thread_key: str
    hidden_reason: str | None
    access: CopyAccess


def copies_by_email(conn: Connection, email_ids: list[str]) -> dict[str, list[CopyRow]]:
    """Every copy of these emails, with what decides its level for any viewer."""
    c = email_copies.c
    rows = list(
        conn.execute(
            select(
                c.id,
                c.email_id,
                c.mailbox_id,
                c.direction,
                c.thread_key,
                *(c[column] for column in HIDING_COLUMNS),
                mailboxes.c.owner_id,
                mailboxes.c.sharing,
                mailboxes.c.removed_at,
            )
            .select_from(email_copies.join(mailboxes, mailboxes.c.id == email_copies.c.mailbox_id))
            .where(email_copies.c.email_id.in_(email_ids))
        )
    )
    live_grants = (
        list(
            conn.execute(
                select(grants).where(
                    grants.c.mailbox_id.in_({r.mailbox_id for r in rows}), grants.c.revoked_at.is_(None)
                )
            )
        )
        if rows
        else []
    )
    grouped: dict[str, list[CopyRow]] = defaultdict(list)
    for row in rows:
        applying = [g for g in live_grants if grant_applies(g, row)]
        reason = hidden_reason(row)
        grouped[row.email_id].append(
            CopyRow(
                id=row.id,
                email_id=row.email_id,
                mailbox_id=row.mailbox_id,
                direction=row.direction,
                owner_id=row.owner_id,
                thread_key=row.thread_key,
                hidden_reason=reason,
                access=CopyAccess(
                    owner_id=row.owner_id,
                    sharing=row.sharing,
                    hidden=reason is not None,
                    granted_members=frozenset(m for g in applying for m in g.members),
                    granted_everyone=any(g.everyone for g in applying),
                ),
            )
        )
    return grouped


def grant_applies(grant: Any, copy: Any) -> bool:
    """A share covers its own copy, or (a thread share) the owner's copies of that thread."""
    return bool(
        grant.mailbox_id == copy.mailbox_id
        and (grant.copy_id == copy.id or (grant.thread and grant.thread_key == copy.thread_key))
    )


def hidden_reason(row: Any) -> str | None:
    """Why a copy row is hidden from everyone, or None when it is visible."""
    if row.removed_at is not None:
        return "mailbox_removed"
    for column in HIDING_COLUMNS:
        if getattr(row, column) is not None:
            return column.removesuffix("_at").replace("internal", "internal_only")
    return None


def access(row: CopyRow) -> CopyAccess:
    return row.access


def email_summaries(conn: Connection, viewer: Viewer, email_ids: list[str]) -> list[dict[str, Any]]:
    """The emails as this viewer may see them, in the order of `email_ids`."""
    if not email_ids:
        return []
    copies = copies_by_email(conn, email_ids)
    rows = {
        r.id: r
        for r in conn.execute(
            select(
                emails.c.id, emails.c.workspace_id, emails.c.thread_key, emails.c.sent_at, emails.c.subject
            ).where(emails.c.id.in_(email_ids))
        )
    }
    own_copy_ids: dict[str, list[str]] = defaultdict(list)
    visible_copy_ids: list[str] = []
    levels: dict[str, SharingLevel] = {}
    for email_id in email_ids:
        levels[email_id] = email_level(viewer, [access(c) for c in copies[email_id]])
        for c in copies[email_id]:
            if copy_level(viewer, access(c)) is not SharingLevel.NONE:
                visible_copy_ids.append(c.id)
                if c.owner_id == viewer.member_id:
                    own_copy_ids[email_id].append(c.id)
    people = _participants(conn, visible_copy_ids, {i for ids in own_copy_ids.values() for i in ids})
    result = []
    for email_id in email_ids:
        level = levels[email_id]
        if level is SharingLevel.NONE:
            continue
        row = rows[email_id]
        visible = [c for c in copies[email_id] if copy_level(viewer, access(c)) is not SharingLevel.NONE]
        item: dict[str, Any] = {
            "id": email_id,
            "thread_id": thread_id_for(row.workspace_id, row.thread_key),
            "sent_at": row.sent_at,
            "level": level.value,
            "participants": people.get(email_id, []),
            "copies": len(visible),
            "direction": _direction(viewer, visible),
        }
        if level.rank >= SharingLevel.SUBJECT.rank:
            item["subject"] = row.subject
        if level is SharingLevel.FULL:
            item["has_body"] = True
        result.append(item)
    return result


def _direction(viewer: Viewer, copies: list[Any]) -> str:
    own: list[str] = [c.direction for c in copies if c.owner_id == viewer.member_id]
    return (own or [c.direction for c in copies])[0]


def _participants(
    conn: Connection, copy_ids: list[str], own_copy_ids: set[str]
) -> dict[str, list[dict[str, str]]]:
    """Participants per email from the visible copies; Bcc only from the viewer's own."""
    if not copy_ids:
        return {}
    rows = conn.execute(
        select(
            email_participants.c.email_id,
            email_participants.c.copy_id,
            email_participants.c.address,
            email_participants.c.role,
            email_participants.c.name,
        ).where(email_participants.c.copy_id.in_(copy_ids))
    )
    seen: dict[str, dict[tuple[str, str], dict[str, str]]] = defaultdict(dict)
    for row in rows:
        if row.role == "bcc" and row.copy_id not in own_copy_ids:
            continue
        key = (row.role, row.address)
        if key not in seen[row.email_id]:
            seen[row.email_id][key] = {"role": row.role, "address": row.address, "name": row.name}
    return {email_id: list(found.values()) for email_id, found in seen.items()}


def entitled_copy(conn: Connection, viewer: Viewer, email_id: str) -> str | None:
    """A copy whose events this viewer may read the body from (full level), or None."""
    copies = copies_by_email(conn, [email_id]).get(email_id, [])
    full = [c for c in copies if copy_level(viewer, access(c)) is SharingLevel.FULL]
    own = [c for c in full if c.owner_id == viewer.member_id]
    chosen = own or full
    return chosen[0].id if chosen else None


def email_in_workspace(conn: Connection, viewer: Viewer, email_id: str) -> bool:
    return (
        conn.execute(
            select(emails.c.id).where(emails.c.id == email_id, emails.c.workspace_id == viewer.workspace_id)
        ).first()
        is not None
    )


def own_copy(conn: Connection, viewer: Viewer, email_id: str) -> tuple[bool, str | None]:
    """(whether the viewer can see the email, the id of their own visible copy or None)."""
    if not email_in_workspace(conn, viewer, email_id):
        return False, None
    copies = copies_by_email(conn, [email_id]).get(email_id, [])
    if email_level(viewer, [c.access for c in copies]) is SharingLevel.NONE:
        return False, None
    own = [c.id for c in copies if c.owner_id == viewer.member_id and not c.access.hidden]
    return True, (own[0] if own else None)


def share_rows(conn: Connection, viewer: Viewer, email_id: str) -> list[dict[str, Any]]:
    """Live shares of an email that the viewer can see (its own, or ones reaching them)."""
    if not own_copy(conn, viewer, email_id)[0]:
        return []
    rows = conn.execute(
        select(grants)
        .where(
            grants.c.email_id == email_id,
            grants.c.workspace_id == viewer.workspace_id,
            grants.c.revoked_at.is_(None),
        )
        .order_by(grants.c.position)
    )
    return [
        {
            "id": g.id,
            "copy_id": g.copy_id,
            "members": g.members,
            "workspace": g.everyone,
            "thread": g.thread,
            "granted_by": g.granted_by,
        }
        for g in rows
        if g.granted_by == viewer.member_id or g.everyone or viewer.member_id in g.members or viewer.is_admin
    ]
