"""The audit log view: one metadata row per event (no content), by workspace."""

from __future__ import annotations

import functools

from eventsourcing.domain import DomainEvent
from sqlalchemy import select

from projections.tables import audit_log
from projections.writer import ViewWriter

COLUMNS = (
    "position",
    "workspace_id",
    "aggregate_type",
    "aggregate_id",
    "version",
    "event_type",
    "occurred_at",
)


@functools.cache
def _names(cls: type) -> tuple[str, str]:
    """("SyncedMessage", "SyncedMessage.Recorded") for SyncedMessage.Recorded."""
    aggregate_type, _, event_type = cls.__qualname__.rpartition(".")
    return aggregate_type, f"{aggregate_type}.{event_type}"


class AuditLogView:
    """Remembers which workspace each aggregate belongs to, to file every event under it."""

    def __init__(self) -> None:
        self._workspace_of: dict[str, str] = {}

    def __call__(self, event: DomainEvent, w: ViewWriter, position: int) -> None:
        aggregate_id = str(event.originator_id)
        workspace_id = self._workspace(event, aggregate_id, w)
        if workspace_id is None:
            return
        aggregate_type, event_type = _names(type(event))
        w.insert_row(
            audit_log,
            COLUMNS,
            (
                position,
                workspace_id,
                aggregate_type,
                aggregate_id,
                event.originator_version,
                event_type,
                event.timestamp.isoformat(),
            ),
        )

    def _workspace(self, event: DomainEvent, aggregate_id: str, w: ViewWriter) -> str | None:
        workspace_id = getattr(event, "workspace_id", None)
        if workspace_id is None and type(event).__qualname__.startswith("Workspace."):
            workspace_id = aggregate_id
        if workspace_id is None:
            workspace_id = self._workspace_of.get(aggregate_id)
        if workspace_id is None:
            workspace_id = w.execute(
                select(audit_log.c.workspace_id).where(audit_log.c.aggregate_id == aggregate_id).limit(1)
            ).scalar()
        if workspace_id is not None and len(self._workspace_of) < 100_000:
            self._workspace_of[aggregate_id] = str(workspace_id)
        return str(workspace_id) if workspace_id is not None else None
