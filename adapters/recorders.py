"""The PostgreSQL event store's recorder: eventsourcing 9.5's, inserting outside psycopg's
pipeline mode.

An import of 1,000-event batches (~3 MB each) once hung for good in `Pipeline.sync()`,
the server waiting in `ClientRead` on the INSERT (compare psycopg issue #685). The same
statements as the library's `insert_events` run one after the other (lock, notify,
insert, ids) in one transaction: two more round trips per batch, the import rate did not
move. It calls three private methods of the library's recorder; the contract test
(tests/unit/test_library_contract.py) fails when eventsourcing changes them.

Everything else, reads included, is the library's. A replay's faster reads of the log are
in adapters/bulk/log.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry


class PostgresRecorder(PostgresApplicationRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)  # lock, notify, insert
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
