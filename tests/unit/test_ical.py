"""iCalendar resources to meetings: keys, series expansion, private and room rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.ical import MalformedCalendarError, parse_calendar
from domain.filtering import InternalSet
from domain.meeting import PRIVATE, meeting_skip_reason, people_to_create, response_of
from domain.values import RecordPolicy

WINDOW = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
INTERNAL = InternalSet(frozenset({"acme.com"}), frozenset())


def _cal(*events: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n" + "".join(events) + "END:VCALENDAR\r\n").encode()


def _event(uid: str, start: str, *lines: str) -> str:
    body = [f"UID:{uid}", f"DTSTART:{start}", "DTEND:" + start.replace("T10", "T11"), *lines]
    return "BEGIN:VEVENT\r\n" + "".join(f"{line}\r\n" for line in body) + "END:VEVENT\r\n"


def test_a_single_event_has_no_recurrence_id_so_a_move_keeps_its_key() -> None:
    before = parse_calendar(_cal(_event("one", "20260105T100000Z")), WINDOW)
    after = parse_calendar(_cal(_event("one", "20260107T100000Z")), WINDOW)
    assert [m.recurrence_id for m in before] == [None]
    assert before[0].key == after[0].key and before[0].starts_at != after[0].starts_at


def test_a_series_expands_with_its_exdate_and_its_moved_occurrence() -> None:
    master = _event("s", "20260105T100000Z", "RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE:20260119T100000Z")
    moved = _event("s", "20260113T100000Z", "RECURRENCE-ID:20260112T100000Z", "SUMMARY:moved")
    meetings = sorted(parse_calendar(_cal(master, moved), WINDOW), key=lambda m: m.starts_at)
    assert [m.starts_at[:10] for m in meetings] == ["2026-01-05", "2026-01-13", "2026-01-26"]
    assert meetings[1].recurrence_id == "2026-01-12T10:00:00+00:00" and meetings[1].title == "moved"
    assert len({m.key for m in meetings}) == 3


def test_an_all_day_event_and_a_timezone() -> None:
    day = "BEGIN:VEVENT\r\nUID:d\r\nDTSTART;VALUE=DATE:20260301\r\nEND:VEVENT\r\n"
    zoned = "BEGIN:VEVENT\r\nUID:z\r\nDTSTART;TZID=Europe/Paris:20260601T100000\r\nEND:VEVENT\r\n"
    found = {m.uid: m for m in parse_calendar(_cal(day, zoned), WINDOW)}
    assert found["d"].all_day and found["d"].ends_at.startswith("2026-03-02")
    assert found["z"].starts_at == "2026-06-01T08:00:00+00:00"


@pytest.mark.parametrize(
    "data",
    [
        b"not a calendar",
        _cal("BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n"),
        _cal(_event("r", "20260105T100000Z", "RRULE:FREQ=NOPE")),
    ],
)
def test_malformed_resources_raise_with_a_reason_of_ours(data: bytes) -> None:
    with pytest.raises(MalformedCalendarError) as raised:
        parse_calendar(data, WINDOW)
    assert str(raised.value) and "NOPE" not in str(raised.value)


def test_private_rooms_roles_and_policies() -> None:
    lines = ("ORGANIZER:mailto:bob@acme.com", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:ann@client.com",
             "ATTENDEE;CUTYPE=ROOM:mailto:room@client.com", "ATTENDEE:mailto:noreply@client.com")  # fmt: skip
    (meeting,) = parse_calendar(_cal(_event("p", "20260105T100000Z", *lines)), WINDOW)
    assert meeting.addresses() == ["bob@acme.com", "ann@client.com", "noreply@client.com"]
    owner = {"bob@acme.com"}
    assert response_of(meeting, owner) == "organizer"
    created = people_to_create(meeting, response_of(meeting, owner), RecordPolicy.SELECTIVE, INTERNAL)
    assert [a for a, _, _ in created] == ["ann@client.com"]
    assert people_to_create(meeting, "needs-action", RecordPolicy.SELECTIVE, INTERNAL) == []
    assert people_to_create(meeting, "declined", RecordPolicy.ALL, INTERNAL) == []
    (private,) = parse_calendar(_cal(_event("q", "20260105T100000Z", *lines, "CLASS:PRIVATE")), WINDOW)
    assert meeting_skip_reason(private, INTERNAL) == PRIVATE
    internal_only = parse_calendar(
        _cal(_event("i", "20260105T100000Z", "ORGANIZER:mailto:bob@acme.com")), WINDOW
    )
    assert meeting_skip_reason(internal_only[0], INTERNAL) == "internal_only"
