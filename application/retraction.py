"""Copies whose messages left the mail server are retracted; found there again, they are restored.

The UidLedger tells which server UIDs stand behind each copy: a copy is retracted
(SyncedMessage.Expunged) when none of them remains in a synced folder, and restored
(SyncedMessage.Restored) when a batch finds it again with no other UID behind it.
Both are events, so every replay hides and shows the same copies."""

from __future__ import annotations

from collections import Counter
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.app import MailTrail
from application.errors import ConflictError
from application.ports import UidEntry, UidLedger
from domain.mailbox import Mailbox
from domain.synced_message import SyncedMessage

ATTEMPTS = 3


class Retraction:
    def __init__(self, app: MailTrail, ledger: UidLedger) -> None:
        self.app = app
        self.ledger = ledger

    def expunge(self, mailbox_id: str, gone: list[UidEntry]) -> Counter[str]:
        """Retract copies none of whose UIDs (in any folder) remain; the count retracted per folder."""
        retracted: Counter[str] = Counter()
        if not gone:
            return retracted
        keys = {(e.folder, e.uidvalidity, e.uid) for e in gone}
        folder_of = {e.copy_id: e.folder for e in gone if e.copy_id}
        held = {e.copy_id for e in self.ledger.holders(mailbox_id, folder_of)
                if (e.folder, e.uidvalidity, e.uid) not in keys}  # fmt: skip
        for copy_id in sorted(set(folder_of) - held):
            if self._expunge_copy(copy_id):
                retracted[folder_of[copy_id]] += 1
        self.ledger.forget(mailbox_id, gone)
        return retracted

    def _expunge_copy(self, copy_id: str) -> bool:
        if not self.app.exists(UUID(copy_id)):
            return False  # skipped at ingest (internal, blocked...): nothing to retract
        return self._set_expunged(copy_id, True)

    def restore(self, mailbox_id: str, held: list[str], entries: list[UidEntry]) -> int:
        """Copies stored before and found again (`held`) that no other UID stood behind: a retracted
        one (its folder was gone, or it was expunged) is shown again. Nothing to do when all is new."""
        if not held:
            return 0
        batch = {(e.folder, e.uidvalidity, e.uid) for e in entries}
        elsewhere = {e.copy_id for e in self.ledger.holders(mailbox_id, held)
                     if (e.folder, e.uidvalidity, e.uid) not in batch}  # fmt: skip
        return sum(self._restore_copy(copy_id) for copy_id in sorted(set(held) - elsewhere))

    def _restore_copy(self, copy_id: str) -> bool:
        return self._set_expunged(copy_id, False)

    def _set_expunged(self, copy_id: str, expunged: bool) -> bool:
        """Expunge or restore one copy; False when it already is so (another process was first)."""
        for _ in range(ATTEMPTS):
            copy = self.app.load(SyncedMessage, copy_id)
            if copy.expunged == expunged:
                return False
            if expunged:
                copy.expunge()
            else:
                copy.restore()
            try:
                self.app.save(copy)
                return True
            except IntegrityError:
                continue
        return False

    def forget_folders(self, mailbox_id: str, folders: list[str]) -> None:
        """Retired folders' cursors go last: a crash before leaves them to the next pass."""
        for _ in range(ATTEMPTS if folders else 0):
            mailbox = self.app.load(Mailbox, mailbox_id)
            for folder in folders:
                mailbox.forget_folder(folder)
            try:
                self.app.save_all(mailbox)
                return
            except ConflictError:
                continue
