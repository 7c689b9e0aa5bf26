"""The Mailbox aggregate: one member's connected account and its sync state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import RuleViolationError
from domain.filtering import matches_any
from domain.values import Provider, SharingLevel

ACTIVE = "active"
AUTHORIZING = "authorizing"  # an OAuth mailbox until its owner's consent comes back (the callback)
ERROR = "error"
DISCONNECTED = "disconnected"
REMOVED = "removed"


def merge_skip_counts(skipped: Mapping[str, int], more: Mapping[str, int]) -> dict[str, int]:
    """A mailbox's skip counts per reason after a batch's (which may be negative: see record_batch)."""
    merged = dict(skipped)
    for reason, count in more.items():
        merged[reason] = merged.get(reason, 0) + count
    return merged


class Mailbox(Aggregate):
    class Created(Aggregate.Created):
        """`sharing` and `status` are what a new mailbox starts with (and what the events stored
        before they were fields started with)."""

        workspace_id: str
        owner_id: str
        provider: str
        address: str
        aliases: list[str]
        connection: dict[str, Any]
        sharing: str = SharingLevel.METADATA.value
        status: str = ACTIVE

    @event(Created)
    def __init__(
        self,
        workspace_id: str,
        owner_id: str,
        provider: str,
        address: str,
        aliases: list[str],
        connection: dict[str, Any],
        sharing: str = Created.sharing,
        status: str = Created.status,
    ) -> None:
        self.workspace_id = workspace_id
        self.owner_id = owner_id
        self.provider = provider
        self.address = address
        self.aliases = aliases
        self.connection = connection
        self.sharing = sharing
        self.blocklist: list[str] = []
        self.cursors: dict[str, dict[str, Any]] = {}
        self.status = status
        self.status_reason = ""
        self.synced = 0
        self.skipped: dict[str, int] = {}
        self.skipped_keys: dict[str, frozenset[str]] = {}  # reason -> keys of the messages skipped
        self.blocked_threads: set[str] = set()
        self.held = False
        self.erased = False

    @property
    def addresses(self) -> list[str]:
        return [self.address, *self.aliases] if self.address else list(self.aliases)

    def _check_not_removed(self) -> None:
        if self.status == REMOVED:
            raise RuleViolationError("the mailbox was removed")

    def change_sharing(self, level: str) -> None:
        self._check_not_removed()
        if SharingLevel(level) is SharingLevel.NONE:
            raise RuleViolationError("sharing must be metadata, subject or full")
        if level != self.sharing:
            self._sharing_changed(level=level)

    class SharingChanged(Aggregate.Event):
        level: str

    @event(SharingChanged)
    def _sharing_changed(self, level: str) -> None:
        self.sharing = level

    def block(self, entry: str) -> None:
        self._check_not_removed()
        if any(matches_any(own, [entry]) for own in self.addresses):
            raise RuleViolationError("a mailbox's own addresses cannot be blocked")
        if entry not in self.blocklist:
            self._blocklist_entry_added(entry=entry)

    class BlocklistEntryAdded(Aggregate.Event):
        entry: str

    @event(BlocklistEntryAdded)
    def _blocklist_entry_added(self, entry: str) -> None:
        self.blocklist = [*self.blocklist, entry]

    def unblock(self, entry: str) -> None:
        if entry in self.blocklist:
            self._blocklist_entry_removed(entry=entry)

    class BlocklistEntryRemoved(Aggregate.Event):
        entry: str

    @event(BlocklistEntryRemoved)
    def _blocklist_entry_removed(self, entry: str) -> None:
        self.blocklist = [e for e in self.blocklist if e != entry]

    def record_batch(
        self,
        folder: str,
        cursor: dict[str, Any] | None,
        synced: int,
        skipped: Mapping[str, Iterable[str]],
        rejected: list[dict[str, str]],
        blocked_threads: list[str] | None = None,
        stored: Iterable[str] = (),
        fates: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        """One batch of a sync: counts, reasons, the folder's new cursor, the (hashed) thread
        ids of messages skipped by the blocklist, and the content-free fates of the messages
        it skipped or rejected (domain/fates.py).

        `skipped` holds, per reason, one key per message (not per run): a message skipped
        again by a re-import or a re-sync is not counted twice. `stored` are the keys of the
        messages stored now; one skipped before (blocklisted, then unblocked and re-synced)
        leaves that reason's count."""
        self._check_not_removed()
        new = {r: sorted(set(keys) - self.skipped_keys.get(r, frozenset())) for r, keys in skipped.items()}
        new = {r: keys for r, keys in new.items() if keys}
        now_stored = set(stored)
        cleared = {r: sorted(held & now_stored) for r, held in self.skipped_keys.items() if held & now_stored}
        counts = {r: len(new.get(r, ())) - len(cleared.get(r, ())) for r in sorted({*new, *cleared})}
        self._batch_recorded(
            folder=folder,
            cursor=cursor,
            synced=synced,
            skipped=counts,
            rejected=rejected,
            blocked_threads=sorted(set(blocked_threads or ()) - self.blocked_threads),
            skipped_keys=new,
            cleared_keys=cleared,
            fates=[list(fate) for fate in fates] or None,
        )

    class BatchRecorded(Aggregate.Event):
        """`skipped` counts per reason; the keys are absent from events stored before them."""

        folder: str
        cursor: dict[str, Any] | None
        synced: int
        skipped: dict[str, int]
        rejected: list[dict[str, str]]
        blocked_threads: list[str]
        skipped_keys: dict[str, list[str]] | None = None
        cleared_keys: dict[str, list[str]] | None = None
        # [keyed hash, reason, matched entry] per message skipped or rejected (domain/fates.py)
        fates: list[list[str]] | None = None

    @event(BatchRecorded)
    def _batch_recorded(
        self,
        folder: str,
        cursor: dict[str, Any] | None,
        synced: int,
        skipped: dict[str, int],
        rejected: list[dict[str, str]],
        blocked_threads: list[str],
        skipped_keys: dict[str, list[str]] | None = BatchRecorded.skipped_keys,
        cleared_keys: dict[str, list[str]] | None = BatchRecorded.cleared_keys,
        fates: list[list[str]] | None = BatchRecorded.fates,
    ) -> None:
        self.blocked_threads = self.blocked_threads | set(blocked_threads)
        if cursor is not None:
            self.cursors = {**self.cursors, folder: cursor}
        self.synced += synced
        self.skipped = merge_skip_counts(self.skipped, skipped)
        keys = dict(self.skipped_keys)
        for reason, added in (skipped_keys or {}).items():
            keys[reason] = keys.get(reason, frozenset()) | frozenset(added)
        for reason, gone in (cleared_keys or {}).items():
            keys[reason] = keys.get(reason, frozenset()) - frozenset(gone)
        self.skipped_keys = keys

    def forget_folder(self, folder: str) -> None:
        """The folder is no longer synced (dropped by the owner, or gone from the server): its
        cursor goes; its copies were retracted before, unless another folder still holds them."""
        if folder in self.cursors:
            self._folder_forgotten(folder=folder)

    class FolderForgotten(Aggregate.Event):
        folder: str

    @event(FolderForgotten)
    def _folder_forgotten(self, folder: str) -> None:
        self.cursors = {name: c for name, c in self.cursors.items() if name != folder}

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
        """Retract every copy; erase the content too unless a legal hold keeps it."""
        self._check_not_removed()
        self._removed(held=held)

    class Removed(Aggregate.Event):
        held: bool

    @event(Removed)
    def _removed(self, held: bool) -> None:
        self.status = REMOVED
        self.held = held

    def erase(self) -> None:
        """The content of this mailbox's copies is destroyed (its data key goes with this event)."""
        if self.status != REMOVED:
            raise RuleViolationError("only a removed mailbox can be erased")
        if not self.erased:
            self._erased()

    class Erased(Aggregate.Event):
        """The mailbox's data key goes with this event."""

    @event(Erased)
    def _erased(self) -> None:
        self.erased = True
        self.held = False

    def set_address(self, address: str) -> None:
        """The address of a mailbox connected without one (OAuth: the account that signed in)."""
        self._check_not_removed()
        if self.address:
            raise RuleViolationError("the mailbox has its address")
        self._address_set(address=address)

    class AddressSet(Aggregate.Event):
        address: str

    @event(AddressSet)
    def _address_set(self, address: str) -> None:
        self.address = address

    def change_connection(self, connection: dict[str, Any]) -> None:
        """New non-secret connection details (host, port, security, username, folders)."""
        self._check_not_removed()
        if connection != self.connection:
            self._connection_changed(connection=connection)

    class ConnectionChanged(Aggregate.Event):
        connection: dict[str, Any]

    @event(ConnectionChanged)
    def _connection_changed(self, connection: dict[str, Any]) -> None:
        self.connection = connection


def check_provider(provider: str) -> Provider:
    try:
        return Provider(provider)
    except ValueError:
        raise RuleViolationError(f"unknown provider {provider!r}") from None
