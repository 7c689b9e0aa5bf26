"""Sync a Microsoft 365 mailbox through Graph delta queries: Inbox and Sent Items.

Per folder the cursor is {generation, link, complete, fetched}: `link` is the `@odata.nextLink`
while the first enumeration pages, then the `@odata.deltaLink`. It travels with each page's
batch in ONE atomic save (BatchRecorder.record, guarded like the IMAP cursor), so a crash
re-reads at most the page in flight; the immutable id keys the copy, so nothing is stored
twice, and a message whose copy is stored is not downloaded again. The ids go to the UidLedger
(folder, generation, a 63-bit hash of the id) before the save, as IMAP UIDs do: `@removed`
retracts a copy no other folder holds (application/retraction.py), a message moved between the
two folders is restored where it lands, and a delta link Graph no longer knows (410,
syncStateNotFound) starts the folder again under the next generation; when that enumeration
ends, the copies it did not meet are retracted, as after an IMAP UIDVALIDITY change."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any, Protocol
from uuid import UUID

from application.app import MailTrail
from application.errors import RECONNECT_NEEDED, ReconnectNeeded, RuleViolationError
from application.imap_sync import (
    CursorMovedError,
    FolderReport,
    SyncReport,
    _GuardedRecorder,
    copy_id_of,
    finish_pass,
)
from application.ports import (
    DeltaPage,
    DeltaResetError,
    Item,
    MailApi,
    MailApiConnector,
    MailAuthError,
    MailServerError,
    MailUnavailableError,
    Rejected,
    UidEntry,
    UidLedger,
)
from application.retraction import Retraction
from domain.mailbox import ACTIVE, AUTHORIZING, DISCONNECTED, ERROR, REMOVED, Mailbox
from domain.message import provider_copy_key
from domain.synced_message import SyncedMessage

log = logging.getLogger(__name__)

FOLDERS = ("inbox", "sentitems")  # Graph's well-known names
MAX_RESETS = 2  # a folder restarted more often in one pass waits for the next pass


class AccessTokens(Protocol):
    def access_token(self, mailbox_id: str, force: bool = False) -> str: ...


@dataclass(frozen=True)
class FetchedPage:
    page: DeltaPage
    items: list[Item]
    entries: list[UidEntry]  # of the items, in order
    present: list[UidEntry]  # ids whose copies are stored already, newly in this folder


def ledger_uid(message_id: str) -> int:
    """The ledger's integer key for an immutable id (63 bits of its SHA-256)."""
    return int.from_bytes(hashlib.sha256(message_id.encode()).digest()[:8], "big") >> 1


class GraphSync:
    def __init__(
        self,
        app: MailTrail,
        connector: MailApiConnector,
        ledger: UidLedger,
        tokens: AccessTokens,
        **options: Any,
    ) -> None:
        self.app = app
        self.connector = connector
        self.ledger = ledger
        self.tokens = tokens
        self.retraction = Retraction(app, ledger)
        self.attempts: int = options.get("attempts", 3)
        self.backoff: float = options.get("backoff", 1.0)
        self.max_backoff: float = options.get("max_backoff", 30.0)
        self.sleep: Callable[[float], None] = options.get("sleep", time.sleep)

    def sync(self, mailbox_id: str) -> SyncReport:
        report = SyncReport(mailbox_id)
        mailbox = self.app.load(Mailbox, mailbox_id)
        if mailbox.status in (REMOVED, DISCONNECTED, AUTHORIZING):
            report.status, report.reason = mailbox.status, mailbox.status_reason
            report.position = self.app.position()
            return report
        failure = ""
        for attempt in range(1, self.attempts + 1):
            report.attempts = attempt
            try:
                api = self.connector.connect(lambda force: self.tokens.access_token(mailbox_id, force))
                with closing(api):
                    self._pass(api, mailbox_id, report)
            except MailUnavailableError as error:
                failure = str(error)
                log.warning("mailbox %s: attempt %d failed: %s", mailbox_id, attempt, failure)
                if attempt < self.attempts:
                    self.sleep(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))
                continue
            except ReconnectNeeded:
                return self._finish(report, ERROR, RECONNECT_NEEDED)
            except (MailAuthError, MailServerError) as error:
                return self._finish(report, ERROR, str(error))
            except RuleViolationError:  # removed while syncing
                return self._finish(report, ACTIVE, "")
            return self._finish(report, ACTIVE, "; ".join(report.notes))
        return self._finish(report, ACTIVE, f"Microsoft 365 unreachable, will retry: {failure}")

    def _finish(self, report: SyncReport, status: str, reason: str) -> SyncReport:
        return finish_pass(self.app, report, status, reason)

    def _pass(self, api: MailApi, mailbox_id: str, report: SyncReport) -> None:
        seen: Counter[UUID] = Counter()
        for folder in FOLDERS:
            try:
                self._folder(api, mailbox_id, folder, report.folder(folder), seen)
            except CursorMovedError:
                report.folder(folder).contended = True

    def _folder(
        self, api: MailApi, mailbox_id: str, folder: str, report: FolderReport, seen: Counter[UUID]
    ) -> None:
        """Page by page; the next page is read and its messages downloaded while this one saves."""
        syncer = _GuardedRecorder(self.app, mailbox_id, seen)
        syncer.expected = saved = self.app.load(Mailbox, mailbox_id).cursors.get(folder)
        cursor: dict[str, Any] = dict(
            saved or {"generation": 1, "link": None, "complete": False, "fetched": 0}
        )
        held = {
            e.uid: e for e in self.ledger.entries(mailbox_id, folder) if e.uidvalidity == cursor["generation"]
        }
        resets = 0
        with ThreadPoolExecutor(1, thread_name_prefix="graph-page") as ahead:
            future = ahead.submit(
                self._fetch, api, mailbox_id, folder, cursor["link"], cursor["generation"], held
            )
            while True:
                try:
                    fetched = future.result()
                except DeltaResetError:
                    resets += 1
                    if resets > MAX_RESETS:
                        raise MailUnavailableError(
                            f"{folder}: Graph keeps restarting the delta query"
                        ) from None
                    log.info("mailbox %s: %s delta restarted by Graph", mailbox_id, folder)
                    report.resynced = True
                    cursor = {
                        **cursor,
                        "generation": cursor["generation"] + 1,
                        "link": None,
                        "complete": False,
                    }
                    held = {}
                    future = ahead.submit(
                        self._fetch, api, mailbox_id, folder, None, cursor["generation"], held
                    )
                    continue
                page = fetched.page
                if cursor["complete"] and page.delta_link and not page.changed and not page.removed:
                    return  # nothing new: the saved delta link stays good
                if page.next_link is not None:  # read ahead while this page saves
                    future = ahead.submit(
                        self._fetch, api, mailbox_id, folder, page.next_link, cursor["generation"], held
                    )
                held = self._page(syncer, mailbox_id, folder, fetched, cursor, held, report)
                cursor = syncer.expected or cursor
                if page.delta_link is not None:
                    if report.resynced:  # a fresh enumeration is done: what it did not meet is gone
                        old = [
                            e
                            for e in self.ledger.entries(mailbox_id, folder)
                            if e.uidvalidity != cursor["generation"]
                        ]
                        report.expunged += sum(self.retraction.expunge(mailbox_id, old).values())
                    return

    def _fetch(
        self, api: MailApi, mailbox_id: str, folder: str, link: str | None, generation: int,
        held: dict[int, UidEntry],
    ) -> FetchedPage:  # fmt: skip
        """One delta page and the messages it brings that are not stored yet."""
        page = api.delta(folder, link)
        wanted: list[str] = []
        present: list[UidEntry] = []  # stored already (a move from the other folder, a restart)
        for message_id in dict.fromkeys(page.changed):
            uid = ledger_uid(message_id)
            entry = held.get(uid)
            if entry is not None and entry.copy_id is None:
                continue  # rejected before (too large): nothing to fetch
            copy_id = SyncedMessage.create_id(mailbox_id, "", provider_copy_key(message_id))
            if self.app.exists(copy_id):
                if entry is None:
                    present.append(UidEntry(folder, generation, uid, str(copy_id)))
                continue
            wanted.append(message_id)
        items: list[Item] = []
        entries: list[UidEntry] = []
        for message_id, item in api.messages(wanted):
            if not isinstance(item, Rejected):
                item = replace(item, provider_id=message_id)
            items.append(item)
            entries.append(UidEntry(folder, generation, ledger_uid(message_id), copy_id_of(mailbox_id, item)))
        return FetchedPage(page, items, entries, present)

    def _page(
        self,
        syncer: _GuardedRecorder,
        mailbox_id: str,
        folder: str,
        fetched: FetchedPage,
        cursor: dict[str, Any],
        held: dict[int, UidEntry],
        report: FolderReport,
    ) -> dict[int, UidEntry]:
        page, items, present = fetched.page, fetched.items, fetched.present
        entries = [*fetched.entries, *present]
        self.ledger.remember(mailbox_id, entries)  # before the save: a crash in between is harmless
        gone = [held[uid] for uid in (ledger_uid(i) for i in page.removed) if uid in held]
        if gone:  # before the cursor passes them: a crash in between retracts them again, harmlessly
            report.expunged += sum(self.retraction.expunge(mailbox_id, gone).values())
        link = page.next_link or page.delta_link
        new_cursor = {"generation": cursor["generation"], "link": link, "complete": page.delta_link is not None,
                      "fetched": cursor.get("fetched", 0) + len(items)}  # fmt: skip
        result = syncer.record(folder, items, new_cursor)
        syncer.expected = new_cursor
        report.fetched += len(items)
        report.synced += result.synced
        report.skipped.update(result.skipped)
        report.rejected += len(result.rejected)
        held_now = [*result.held, *(str(e.copy_id) for e in present)]
        report.restored += self.retraction.restore(mailbox_id, held_now, entries)
        kept = {uid: e for uid, e in held.items() if e not in gone}
        kept.update((e.uid, e) for e in entries)
        return kept
