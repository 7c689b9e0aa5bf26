"""A meeting as parsed from a calendar (one occurrence of a series, or a single event), and the
rules that decide what of it is stored and who it makes a record of."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from domain.filtering import InternalSet, matches_any, skip_reason
from domain.records import is_role_address
from domain.values import RecordPolicy, stable_id

# Why a parsed meeting is not stored (counted among a calendar's `skipped`).
PRIVATE = "private"
CANCELLED = "cancelled"
NOT_STORED = "not_stored"  # an occurrence no longer in the series (EXDATE, or the resource gone)

# The calendar owner's answer to the meeting.
ORGANIZER = "organizer"
ACCEPTED = "accepted"
DECLINED = "declined"
NEEDS_ACTION = "needs-action"
TENTATIVE = "tentative"

RESOURCE_TYPES = frozenset({"ROOM", "RESOURCE"})
PRIVATE_CLASSES = frozenset({"PRIVATE", "CONFIDENTIAL"})

RULE_CALENDAR_ALL = "all:meeting_attendee"
RULE_CALENDAR_SELECTIVE = "selective:member_organized_or_accepted"


@dataclass(frozen=True)
class Attendee:
    address: str  # normalised
    name: str = ""
    partstat: str = "NEEDS-ACTION"
    cutype: str = "INDIVIDUAL"

    @property
    def is_resource(self) -> bool:
        return self.cutype.upper() in RESOURCE_TYPES


@dataclass(frozen=True)
class ParsedMeeting:
    """One meeting of a calendar resource. `recurrence_id` is set only for an occurrence of a
    series (RRULE/RDATE, or an exception with RECURRENCE-ID): a single event keeps its id when
    its time moves. Times are ISO 8601 in UTC."""

    uid: str
    recurrence_id: str | None
    starts_at: str
    ends_at: str
    all_day: bool = False
    status: str = "CONFIRMED"
    access: str = "PUBLIC"  # iCalendar CLASS
    sequence: int = 0
    organizer: Attendee | None = None
    attendees: tuple[Attendee, ...] = ()
    title: str = ""
    description: str = ""
    location: str = ""
    unparsed: tuple[str, ...] = field(default=())  # participants whose address did not normalise

    @property
    def key(self) -> str:
        return meeting_key(self.uid, self.recurrence_id)

    @property
    def is_private(self) -> bool:
        return self.access.upper() in PRIVATE_CLASSES

    @property
    def is_cancelled(self) -> bool:
        return self.status.upper() == "CANCELLED"

    def people(self) -> list[Attendee]:
        """Organizer and attendees who are people (rooms and resources are not), each once."""
        seen: dict[str, Attendee] = {}
        for person in (self.organizer, *self.attendees):
            if person is not None and not person.is_resource and person.address not in seen:
                seen[person.address] = person
        return list(seen.values())

    def addresses(self) -> list[str]:
        return [p.address for p in self.people()]


def meeting_key(uid: str, recurrence_id: str | None) -> str:
    return f"{uid}\x1e{recurrence_id or ''}"


def meeting_id_for(workspace_id: str, key: str) -> str:
    """One meeting per workspace and UID (+ recurrence id): every member's copy is this meeting."""
    return str(stable_id("meeting", workspace_id, key))


def response_of(meeting: ParsedMeeting, owner: Collection[str]) -> str:
    """The calendar owner's answer: organizer, or their attendee PARTSTAT (needs-action when absent)."""
    if meeting.organizer is not None and meeting.organizer.address in owner:
        return ORGANIZER
    for attendee in meeting.attendees:
        if attendee.address in owner:
            return attendee.partstat.lower()
    return NEEDS_ACTION


def meeting_skip_reason(
    meeting: ParsedMeeting,
    internal: InternalSet,
    exclusions: Collection[str] = (),
    blocklist: Collection[str] = (),
) -> str | None:
    """Why this meeting must not be stored (or must be retracted), or None to store it.

    Private or confidential first: nothing else of it is looked at. Then cancellation, then
    the rules of mail (exclusions, the owner's blocklist, no participants, internal only)."""
    if meeting.is_private:
        return PRIVATE
    if meeting.is_cancelled:
        return CANCELLED
    return skip_reason(meeting.addresses(), internal, exclusions, blocklist, meeting.unparsed)


def people_to_create(
    meeting: ParsedMeeting,
    response: str,
    policy: RecordPolicy,
    internal: InternalSet,
    exclusions: Collection[str] = (),
) -> list[tuple[str, str, str]]:
    """(address, name, rule) for each participant this meeting makes a person of: under `all`
    every external person attending; under `selective` the same, only for a meeting the owner
    organized or accepted; none for a declined one. Role addresses, rooms and resources never."""
    if policy is RecordPolicy.NONE or response == DECLINED:
        return []
    if policy is RecordPolicy.SELECTIVE and response not in (ORGANIZER, ACCEPTED):
        return []
    rule = RULE_CALENDAR_ALL if policy is RecordPolicy.ALL else RULE_CALENDAR_SELECTIVE
    return [
        (p.address, p.name, rule)
        for p in meeting.people()
        if not internal.is_internal(p.address)
        and not is_role_address(p.address)
        and not matches_any(p.address, exclusions)
    ]
