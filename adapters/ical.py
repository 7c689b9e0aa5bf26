"""iCalendar resources to meetings: `icalendar` parses, `recurring-ical-events` expands a series
over the sync window (EXDATE and RECURRENCE-ID exceptions honoured); nothing of ours does rrules.

`recurring-ical-events` gives every occurrence it returns a RECURRENCE-ID, single events
included: a meeting's recurrence id is kept only when the resource holds a series (RRULE or
RDATE on the master, or an exception that had a RECURRENCE-ID of its own), so that a single
event keeps its id when its time moves."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
import recurring_ical_events

from domain.meeting import Attendee, ParsedMeeting
from domain.values import lenient_address, normalize_address

MAX_TEXT = 10_000  # a title, description or location is cut here


class MalformedCalendarError(ValueError):
    """The resource is not iCalendar we can read; the reason is ours, never its content."""


def _utc(value: Any) -> tuple[datetime, bool]:
    """(the moment in UTC, whether it is a whole day). A floating time is taken as UTC."""
    if isinstance(value, datetime):
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)), False
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC), True
    raise MalformedCalendarError("a time is neither a date nor a date-time")


def _stamp(moment: datetime) -> str:
    return moment.isoformat()


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    return str(value)[:MAX_TEXT] if value is not None else ""


def _person(value: Any) -> tuple[Attendee | None, str | None]:
    """(an attendee, or the raw address when it does not normalise)."""
    raw = str(value)
    if raw.lower().startswith("mailto:"):
        raw = raw[7:]
    params = getattr(value, "params", {})
    address = normalize_address(raw)
    if address is None:
        return None, lenient_address(raw)
    return (
        Attendee(
            address=address,
            name=str(params.get("CN", "")).strip().strip('"'),
            partstat=str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
            cutype=str(params.get("CUTYPE", "INDIVIDUAL")).upper(),
        ),
        None,
    )


def _attendees(component: Any) -> tuple[list[Attendee], list[str]]:
    found = component.get("ATTENDEE")
    values = found if isinstance(found, list) else ([found] if found is not None else [])
    people, unparsed = [], []
    for value in values:
        person, raw = _person(value)
        if person is not None:
            people.append(person)
        elif raw is not None:
            unparsed.append(raw)
    return people, unparsed


def _meeting(component: Any, series: set[str]) -> ParsedMeeting:
    uid = _text(component, "UID").strip()
    if not uid:
        raise MalformedCalendarError("an event has no UID")
    if component.get("DTSTART") is None:
        raise MalformedCalendarError("an event has no DTSTART")
    start, all_day = _utc(component.decoded("DTSTART"))
    if component.get("DTEND") is not None:
        end, _ = _utc(component.decoded("DTEND"))
    elif component.get("DURATION") is not None:
        end = start + component.decoded("DURATION")
    else:
        end = start + (timedelta(days=1) if all_day else timedelta())
    recurrence_id = None
    if uid in series and component.get("RECURRENCE-ID") is not None:
        rid, _ = _utc(component.decoded("RECURRENCE-ID"))
        recurrence_id = _stamp(rid)
    organizer = None
    unparsed: list[str] = []
    if component.get("ORGANIZER") is not None:
        organizer, raw = _person(component.get("ORGANIZER"))
        if raw is not None:
            unparsed.append(raw)
    attendees, more = _attendees(component)
    try:
        sequence = int(str(component.get("SEQUENCE", 0)))
    except ValueError:
        sequence = 0
    return ParsedMeeting(
        uid=uid,
        recurrence_id=recurrence_id,
        starts_at=_stamp(start),
        ends_at=_stamp(max(end, start)),
        all_day=all_day,
        status=_text(component, "STATUS").upper() or "CONFIRMED",
        access=_text(component, "CLASS").upper() or "PUBLIC",
        sequence=sequence,
        organizer=organizer,
        attendees=tuple(attendees),
        title=_text(component, "SUMMARY"),
        description=_text(component, "DESCRIPTION"),
        location=_text(component, "LOCATION"),
        unparsed=(*unparsed, *more),
    )


def parse_calendar(data: bytes | str, window: tuple[datetime, datetime]) -> list[ParsedMeeting]:
    """Every meeting of one calendar resource within `window` (a series expanded into its
    occurrences there; a single event whatever its time). MalformedCalendarError when the
    resource cannot be read."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as error:  # noqa: BLE001 - icalendar raises ValueError, KeyError, IndexError...
        raise MalformedCalendarError(f"not iCalendar ({type(error).__name__})") from None
    events = [c for c in calendar.walk("VEVENT")]
    series = {
        _text(c, "UID").strip()
        for c in events
        if c.get("RRULE") is not None or c.get("RDATE") is not None or c.get("RECURRENCE-ID") is not None
    }
    try:
        singles = [c for c in events if _text(c, "UID").strip() not in series]
        expanded: Iterable[Any] = (
            recurring_ical_events.of(calendar, components=["VEVENT"]).between(*window) if series else ()
        )
        found = [_meeting(c, series) for c in singles]
        found += [_meeting(c, series) for c in expanded if _text(c, "UID").strip() in series]
    except MalformedCalendarError:
        raise
    except Exception as error:  # noqa: BLE001 - a bad rule, time or value of any kind
        raise MalformedCalendarError(f"an event cannot be read ({type(error).__name__})") from None
    unique: dict[str, ParsedMeeting] = {}
    for meeting in found:
        unique[meeting.key] = meeting  # one meeting per UID (+ recurrence id) in a resource
    return list(unique.values())
