"""Sync a mailbox from its mail server: full history first, then incremental passes.

Per folder, a cursor (UIDVALIDITY, last UID, UIDNEXT, EXISTS, HIGHESTMODSEQ, pending)
travels with every batch in ONE atomic save (BatchRecorder.record): a crash loses nothing and
re-fetches at most the batches in flight. A save only lands if the folder's cursor is
still the one this pass started from (optimistic concurrency), so two workers never
both advance a folder. Identity never depends on the UID: a UIDVALIDITY change re-reads
the folder and duplicates nothing. Before each save the batch's UIDs go to the
UidLedger (idempotent), which later tells which copies an expunge on the server retracts."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol
from uuid import UUID

from application.app import MailTrail
from application.batch_recorder import BatchRecorder, BatchResult
from application.errors import (
    RECONNECT_NEEDED,
    ConflictError,
    DomainError,
    ReconnectNeeded,
    RuleViolationError,
)
from application.folder_retirement import folders_to_sync, retired_folders
from application.ports import (
    Fetched,
    FolderState,
    Item,
    KeyStore,
    MailAuthError,
    MailConnector,
    MailServer,
    MailServerError,
    MailUnavailableError,
    Rejected,
    TokenSource,
    UidEntry,
    UidLedger,
)
from application.retraction import Retraction
from domain.mailbox import ACTIVE, DISCONNECTED, ERROR, REMOVED, Mailbox
from domain.message import MAX_MESSAGE_BYTES
from domain.synced_message import copy_id_for

log = logging.getLogger(__name__)

BATCH_COUNT = 400
LARGE_BYTES = 128 * 1024  # sizes are asked only for messages above this
BATCH_BYTES = 32 * 1024 * 1024
Progress = Callable[[str, str, int, int], None]  # mailbox id, folder, fetched, planned


MICROSOFT365 = "microsoft365"


class MailboxPass(Protocol):
    def sync(self, mailbox_id: str) -> SyncReport: ...


class CursorMovedError(ConflictError):
    """Another worker advanced this folder's cursor first."""


@dataclass
class FolderReport:
    fetched: int = 0
    synced: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    expunged: int = 0
    resynced: bool = False  # UIDVALIDITY changed
    retired: bool = False  # dropped from `folders` or gone from the server: its mail retracted
    restored: int = 0  # retracted copies found on the server again
    contended: bool = False  # another worker holds the cursor


@dataclass
class SyncReport:
    mailbox_id: str
    status: str = ACTIVE
    reason: str = ""
    attempts: int = 0
    folders: dict[str, FolderReport] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # kept as the status reason of a good pass
    position: int = 0  # the pass's last event: what a caller waits for the views to reach

    def folder(self, name: str) -> FolderReport:
        return self.folders.setdefault(name, FolderReport())

    @property
    def fetched(self) -> int:
        return sum(f.fetched for f in self.folders.values())

    def as_dict(self) -> dict[str, Any]:
        report = asdict(self)
        del report["position"]  # not part of the CLI's report
        return {
            **report,
            "fetched": self.fetched,
            "folders": {n: {**asdict(f), "skipped": dict(f.skipped)} for n, f in self.folders.items()},
        }


class _GuardedRecorder(BatchRecorder):
    """Saves only while the folder's stored cursor is `expected` (checked on every retry)."""

    expected: dict[str, Any] | None = None

    def _build(
        self, workspace: Any, mailbox: Mailbox, folder: str, items: Any, cursor: Any, existing: Any
    ) -> Any:
        if mailbox.cursors.get(folder) != self.expected:
            raise CursorMovedError(f"{folder}: another worker advanced the cursor")
        return super()._build(workspace, mailbox, folder, items, cursor, existing)


def plan_batches(
    uids: list[int], sizes: dict[int, int], count: int = BATCH_COUNT, budget: int = BATCH_BYTES
) -> list[list[int]]:
    """UIDs in order, at most `count` and about `budget` bytes per batch."""
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if current and (len(current) >= count or used + size > budget):
            batches.append(current)
            current, used = [], 0
        current.append(uid)
        used += size
    return [*batches, current] if current else batches


def unchanged(cursor: dict[str, Any], state: FolderState) -> bool:
    """Nothing added, expunged (or, with CONDSTORE, flagged) since the cursor was saved."""
    seen = [cursor.get(k) for k in ("uidvalidity", "uidnext", "exists", "highestmodseq")]
    return cursor.get("pending") == 0 and seen == [
        state.uidvalidity,
        state.uidnext,
        state.exists,
        state.highestmodseq,
    ]


class ImapSync:
    """Sync passes for connected mailboxes, through the ports only."""

    def __init__(
        self,
        app: MailTrail,
        keystore: KeyStore,
        connector: MailConnector,
        ledger: UidLedger,
        tokens: TokenSource | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.keystore = keystore
        self.connector = connector
        self.ledger = ledger
        self.retraction = Retraction(app, ledger)
        self.tokens = tokens
        self.attempts: int = options.get("attempts", 5)
        self.backoff: float = options.get("backoff", 0.5)  # doubled per attempt, up to max_backoff
        self.max_backoff: float = options.get("max_backoff", 30.0)
        self.sleep: Callable[[float], None] = options.get("sleep", time.sleep)
        self.progress: Progress | None = options.get("progress")
        self.batch_count: int = options.get("batch_count", BATCH_COUNT)
        self.graph: MailboxPass | None = options.get(
            "graph"
        )  # Microsoft 365 mailboxes (application/graph_sync.py)

    def connected(self, include_errors: bool = True) -> list[str]:
        """Mailboxes with stored credentials that are neither removed nor disconnected."""
        skip = {REMOVED, DISCONNECTED} | (set() if include_errors else {ERROR})
        ids = []
        for mailbox_id in self.keystore.owners():
            try:
                mailbox = self.app.load(Mailbox, mailbox_id)
            except DomainError:
                continue
            if mailbox.status not in skip:
                ids.append(mailbox_id)
        return ids

    def secret(self, mailbox_id: str, connection: dict[str, Any], force: bool = False) -> dict[str, str]:
        """The password, or for an OAuth mailbox an access token (`force`: a new one)."""
        if is_oauth(connection):
            if self.tokens is None:
                raise MailAuthError("no OAuth token source is configured for XOAUTH2")
            return {"access_token": self.tokens.access_token(mailbox_id, force)}
        secret = self.keystore.get(mailbox_id)
        if secret is None:
            raise MailAuthError("no credentials are stored; update them")
        return secret

    # one pass -----------------------------------------------------------------------
    def sync(self, mailbox_id: str) -> SyncReport:
        """One pass; retries a dropped connection with backoff, resuming from the cursors."""
        report = SyncReport(mailbox_id)
        mailbox = self.app.load(Mailbox, mailbox_id)
        if mailbox.provider == MICROSOFT365 and self.graph is not None:
            return self.graph.sync(mailbox_id)
        if mailbox.status in (REMOVED, DISCONNECTED) or not mailbox.connection.get("host"):
            report.status, report.reason = mailbox.status, mailbox.status_reason or "not synced from a server"
            report.position = self.app.position()
            return report
        failure, attempt, oauth = "", 0, is_oauth(mailbox.connection)
        refresh, refreshes, may_refresh = False, 0, oauth
        while attempt < self.attempts:
            force, refresh = refresh, False
            attempt = report.attempts = attempt + (0 if force else 1)  # a refresh is no new attempt
            try:
                server = self.connector.connect(
                    mailbox.connection, self.secret(mailbox_id, mailbox.connection, force)
                )
                may_refresh = oauth
                with closing(server):
                    self._pass(server, mailbox_id, report)
            except MailUnavailableError as error:
                failure = str(error)
                log.warning("mailbox %s: attempt %d failed: %s", mailbox_id, attempt, failure)
                if attempt < self.attempts:
                    self.sleep(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))
                continue
            except ReconnectNeeded:
                return self._finish(report, ERROR, RECONNECT_NEEDED)
            except MailAuthError as error:
                # An access token refused (AUTHENTICATIONFAILED: it expired early, or a fetch
                # process logged in after it expired): a new token and again, from the saved
                # cursors. Once per accepted login: a server refusing every token ends in `error`.
                if may_refresh and refreshes < self.attempts:
                    log.info("mailbox %s: the server refused the access token; refreshing it", mailbox_id)
                    may_refresh, refresh, refreshes = False, True, refreshes + 1
                    continue
                return self._finish(report, ERROR, f"login failed: {error}")
            except MailServerError as error:
                return self._finish(report, ERROR, str(error))
            except RuleViolationError:  # removed while syncing
                return self._finish(report, ACTIVE, "")
            return self._finish(report, ACTIVE, "; ".join(report.notes))
        return self._finish(report, ACTIVE, f"server unreachable, will retry: {failure}")

    def _finish(self, report: SyncReport, status: str, reason: str) -> SyncReport:
        return finish_pass(self.app, report, status, reason)

    def _pass(self, server: MailServer, mailbox_id: str, report: SyncReport) -> None:
        mailbox = self.app.load(Mailbox, mailbox_id)
        wanted = mailbox.connection.get("folders") or None
        folders, vanished = folders_to_sync(server, wanted)
        gone: list[UidEntry] = []
        seen: Counter[UUID] = Counter()  # one pass meets a message in two folders: a duplicate
        for folder in folders:
            try:
                gone += self._folder(server, mailbox_id, folder, report.folder(folder), seen)
            except CursorMovedError:
                report.folder(folder).contended = True
        retired = retired_folders(server, wanted, folders, mailbox.cursors, vanished)
        for folder in retired:  # every UID it held is gone with it
            report.folder(folder).retired = True
            gone += self.ledger.entries(mailbox_id, folder)
        if vanished:
            names = ", ".join(vanished)
            report.notes.append(f"folder not found on the server, its messages retracted: {names}")
        for folder, count in self.retraction.expunge(mailbox_id, gone).items():
            report.folder(folder).expunged += count
        self.retraction.forget_folders(mailbox_id, retired)

    def _folder(
        self, server: MailServer, mailbox_id: str, folder: str, report: FolderReport, seen: Counter[UUID]
    ) -> list[UidEntry]:
        """Fetch what is new; return the ledger entries whose messages left the server."""
        syncer = _GuardedRecorder(self.app, mailbox_id, seen)
        syncer.expected = cursor = self.app.load(Mailbox, mailbox_id).cursors.get(folder)
        if cursor is not None and unchanged(cursor, server.status(folder)):
            return []
        state = server.open(folder)
        if cursor is not None and cursor.get("uidvalidity") != state.uidvalidity:
            report.resynced, cursor = True, None
        present = server.uids()
        last = cursor["last_uid"] if cursor else 0
        new = [uid for uid in present if uid > last]
        sizes = server.sizes(new, LARGE_BYTES)
        too_large = {uid for uid, size in sizes.items() if size > MAX_MESSAGE_BYTES}
        batches = plan_batches(new, {u: s for u, s in sizes.items() if u not in too_large}, self.batch_count)
        wanted = [[uid for uid in batch if uid not in too_large] for batch in batches]
        cursor = {"uidvalidity": state.uidvalidity, "last_uid": last, "uidnext": state.uidnext,
                  "exists": state.exists, "highestmodseq": state.highestmodseq,
                  "fetched": cursor.get("fetched", 0) if cursor else 0, "pending": len(new)}  # fmt: skip
        with closing(server.fetch(folder, state.uidvalidity, wanted)) as stream:
            for batch, got in zip(batches, stream, strict=True):
                cursor = {**cursor, "last_uid": batch[-1], "fetched": cursor["fetched"] + len(batch),
                          "pending": cursor["pending"] - len(batch)}  # fmt: skip
                items: list[Item] = [with_provider_ids(f) for f in got]
                items += [
                    Rejected(f"imap:{folder}:{state.uidvalidity}:{u}", "too_large")
                    for u in batch
                    if u in too_large
                ]
                entries = [
                    UidEntry(folder, state.uidvalidity, f.uid, copy_id_of(mailbox_id, item))
                    for f, item in zip(got, items, strict=True)
                ]
                self.ledger.remember(mailbox_id, entries)  # before the save: a crash in between is harmless
                result = self._record(syncer, folder, items, cursor, report)
                report.restored += self.retraction.restore(mailbox_id, result.held, entries)
                report.fetched += len(got)
                if self.progress is not None:
                    self.progress(mailbox_id, folder, len(new) - cursor["pending"], len(new))
        if cursor != syncer.expected:  # only the folder's counters moved (flags, expunges)
            self._record(syncer, folder, [], cursor, report)
        present_set = set(present)
        return [e for e in self.ledger.entries(mailbox_id, folder) if e.uidvalidity != state.uidvalidity
                or (e.uid < state.uidnext and e.uid not in present_set)]  # fmt: skip

    @staticmethod
    def _record(
        syncer: _GuardedRecorder, folder: str, items: list[Item], cursor: dict[str, Any], report: FolderReport
    ) -> BatchResult:
        result = syncer.record(folder, items, cursor)
        syncer.expected = cursor
        report.synced += result.synced
        report.skipped.update(result.skipped)
        report.rejected += len(result.rejected)
        return result


def is_oauth(connection: dict[str, Any]) -> bool:
    """Logged in with XOAUTH2 and an access token from the TokenSource (Gmail)."""
    return connection.get("auth") in ("oauth", "xoauth2")


def copy_id_of(mailbox_id: str, item: Any) -> str | None:
    return None if isinstance(item, Rejected) else str(copy_id_for(mailbox_id, item))


def with_provider_ids(fetched: Fetched) -> Item:
    """Gmail's X-GM-MSGID keys the copy and X-GM-THRID names the thread."""
    item = fetched.item
    if isinstance(item, Rejected) or fetched.gm_msgid is None:
        return item
    thread = str(fetched.gm_thrid) if fetched.gm_thrid is not None else None
    return replace(item, provider_id=str(fetched.gm_msgid), provider_thread=thread)


def finish_pass(app: MailTrail, report: SyncReport, status: str, reason: str) -> SyncReport:
    """A pass's end on its mailbox: the status it leaves (unless the mailbox was removed or
    disconnected meanwhile, whose status stands), saved again on a concurrent change."""
    report.position = app.position()
    for _ in range(3):
        mailbox = app.load(Mailbox, report.mailbox_id)
        if mailbox.status in (REMOVED, DISCONNECTED):
            status, reason = mailbox.status, mailbox.status_reason
            break
        mailbox.set_status(status, reason)
        try:
            report.position = app.save_all(mailbox)
            break
        except ConflictError:
            continue
    report.status, report.reason = status, reason
    return report
