"""The MailTrail event-sourced application: loading and saving aggregates.

The use cases are the services in application/services/ (workspaces, mailboxes, ingest,
sharing, records, erasure); each returns the position of its last event to wait for."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import NamedTuple, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Mapper, Transcoder

from application.errors import ConflictError, NotFoundError
from application.ports import DomainCatalog, Sealer
from application.transcoder import OrjsonTranscoder
from domain.records import FanOutLimits

A = TypeVar("A", bound=Aggregate)


def default_fate_hash(text: str) -> str:
    return hmac.new(b"mailtrail fates", text.encode(), hashlib.sha256).hexdigest()[:32]


class MailTrail(Application[UUID]):
    name = "mailtrail"

    def __init__(
        self,
        catalog: DomainCatalog,
        sealer: Sealer | None = None,
        env: dict[str, str] | None = None,
        fan_out: FanOutLimits | None = None,
        fate_hash: Callable[[str], str] | None = None,
    ) -> None:
        self.sealer = sealer
        self.fan_out = fan_out or FanOutLimits()
        # The keyed hash a skipped message's fate is filed under (domain/fates.py); the root
        # passes one keyed from the master key, this default serves stores built without it.
        self.fate_hash = fate_hash or default_fate_hash
        # A cached aggregate is fast-forwarded from the store on every get, so it is never stale.
        super().__init__(env={"AGGREGATE_CACHE_MAXSIZE": "1000", **(env or {})})
        self.catalog = catalog

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder(self.sealer)

    def view_mapper(self) -> Mapper[UUID]:
        """The library's mapper with a transcoder that leaves a copy's bodies sealed: no view reads them."""
        return self.factory.mapper(transcoder=OrjsonTranscoder(self.sealer, views=True))

    # loading ---------------------------------------------------------------
    def load(self, cls: type[A], aggregate_id: UUID | str, workspace_id: str | None = None) -> A:
        """Load an aggregate of `cls`, visible only inside `workspace_id` when given."""
        try:
            aggregate: object = self.repository.get(UUID(str(aggregate_id)))
        except (AggregateNotFoundError, ValueError):
            raise NotFoundError(f"{cls.__name__} {aggregate_id} not found") from None
        if not isinstance(aggregate, cls):
            raise NotFoundError(f"{cls.__name__} {aggregate_id} not found")
        if workspace_id is not None and str(getattr(aggregate, "workspace_id", aggregate.id)) != workspace_id:
            raise NotFoundError(f"{cls.__name__} {aggregate_id} not found")
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def save_all(
        self, *aggregates: Aggregate, conflict: str = "a concurrent change conflicted; try again"
    ) -> int:
        """Save atomically and return the last notification id (the position to wait for);
        a conflicting write (a stored version, a taken unique id) is a ConflictError(`conflict`)."""
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            raise ConflictError(conflict) from None
        return recordings[-1].notification.id if recordings else self.position()

    def position(self) -> int:
        """The last event's position: what a command that changed nothing waits for."""
        return self.recorder.max_notification_id() or 0


class Created(NamedTuple):
    """What a command that creates something returns: its id and the position to wait for."""

    id: str
    position: int
