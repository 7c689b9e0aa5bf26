"""Reads of the calendars and meetings views: a viewer sees a meeting's times and participants
through any copy that counts (every calendar shares at least that); title, description and
location through a copy of their own, or of a calendar shared `full` (never as an auditor)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select, tuple_

from domain.values import SharingLevel
from domain.visibility import CopyAccess, Viewer, copy_level
from projections.tables import (
    calendars,
    lead_contacts,
    meeting_attendance,
    meeting_copies,
    meeting_participants,
    person_addresses,
    record_meeting_summaries,
)

MeetingKey = tuple[str, str]  # (starts_at, meeting id), newest first
NO_MEETINGS: dict[str, Any] = {"first_meeting": None, "last_meeting": None, "next_meeting": None}


def calendar_rows(conn: Connection, viewer: Viewer, calendar_id: str | None = None) -> list[dict[str, Any]]:
    statement = select(calendars).where(calendars.c.workspace_id == viewer.workspace_id)
    if calendar_id is not None:
        statement = statement.where(calendars.c.id == calendar_id)
    rows = list(conn.execute(statement.order_by(calendars.c.created_at, calendars.c.id)))
    counts: dict[str, int] = {}
    if rows:
        for calendar_id_, count in conn.execute(
            select(meeting_copies.c.calendar_id, func.count())
            .where(meeting_copies.c.calendar_id.in_([r.id for r in rows]), meeting_copies.c.hidden.is_(False))
            .group_by(meeting_copies.c.calendar_id)
        ):
            counts[calendar_id_] = count
    result = []
    for r in rows:
        item: dict[str, Any] = {
            "id": r.id,
            "owner_id": r.owner_id,
            "provider": r.provider,
            "sharing": r.sharing,
            "status": r.status,
            "status_reason": r.status_reason,
            "synced": r.synced,
            "meetings": counts.get(r.id, 0),
            "skipped": r.skipped,
            "rejected": r.rejected,
            "last_sync_at": r.last_sync_at,
            "created_at": r.created_at,
        }
        if r.owner_id == viewer.member_id or viewer.is_admin:
            item["url"] = r.url
            item["username"] = r.username
            item["collections"] = sorted(r.cursors)
        result.append(item)
    return result


# a record's meetings -----------------------------------------------------------------------
def _keys(
    conn: Connection, viewer: Viewer, condition: Any, after: MeetingKey | None, limit: int
) -> list[MeetingKey]:
    statement = (
        select(meeting_attendance.c.starts_at, meeting_attendance.c.meeting_id)
        .where(meeting_attendance.c.workspace_id == viewer.workspace_id, condition)
        .distinct()
        .order_by(meeting_attendance.c.starts_at.desc(), meeting_attendance.c.meeting_id.desc())
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(
            tuple_(meeting_attendance.c.starts_at, meeting_attendance.c.meeting_id)
            < tuple_(after[0], after[1])
        )
    return [(r.starts_at, r.meeting_id) for r in conn.execute(statement)]


def _addresses_of(conn: Connection, person_ids: Sequence[str]) -> list[str]:
    return [
        a
        for (a,) in conn.execute(
            select(person_addresses.c.address).where(person_addresses.c.person_id.in_(person_ids))
        )
    ]


def person_meetings(conn: Connection, viewer: Viewer, person_id: str, after: MeetingKey | None, limit: int) -> tuple[list[MeetingKey], list[dict[str, Any]]]:  # fmt: skip
    addresses = _addresses_of(conn, [person_id])
    keys = _keys(conn, viewer, meeting_attendance.c.address.in_(addresses), after, limit) if addresses else []
    return keys, meeting_summaries(
        conn, viewer, [m for _, m in keys[: limit - 1]] if len(keys) == limit else [m for _, m in keys]
    )


def company_meetings(conn: Connection, viewer: Viewer, domain: str, after: MeetingKey | None, limit: int) -> tuple[list[MeetingKey], list[dict[str, Any]]]:  # fmt: skip
    keys = _keys(conn, viewer, meeting_attendance.c.domain == domain, after, limit)
    return keys, meeting_summaries(
        conn, viewer, [m for _, m in keys[: limit - 1]] if len(keys) == limit else [m for _, m in keys]
    )


def lead_meetings(conn: Connection, viewer: Viewer, lead_id: str, after: MeetingKey | None, limit: int) -> tuple[list[MeetingKey], list[dict[str, Any]]]:  # fmt: skip
    contacts = [
        p
        for (p,) in conn.execute(select(lead_contacts.c.person_id).where(lead_contacts.c.lead_id == lead_id))
    ]
    addresses = _addresses_of(conn, contacts) if contacts else []
    keys = _keys(conn, viewer, meeting_attendance.c.address.in_(addresses), after, limit) if addresses else []
    return keys, meeting_summaries(
        conn, viewer, [m for _, m in keys[: limit - 1]] if len(keys) == limit else [m for _, m in keys]
    )


# one meeting as a viewer sees it -----------------------------------------------------------
def _level(viewer: Viewer, copy: Any, sharing: dict[str, str]) -> SharingLevel:
    return copy_level(
        viewer, CopyAccess(copy.owner_id, sharing.get(copy.calendar_id, "metadata"), bool(copy.hidden))
    )


def meeting_summaries(conn: Connection, viewer: Viewer, meeting_ids: Sequence[str], declined: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """The meetings in the order given, each as `viewer` may see it; one not visible is left out.
    Declined copies are shown only with `declined` (a meeting's own page)."""
    if not meeting_ids:
        return []
    copies: dict[str, list[Any]] = defaultdict(list)
    for row in conn.execute(
        select(meeting_copies)
        .where(
            meeting_copies.c.meeting_id.in_(list(meeting_ids)),
            meeting_copies.c.workspace_id == viewer.workspace_id,
            meeting_copies.c.hidden.is_(False),
        )
        .order_by(meeting_copies.c.position.desc())
    ):
        if declined or row.response != "declined":
            copies[row.meeting_id].append(row)
    calendar_ids = {c.calendar_id for cs in copies.values() for c in cs}
    sharing: dict[str, str] = {}
    if calendar_ids:
        for row in conn.execute(
            select(calendars.c.id, calendars.c.sharing).where(calendars.c.id.in_(calendar_ids))
        ):
            sharing[row.id] = row.sharing
    people: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    by_copy = {c.id: c.meeting_id for cs in copies.values() for c in cs}
    for p in conn.execute(
        select(meeting_participants).where(meeting_participants.c.copy_id.in_(list(by_copy))).order_by(
            meeting_participants.c.address
        )
    ) if by_copy else ():  # fmt: skip
        shown = people[by_copy[p.copy_id]]
        if p.address not in shown or p.role == "organizer":
            shown[p.address] = {"address": p.address, "name": p.name, "role": p.role}
    result = []
    for meeting_id in meeting_ids:
        found = copies.get(meeting_id)
        if not found:
            continue
        latest = found[0]
        levels = [(_level(viewer, c, sharing), c) for c in found]
        best = SharingLevel.highest([lv for lv, _ in levels])
        item: dict[str, Any] = {
            "id": meeting_id,
            "starts_at": latest.starts_at,
            "ends_at": latest.ends_at,
            "all_day": latest.all_day,
            "organizer": latest.organizer or None,
            "participants": sorted(people[meeting_id].values(), key=lambda p: p["address"]),
            "copies": len(found),
            "level": best.value,
        }
        if best is SharingLevel.FULL:
            full = next(c for lv, c in levels if lv is SharingLevel.FULL)
            item.update(title=full.title, description=full.description, location=full.location)
        own = [c for c in found if c.owner_id == viewer.member_id]
        if own:
            item["response"] = own[0].response
        result.append(item)
    return result


def meeting_row(conn: Connection, viewer: Viewer, meeting_id: str) -> dict[str, Any] | None:
    found = meeting_summaries(conn, viewer, [meeting_id], declined=True)
    return found[0] if found else None


# first, last and next meeting of records -------------------------------------------------------
def _seek(
    conn: Connection, workspace_id: str, condition: Any, now: str, future: bool
) -> dict[str, str] | None:
    column = meeting_attendance.c.starts_at
    statement = select(column, meeting_attendance.c.meeting_id).where(
        meeting_attendance.c.workspace_id == workspace_id,
        condition,
        column > now if future else column <= now,
    )
    order = (
        (column, meeting_attendance.c.meeting_id)
        if future
        else (column.desc(), meeting_attendance.c.meeting_id.desc())
    )
    row = conn.execute(statement.order_by(*order).limit(1)).first()
    return {"id": row.meeting_id, "starts_at": row.starts_at} if row else None


def record_meeting_fields(
    conn: Connection, viewer: Viewer, kind: str, conditions: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Per record id (with the attendance condition of its addresses or domain): its first,
    last (started by now) and next meeting; None where there is none."""
    now = datetime.now(UTC).isoformat()
    if not conditions:
        return {}
    kept = {
        r.record_id: r
        for r in conn.execute(
            select(record_meeting_summaries).where(
                record_meeting_summaries.c.kind == kind,
                record_meeting_summaries.c.record_id.in_(list(conditions)),
            )
        )
    }
    result: dict[str, dict[str, Any]] = {}
    for record_id, condition in conditions.items():
        row = kept.get(record_id)
        if row is None:
            result[record_id] = dict(NO_MEETINGS)
            continue
        latest = {"id": row.latest_meeting, "starts_at": row.latest_at}
        future = row.latest_at > now
        result[record_id] = {
            "first_meeting": {"id": row.first_meeting, "starts_at": row.first_at}
            if row.first_at <= now
            else None,
            "last_meeting": _seek(conn, viewer.workspace_id, condition, now, False) if future else latest,
            "next_meeting": _seek(conn, viewer.workspace_id, condition, now, True) if future else None,
        }
    return result


def person_meeting_fields(conn: Connection, viewer: Viewer, addresses: dict[str, list[str]]) -> dict[str, dict[str, Any]]:  # fmt: skip
    return record_meeting_fields(
        conn, viewer, "person", {p: meeting_attendance.c.address.in_(a) for p, a in addresses.items() if a}
    )


def company_meeting_fields(
    conn: Connection, viewer: Viewer, domains: dict[str, str]
) -> dict[str, dict[str, Any]]:
    return record_meeting_fields(
        conn, viewer, "company", {c: meeting_attendance.c.domain == d for c, d in domains.items()}
    )
