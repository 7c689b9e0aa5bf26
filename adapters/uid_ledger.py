"""The UidLedger port over the `imap_uids` table: folder UIDs behind each copy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Engine, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from adapters.persistence import writer_engine
from adapters.secret_tables import imap_uids
from application.ports import UidEntry

CHUNK = 400


class SqlUidLedger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def remember(self, mailbox_id: str, entries: Sequence[UidEntry]) -> None:
        """Idempotent: the same UID always carries the same message, hence the same copy."""
        if not entries:
            return
        rows = [
            {
                "mailbox_id": mailbox_id,
                "folder": e.folder,
                "uidvalidity": e.uidvalidity,
                "uid": e.uid,
                "copy_id": e.copy_id,
            }
            for e in entries
        ]
        with writer_engine(self.engine).begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(dialect.insert(imap_uids).on_conflict_do_nothing(), rows)

    def entries(self, mailbox_id: str, folder: str) -> list[UidEntry]:
        query = select(imap_uids).where(imap_uids.c.mailbox_id == mailbox_id, imap_uids.c.folder == folder)
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(query)]

    def holders(self, mailbox_id: str, copy_ids: Iterable[str]) -> list[UidEntry]:
        ids = sorted(set(copy_ids))
        found: list[UidEntry] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                query = select(imap_uids).where(
                    imap_uids.c.mailbox_id == mailbox_id, imap_uids.c.copy_id.in_(ids[start : start + CHUNK])
                )
                found.extend(_entry(r) for r in conn.execute(query))
        return found

    def forget(self, mailbox_id: str, entries: Sequence[UidEntry]) -> None:
        with writer_engine(self.engine).begin() as conn:
            for start in range(0, len(entries), CHUNK):
                keys = [(e.folder, e.uidvalidity, e.uid) for e in entries[start : start + CHUNK]]
                conn.execute(
                    delete(imap_uids).where(
                        imap_uids.c.mailbox_id == mailbox_id,
                        tuple_(imap_uids.c.folder, imap_uids.c.uidvalidity, imap_uids.c.uid).in_(keys),
                    )
                )


def _entry(row: object) -> UidEntry:
    return UidEntry(row.folder, int(row.uidvalidity), int(row.uid), row.copy_id)  # type: ignore[attr-defined]
