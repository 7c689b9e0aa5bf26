"""The Calendar aggregate (one member's connected calendar account and its sync state) and the
MeetingCopy aggregate (one meeting as one calendar holds it)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import RuleViolationError
from domain.values import SharingLevel, stable_id

ACTIVE = "active"
ERROR = "error"
DISCONNECTED = "disconnected"
REMOVED = "removed"

PROVIDERS = ("caldav",)
SHARING_LEVELS = (SharingLevel.METADATA.value, SharingLevel.FULL.value)

# Why a stored copy was retracted (beside the skip reasons of domain/meeting.py).
DELETED = "deleted"


def _digest(text: str, size: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def collection_prefix(collection: str) -> str:
    return _digest(collection, 12) + "/"


def resource_key(collection: str, href: str) -> str:
    """What a calendar resource is known by in the log: digests of its collection and its path,
    never the path itself (a path often holds the event's UID, which a private event must not leave)."""
    return collection_prefix(collection) + _digest(href, 24)


def check_calendar_provider(provider: str) -> str:
    if provider not in PROVIDERS:
        raise RuleViolationError(f"unknown calendar provider {provider!r}; use 'caldav'")
    return provider


class Calendar(Aggregate):
    class Created(Aggregate.Created):
        """`connection` holds the url and username, never the password (the key store has it)."""

        workspace_id: str
        owner_id: str
        provider: str
        connection: dict[str, Any]
        sharing: str = SharingLevel.METADATA.value
        status: str = ACTIVE

    @event(Created)
    def __init__(
        self,
        workspace_id: str,
        owner_id: str,
        provider: str,
        connection: dict[str, Any],
        sharing: str = Created.sharing,
        status: str = Created.status,
    ) -> None:
        self.workspace_id = workspace_id
        self.owner_id = owner_id
        self.provider = provider
        self.connection = connection
        self.sharing = sharing
        self.status = status
        self.status_reason = ""
        self.cursors: dict[str, dict[str, Any]] = {}  # per calendar collection (its URL)
        self.resources: dict[str, list[str]] = {}  # resource_key -> ids of the copies it holds
        self.synced = 0
        self.skipped: dict[str, int] = {}
        self.skipped_keys: dict[str, frozenset[str]] = {}
        self.held = False
        self.erased = False

    def _check_not_removed(self) -> None:
        if self.status == REMOVED:
            raise RuleViolationError("the calendar was removed")

    def change_sharing(self, level: str) -> None:
        self._check_not_removed()
        if level not in SHARING_LEVELS:
            raise RuleViolationError("a calendar's sharing must be metadata or full")
        if level != self.sharing:
            self._sharing_changed(level=level)

    class SharingChanged(Aggregate.Event):
        level: str

    @event(SharingChanged)
    def _sharing_changed(self, level: str) -> None:
        self.sharing = level

    def record_batch(
        self,
        collection: str,
        cursor: dict[str, Any] | None,
        synced: int,
        skipped: Mapping[str, Iterable[str]],
        rejected: list[dict[str, str]],
        resources: Mapping[str, list[str]],
        gone: Iterable[str] = (),
    ) -> None:
        """One batch of a collection's sync: counts, skip reasons (one key per meeting, counted
        once), malformed resources with their reason, which copies each resource now holds, the
        resources gone from the server, and the collection's new cursor."""
        self._check_not_removed()
        new = {r: sorted(set(keys) - self.skipped_keys.get(r, frozenset())) for r, keys in skipped.items()}
        self._batch_recorded(
            collection=collection,
            cursor=cursor,
            synced=synced,
            skipped={r: len(keys) for r, keys in new.items() if keys},
            skipped_keys={r: keys for r, keys in new.items() if keys},
            rejected=rejected,
            resources=dict(resources),
            gone=sorted(set(gone)),
        )

    class BatchRecorded(Aggregate.Event):
        collection: str
        cursor: dict[str, Any] | None
        synced: int
        skipped: dict[str, int]
        skipped_keys: dict[str, list[str]]
        rejected: list[dict[str, str]]
        resources: dict[str, list[str]]
        gone: list[str]

    @event(BatchRecorded)
    def _batch_recorded(
        self,
        collection: str,
        cursor: dict[str, Any] | None,
        synced: int,
        skipped: dict[str, int],
        skipped_keys: dict[str, list[str]],
        rejected: list[dict[str, str]],
        resources: dict[str, list[str]],
        gone: list[str],
    ) -> None:
        if cursor is not None:
            self.cursors = {**self.cursors, collection: cursor}
        self.synced += synced
        merged = dict(self.skipped)
        for reason, count in skipped.items():
            merged[reason] = merged.get(reason, 0) + count
        self.skipped = merged
        keys = dict(self.skipped_keys)
        for reason, added in skipped_keys.items():
            keys[reason] = keys.get(reason, frozenset()) | frozenset(added)
        self.skipped_keys = keys
        held = {href: ids for href, ids in self.resources.items() if href not in gone}
        held.update(resources)
        self.resources = held

    def forget_collection(self, collection: str) -> None:
        if collection in self.cursors:
            self._collection_forgotten(collection=collection)

    class CollectionForgotten(Aggregate.Event):
        collection: str

    @event(CollectionForgotten)
    def _collection_forgotten(self, collection: str) -> None:
        self.cursors = {name: c for name, c in self.cursors.items() if name != collection}

    def set_status(self, status: str, reason: str = "") -> None:
        self._check_not_removed()
        if (status, reason) != (self.status, self.status_reason):
            self._status_changed(status=status, reason=reason)

    class StatusChanged(Aggregate.Event):
        status: str
        reason: str

    @event(StatusChanged)
    def _status_changed(self, status: str, reason: str) -> None:
        self.status = status
        self.status_reason = reason

    def disconnect(self) -> None:
        self._check_not_removed()
        if self.status != DISCONNECTED:
            self._status_changed(status=DISCONNECTED, reason="disconnected by the owner")

    def reconnect(self) -> None:
        self._check_not_removed()
        if self.status == DISCONNECTED:
            self._status_changed(status=ACTIVE, reason="")

    def remove(self, held: bool) -> None:
        """Retract every meeting copy of this calendar; erase the content unless a legal hold keeps it."""
        self._check_not_removed()
        self._removed(held=held)

    class Removed(Aggregate.Event):
        held: bool

    @event(Removed)
    def _removed(self, held: bool) -> None:
        self.status = REMOVED
        self.held = held

    def erase(self) -> None:
        if self.status != REMOVED:
            raise RuleViolationError("only a removed calendar can be erased")
        if not self.erased:
            self._erased()

    class Erased(Aggregate.Event):
        """The calendar's data key goes with this event."""

    @event(Erased)
    def _erased(self) -> None:
        self.erased = True
        self.held = False


def copy_id_for(calendar_id: str, key: str) -> UUID:
    return MeetingCopy.create_id(calendar_id, key)


class MeetingCopy(Aggregate):
    """One meeting (a single event, or one occurrence of a series) as one calendar holds it.

    `headers` (times, participants, the owner's answer, title, location, description) and
    `content` are stored sealed with the calendar's data key (application/transcoder.py);
    `uid` and `recurrence_id` are what make the copies of one meeting one meeting."""

    @staticmethod
    def create_id(calendar_id: str, key: str, **_: Any) -> UUID:
        return stable_id("meeting-copy", calendar_id, key)

    class Recorded(Aggregate.Created):
        calendar_id: str
        key: str
        workspace_id: str
        meeting_id: str
        headers: dict[str, Any]
        content: dict[str, Any]

    @event(Recorded)
    def __init__(
        self,
        calendar_id: str,
        key: str,
        workspace_id: str,
        meeting_id: str,
        headers: dict[str, Any],
        content: dict[str, Any],
    ) -> None:
        self.calendar_id = calendar_id
        self.key = key
        self.workspace_id = workspace_id
        self.meeting_id = meeting_id
        self.headers = headers
        self.retracted: str | None = None

    def update(self, headers: dict[str, Any]) -> bool:
        """New details from the calendar (a retracted copy found storable again is shown again)."""
        if headers == self.headers and self.retracted is None:
            return False
        self._updated(calendar_id=self.calendar_id, headers=headers, content={})
        return True

    class Updated(Aggregate.Event):
        calendar_id: str
        headers: dict[str, Any]
        content: dict[str, Any]

    @event(Updated)
    def _updated(self, calendar_id: str, headers: dict[str, Any], content: dict[str, Any]) -> None:
        self.headers = headers
        self.retracted = None

    def retract(self, reason: str) -> bool:
        """Cancelled, deleted, made private, or no longer storable: gone from every view."""
        if self.retracted is not None:
            return False
        self._retracted(reason=reason)
        return True

    class Retracted(Aggregate.Event):
        reason: str

    @event(Retracted)
    def _retracted(self, reason: str) -> None:
        self.retracted = reason
