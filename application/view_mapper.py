"""The mapper the views read the log with.

Two differences from eventsourcing's `Mapper`: a recorded copy's content (its bodies)
stays sealed, since no view reads it (application/transcoder.py, `views=True`); and
an event's `originator_id` is left as the recorder hands it over (text on SQLite, a
UUID on PostgreSQL), since every view writes it as text: turning each id into a UUID
and straight back was about a tenth of a replay's decoding. Its events are for the
views only; everything else loads aggregates through the application's own mapper."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import resolve_topic


class ViewMapper(Mapper[UUID]):
    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        try:
            state: dict[str, Any] = self.transcoder.decode(stored_event.state)
        except Exception as error:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic '{stored_event.topic}', originator_id"
                f" '{stored_event.originator_id}' and originator_version {stored_event.originator_version}: {error}"
            ) from error
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        class_version = getattr(cls, "class_version", 1)
        version = state.pop("class_version", 1)
        while version < class_version:  # the library's upcasting, unchanged
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event
