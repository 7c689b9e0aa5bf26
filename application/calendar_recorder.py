"""A batch of one calendar collection's changes recorded atomically: meeting copies new,
updated or retracted, the people the record-creation policy makes of their attendees, and the
calendar's batch (counts, reasons, resources, cursor)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from application.app import MailTrail
from application.companies import add_person
from application.errors import ConflictError
from application.ports import CalendarResource
from domain.calendar import DELETED, Calendar, MeetingCopy, copy_id_for
from domain.mailbox import Mailbox
from domain.meeting import ParsedMeeting, meeting_id_for, meeting_skip_reason, people_to_create, response_of
from domain.values import RecordPolicy
from domain.workspace import Workspace

MAX_ATTEMPTS = 5


@dataclass
class CalendarBatch:
    synced: int = 0  # copies new or changed
    retracted: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    position: int = 0


def skip_key(copy_id: UUID) -> str:
    return copy_id.hex[:16]


def headers_of(meeting: ParsedMeeting, response: str) -> dict[str, Any]:
    """What a copy keeps of a meeting (sealed with the calendar's key): rooms and resources
    apart from the people."""
    return {
        "starts_at": meeting.starts_at,
        "ends_at": meeting.ends_at,
        "all_day": meeting.all_day,
        "status": meeting.status,
        "sequence": meeting.sequence,
        "response": response,
        "organizer": [meeting.organizer.address, meeting.organizer.name] if meeting.organizer else None,
        "attendees": [[a.address, a.name, a.partstat] for a in meeting.attendees if not a.is_resource],
        "resources": [[a.address, a.name] for a in meeting.attendees if a.is_resource],
        "title": meeting.title,
        "description": meeting.description,
        "location": meeting.location,
    }


class CalendarRecorder:
    def __init__(self, app: MailTrail, calendar_id: str) -> None:
        self.app = app
        self.calendar_id = calendar_id
        self.known: set[UUID] = set()

    def record(
        self,
        collection: str,
        resources: list[CalendarResource],
        gone: list[str],
        cursor: dict[str, Any] | None,
    ) -> CalendarBatch:
        for _ in range(MAX_ATTEMPTS):
            calendar = self.app.load(Calendar, self.calendar_id)
            workspace = self.app.load(Workspace, calendar.workspace_id)
            batch, aggregates = self._build(workspace, calendar, collection, resources, gone, cursor)
            try:
                recordings = self.app.save(calendar, *aggregates)
            except IntegrityError:
                continue
            batch.position = recordings[-1].notification.id
            return batch
        raise ConflictError(f"calendar {self.calendar_id} is being synced by another writer")

    def _owner(self, workspace: Workspace, calendar: Calendar) -> tuple[set[str], list[str]]:
        """The owner's addresses, and the blocklist of the owner's mailboxes."""
        addresses = set(workspace.member(calendar.owner_id)["emails"])
        blocklist: list[str] = []
        for mailbox_id, owner in workspace.mailbox_owners.items():
            if owner != calendar.owner_id:
                continue
            addresses.update(workspace.mailbox_claims.get(mailbox_id, []))
            blocklist += self.app.load(Mailbox, mailbox_id).blocklist
        return addresses, blocklist

    def _copy(self, copies: dict[UUID, MeetingCopy], copy_id: UUID) -> MeetingCopy | None:
        if copy_id in copies:
            return copies[copy_id]
        if not self.app.exists(copy_id):
            return None
        copy = self.app.load(MeetingCopy, copy_id)
        copies[copy_id] = copy
        return copy

    def _build(
        self,
        workspace: Workspace,
        calendar: Calendar,
        collection: str,
        resources: list[CalendarResource],
        gone: list[str],
        cursor: dict[str, Any] | None,
    ) -> tuple[CalendarBatch, list[Aggregate]]:
        batch = CalendarBatch()
        internal = workspace.internal_set()
        exclusions = workspace.exclusions
        owner, blocklist = self._owner(workspace, calendar)
        policy = RecordPolicy(workspace.record_policy)
        workspace_id = str(workspace.id)
        copies: dict[UUID, MeetingCopy] = {}
        changed: set[UUID] = set()
        records: dict[UUID, Aggregate] = {}
        held: dict[str, list[str]] = {}
        skipped: dict[str, set[str]] = {}
        rejected: list[dict[str, str]] = []
        for resource in resources:
            if resource.meetings is None:  # unreadable: what it held stays as it was
                rejected.append({"ref": resource.href, "reason": resource.reason})
                continue
            before = set(calendar.resources.get(resource.href, []))
            now: list[str] = []
            for meeting in resource.meetings:
                copy_id = copy_id_for(self.calendar_id, meeting.key)
                reason = meeting_skip_reason(meeting, internal, exclusions, blocklist)
                copy = self._copy(copies, copy_id)
                if reason is not None:
                    skipped.setdefault(reason, set()).add(skip_key(copy_id))
                    if copy is not None and copy.retract(reason):
                        changed.add(copy_id)
                        batch.retracted += 1
                    continue
                response = response_of(meeting, owner)
                headers = headers_of(meeting, response)
                if copy is None:
                    copies[copy_id] = MeetingCopy(
                        calendar_id=self.calendar_id,
                        key=meeting.key,
                        workspace_id=workspace_id,
                        meeting_id=meeting_id_for(workspace_id, meeting.key),
                        headers=headers,
                        content={},
                    )
                    changed.add(copy_id)
                    batch.synced += 1
                elif copy.update(headers):
                    changed.add(copy_id)
                    batch.synced += 1
                now.append(str(copy_id))
                for address, name, rule in people_to_create(meeting, response, policy, internal, exclusions):
                    origin = {"rule": rule, "calendar_id": self.calendar_id}
                    add_person(self.app, records, self.known, workspace_id, address, name, origin)
            for copy_id_text in sorted(before - set(now)):  # an occurrence no longer in the series
                copy = self._copy(copies, UUID(copy_id_text))
                if copy is not None and copy.retract(DELETED):
                    changed.add(copy.id)
                    batch.retracted += 1
            if now or before:
                held[resource.href] = now
        for href in gone:
            for copy_id_text in calendar.resources.get(href, []):
                copy = self._copy(copies, UUID(copy_id_text))
                if copy is not None and copy.retract(DELETED):
                    changed.add(copy.id)
                    batch.retracted += 1
        batch.skipped = Counter({r: len(keys) for r, keys in skipped.items()})
        batch.rejected = len(rejected)
        calendar.record_batch(collection, cursor, batch.synced, skipped, rejected, held, gone)
        return batch, [*(copies[c] for c in sorted(changed)), *records.values()]
