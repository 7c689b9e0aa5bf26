"""Calendars and meetings views: the calendars, each calendar's copy of a meeting and its
participants; then, once a page, per meeting touched its attendance (the addresses of the
copies that count) and the meeting summaries of the people and companies it concerns.

A copy counts when it is not retracted, its calendar not removed, and its owner did not
decline: a declined meeting is no interaction (the copy stays, for when the answer changes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update

from domain.calendar import Calendar, MeetingCopy
from domain.company import Company
from domain.meeting import DECLINED
from domain.person import Person
from projections.tables import (
    calendars,
    companies,
    meeting_attendance,
    meeting_copies,
    meeting_participants,
    person_addresses,
    record_meeting_summaries,
)
from projections.writer import Handler, ViewWriter

TOUCHED = "meetings_touched"  # writer.memo: meeting ids whose attendance is to settle
RECORDS = "meeting_records"  # writer.memo: (workspace, kind, address or domain) to refresh


def _touched(w: ViewWriter) -> set[str]:
    found: set[str] = w.memo.setdefault(TOUCHED, set())
    return found


def _records(w: ViewWriter) -> set[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = w.memo.setdefault(RECORDS, set())
    return found


def calendar_created(event: Calendar.Created, w: ViewWriter, position: int) -> None:
    w.insert(
        calendars,
        {
            "id": str(event.originator_id),
            "workspace_id": event.workspace_id,
            "owner_id": event.owner_id,
            "provider": event.provider,
            "url": str(event.connection.get("url", "")),
            "username": str(event.connection.get("username", "")),
            "sharing": event.sharing,
            "status": event.status,
            "status_reason": "",
            "cursors": {},
            "synced": 0,
            "skipped": {},
            "rejected": 0,
            "removed_at": None,
            "erased_at": None,
            "last_sync_at": None,
            "created_at": event.timestamp.isoformat(),
        },
    )


def _calendar(w: ViewWriter, calendar_id: str) -> Any:
    return w.execute(select(calendars).where(calendars.c.id == calendar_id)).one()


def _update_calendar(w: ViewWriter, event: Any, **values: Any) -> None:
    w.execute(update(calendars).where(calendars.c.id == str(event.originator_id)).values(**values))


def sharing_changed(event: Calendar.SharingChanged, w: ViewWriter, position: int) -> None:
    _update_calendar(w, event, sharing=event.level)


def status_changed(event: Calendar.StatusChanged, w: ViewWriter, position: int) -> None:
    _update_calendar(w, event, status=event.status, status_reason=event.reason)


def batch_recorded(event: Calendar.BatchRecorded, w: ViewWriter, position: int) -> None:
    row = _calendar(w, str(event.originator_id))
    skipped = dict(row.skipped)
    for reason, count in event.skipped.items():
        skipped[reason] = skipped.get(reason, 0) + count
    cursors = dict(row.cursors)
    if event.cursor is not None:
        cursors[event.collection] = event.cursor.get("sync_token") or event.cursor.get("ctag") or ""
    _update_calendar(
        w, event, synced=row.synced + event.synced, skipped=skipped, rejected=row.rejected + len(event.rejected),
        cursors=cursors, last_sync_at=event.timestamp.isoformat(),
    )  # fmt: skip


def collection_forgotten(event: Calendar.CollectionForgotten, w: ViewWriter, position: int) -> None:
    row = _calendar(w, str(event.originator_id))
    _update_calendar(w, event, cursors={k: v for k, v in row.cursors.items() if k != event.collection})


def _meetings_of(w: ViewWriter, calendar_id: str) -> set[str]:
    found = w.execute(select(meeting_copies.c.meeting_id).where(meeting_copies.c.calendar_id == calendar_id))
    return {r.meeting_id for r in found}


def calendar_removed(event: Calendar.Removed, w: ViewWriter, position: int) -> None:
    calendar_id = str(event.originator_id)
    _update_calendar(w, event, status="removed", removed_at=position)
    w.execute(update(meeting_copies).where(meeting_copies.c.calendar_id == calendar_id).values(hidden=True))
    _touched(w).update(_meetings_of(w, calendar_id))


def calendar_erased(event: Calendar.Erased, w: ViewWriter, position: int) -> None:
    """The content is gone with the key: so are the copies' rows."""
    calendar_id = str(event.originator_id)
    _update_calendar(w, event, erased_at=position)
    _touched(w).update(_meetings_of(w, calendar_id))
    copy_ids = select(meeting_copies.c.id).where(meeting_copies.c.calendar_id == calendar_id)
    w.execute(delete(meeting_participants).where(meeting_participants.c.copy_id.in_(copy_ids)))
    w.execute(delete(meeting_copies).where(meeting_copies.c.calendar_id == calendar_id))


def _details(headers: dict[str, Any]) -> dict[str, Any]:
    """The copy row's columns from its (unsealed) headers; empty ones when they were erased."""
    organizer = headers.get("organizer") or ["", ""]
    return {
        "starts_at": str(headers.get("starts_at") or ""),
        "ends_at": str(headers.get("ends_at") or ""),
        "all_day": bool(headers.get("all_day")),
        "status": str(headers.get("status") or "")[:16],
        "response": str(headers.get("response") or "")[:16],
        "organizer": organizer[0],
        "title": str(headers.get("title") or ""),
        "location": str(headers.get("location") or ""),
        "description": str(headers.get("description") or ""),
    }


def _participants(
    w: ViewWriter, copy_id: str, meeting_id: str, workspace_id: str, headers: dict[str, Any]
) -> None:
    rows: dict[str, tuple[str, str, str]] = {}
    organizer = headers.get("organizer")
    if organizer:
        rows[organizer[0]] = (organizer[1], "organizer", "ACCEPTED")
    for address, name, partstat in headers.get("attendees") or ():
        if address not in rows:
            rows[address] = (name, "attendee", str(partstat)[:16])
        elif rows[address][1] == "organizer":
            rows[address] = (rows[address][0] or name, "organizer", str(partstat)[:16])
    for address, name in headers.get("resources") or ():
        rows.setdefault(address, (name, "resource", ""))
    w.insert_rows(
        meeting_participants,
        ("copy_id", "address", "meeting_id", "workspace_id", "name", "role", "partstat"),
        [(copy_id, a, meeting_id, workspace_id, n, role, p) for a, (n, role, p) in rows.items()],
    )


def copy_recorded(event: MeetingCopy.Recorded, w: ViewWriter, position: int) -> None:
    copy_id = str(event.originator_id)
    owners: dict[str, Any] = w.memo.setdefault("calendar_rows", {})
    calendar = owners.get(event.calendar_id)
    if calendar is None:
        calendar = owners[event.calendar_id] = _calendar(w, event.calendar_id)
    w.insert(
        meeting_copies,
        {
            "id": copy_id,
            "meeting_id": event.meeting_id,
            "workspace_id": event.workspace_id,
            "calendar_id": event.calendar_id,
            "owner_id": calendar.owner_id,
            **_details(event.headers),
            "position": position,
            "retracted_at": None,
            "retracted_reason": None,
            "hidden": calendar.removed_at is not None,
        },
    )
    _participants(w, copy_id, event.meeting_id, event.workspace_id, event.headers)
    _touched(w).add(event.meeting_id)


def _copy(w: ViewWriter, copy_id: str) -> Any:
    return w.execute(select(meeting_copies).where(meeting_copies.c.id == copy_id)).one_or_none()


def copy_updated(event: MeetingCopy.Updated, w: ViewWriter, position: int) -> None:
    copy_id = str(event.originator_id)
    row = _copy(w, copy_id)
    if row is None:  # its calendar was erased
        return
    removed = _calendar(w, row.calendar_id).removed_at is not None
    w.execute(
        update(meeting_copies)
        .where(meeting_copies.c.id == copy_id)
        .values(
            **_details(event.headers),
            position=position,
            retracted_at=None,
            retracted_reason=None,
            hidden=removed,
        )
    )
    w.execute(delete(meeting_participants).where(meeting_participants.c.copy_id == copy_id))
    _participants(w, copy_id, row.meeting_id, row.workspace_id, event.headers)
    _touched(w).add(row.meeting_id)


def copy_retracted(event: MeetingCopy.Retracted, w: ViewWriter, position: int) -> None:
    copy_id = str(event.originator_id)
    row = _copy(w, copy_id)
    if row is None:
        return
    w.execute(
        update(meeting_copies)
        .where(meeting_copies.c.id == copy_id)
        .values(retracted_at=position, retracted_reason=event.reason[:32], hidden=True)
    )
    _touched(w).add(row.meeting_id)


def person_created(event: Person.Created, w: ViewWriter, position: int) -> None:
    for address in event.addresses:
        _records(w).add((event.workspace_id, "person", address))


def address_added(event: Person.AddressAdded, w: ViewWriter, position: int) -> None:
    w.memo.setdefault("meeting_people", set()).add(str(event.originator_id))


def person_merged(event: Person.Merged, w: ViewWriter, position: int) -> None:
    w.execute(
        delete(record_meeting_summaries).where(
            record_meeting_summaries.c.kind == "person",
            record_meeting_summaries.c.record_id == str(event.originator_id),
        )
    )
    w.memo.setdefault("meeting_people", set()).add(event.target_id)


def company_created(event: Company.Created, w: ViewWriter, position: int) -> None:
    _records(w).add((event.workspace_id, "company", event.domain))


HANDLERS: dict[type, Handler] = {
    Calendar.Created: calendar_created,
    Calendar.SharingChanged: sharing_changed,
    Calendar.StatusChanged: status_changed,
    Calendar.BatchRecorded: batch_recorded,
    Calendar.CollectionForgotten: collection_forgotten,
    Calendar.Removed: calendar_removed,
    Calendar.Erased: calendar_erased,
    MeetingCopy.Recorded: copy_recorded,
    MeetingCopy.Updated: copy_updated,
    MeetingCopy.Retracted: copy_retracted,
    Person.Created: person_created,
    Person.AddressAdded: address_added,
    Person.Merged: person_merged,
    Company.Created: company_created,
}


# settling, once a page ------------------------------------------------------------------
CHUNK = 500  # ids in one IN (...)


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[at : at + CHUNK] for at in range(0, len(items), CHUNK)]


def settle(w: ViewWriter) -> None:
    """Attendance of the meetings the page touched, then the summaries of their records: a few
    statements per CHUNK of meetings and records, whatever the page holds."""
    touched = sorted(w.memo.pop(TOUCHED, set()))
    records = set(w.memo.pop(RECORDS, set()))
    for chunk in _chunks(touched):
        records |= _settle_meetings(w, chunk)
    people = set(w.memo.pop("meeting_people", set()))
    by_workspace: dict[tuple[str, str], set[str]] = {}
    for workspace_id, kind, value in records:
        by_workspace.setdefault((workspace_id, kind), set()).add(value)
    for (workspace_id, kind), values in sorted(by_workspace.items()):
        for chunk in _chunks(sorted(values)):
            if kind == "person":
                people |= set(
                    w.execute(
                        select(person_addresses.c.person_id).where(
                            person_addresses.c.workspace_id == workspace_id,
                            person_addresses.c.address.in_(chunk),
                        )
                    ).scalars()
                )
            else:
                _refresh_companies(w, workspace_id, chunk)
    for chunk in _chunks(sorted(people)):
        _refresh_people(w, chunk)


def _settle_meetings(w: ViewWriter, meeting_ids: list[str]) -> set[tuple[str, str, str]]:
    """The meetings' attendance from the copies that count; the records whose rows changed."""
    before = {
        (r.workspace_id, r.address, r.domain)
        for r in w.execute(
            select(
                meeting_attendance.c.workspace_id, meeting_attendance.c.address, meeting_attendance.c.domain
            ).where(meeting_attendance.c.meeting_id.in_(meeting_ids))
        )
    }
    counted: dict[str, list[Any]] = {}
    for c in w.execute(
        select(
            meeting_copies.c.id,
            meeting_copies.c.meeting_id,
            meeting_copies.c.workspace_id,
            meeting_copies.c.starts_at,
        )
        .where(
            meeting_copies.c.meeting_id.in_(meeting_ids),
            meeting_copies.c.hidden.is_(False),
            meeting_copies.c.response != DECLINED,
        )
        .order_by(meeting_copies.c.position.desc())
    ):
        counted.setdefault(c.meeting_id, []).append(c)
    w.execute(delete(meeting_attendance).where(meeting_attendance.c.meeting_id.in_(meeting_ids)))
    meeting_of = {c.id: c.meeting_id for cs in counted.values() for c in cs}
    addresses: dict[str, set[str]] = {}
    for chunk in _chunks(sorted(meeting_of)):
        for p in w.execute(
            select(meeting_participants.c.copy_id, meeting_participants.c.address).where(
                meeting_participants.c.copy_id.in_(chunk), meeting_participants.c.role != "resource"
            )
        ):
            addresses.setdefault(meeting_of[p.copy_id], set()).add(p.address)
    rows = []
    after: set[tuple[str, str, str]] = set()
    for meeting_id, copies in sorted(counted.items()):
        latest = copies[0]  # the latest details any calendar had of it
        for address in sorted(addresses.get(meeting_id, ())):
            domain = address.rpartition("@")[2]
            rows.append((latest.workspace_id, address, meeting_id, domain, latest.starts_at))
            after.add((latest.workspace_id, address, domain))
    w.insert_rows(meeting_attendance, ("workspace_id", "address", "meeting_id", "domain", "starts_at"), rows)
    changed = before | after
    return {(ws, "person", a) for ws, a, _ in changed} | {(ws, "company", d) for ws, _, d in changed}


def _summaries(w: ViewWriter, kind: str, record_ids: list[str], statement: Any) -> None:
    """Replace the records' summaries with what `statement` gives: (record id, workspace id,
    meetings, first and latest as 'starts_at meeting_id'). Starts are fixed-width UTC text, so
    the least and greatest of those strings are the first and latest meetings."""
    w.execute(
        delete(record_meeting_summaries).where(
            record_meeting_summaries.c.kind == kind, record_meeting_summaries.c.record_id.in_(record_ids)
        )
    )
    rows = []
    for record_id, workspace_id, count, first, latest in w.execute(statement):
        first_at, _, first_id = first.partition(" ")
        latest_at, _, latest_id = latest.partition(" ")
        rows.append((kind, record_id, workspace_id, count, first_at, first_id, latest_at, latest_id))
    w.insert_rows(
        record_meeting_summaries,
        (
            "kind",
            "record_id",
            "workspace_id",
            "meetings",
            "first_at",
            "first_meeting",
            "latest_at",
            "latest_meeting",
        ),
        rows,
    )


def _moment() -> Any:
    return meeting_attendance.c.starts_at + " " + meeting_attendance.c.meeting_id


def _refresh_people(w: ViewWriter, person_ids: list[str]) -> None:
    statement = (
        select(
            person_addresses.c.person_id,
            person_addresses.c.workspace_id,
            func.count(meeting_attendance.c.meeting_id.distinct()),
            func.min(_moment()),
            func.max(_moment()),
        )
        .join(
            meeting_attendance,
            (meeting_attendance.c.workspace_id == person_addresses.c.workspace_id)
            & (meeting_attendance.c.address == person_addresses.c.address),
        )
        .where(person_addresses.c.person_id.in_(person_ids))
        .group_by(person_addresses.c.person_id, person_addresses.c.workspace_id)
    )
    _summaries(w, "person", person_ids, statement)


def _refresh_companies(w: ViewWriter, workspace_id: str, domains: list[str]) -> None:
    ids = list(
        w.execute(
            select(companies.c.id).where(
                companies.c.workspace_id == workspace_id, companies.c.domain.in_(domains)
            )
        ).scalars()
    )
    if not ids:
        return
    statement = (
        select(
            companies.c.id,
            companies.c.workspace_id,
            func.count(meeting_attendance.c.meeting_id.distinct()),
            func.min(_moment()),
            func.max(_moment()),
        )
        .join(
            meeting_attendance,
            (meeting_attendance.c.workspace_id == companies.c.workspace_id)
            & (meeting_attendance.c.domain == companies.c.domain),
        )
        .where(companies.c.id.in_(ids))
        .group_by(companies.c.id, companies.c.workspace_id)
    )
    _summaries(w, "company", ids, statement)
