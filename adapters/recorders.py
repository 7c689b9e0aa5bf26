"""The event store's PostgreSQL recorder: eventsourcing 9.5's, with two changes.

* It reads the notification log in binary. The library reads `state` (bytea) in text
  format, which arrives hex-encoded: twice the bytes on the wire and a decode of each,
  and the views read every event on a replay. The query is the library's.
* It inserts outside psycopg's pipeline mode. An import of 1,000-event batches (~3 MB
  each) once hung for good in `Pipeline.sync()`, the server waiting in `ClientRead` on
  the INSERT (compare psycopg issue #685). The same statements run one after the other
  (lock, notify, insert, ids) in one transaction: two more round trips per batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier


class PostgresRecorder(PostgresApplicationRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)  # lock, notify, insert
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        if topics or start is None:  # not what the views ask: the library's own query
            return super().select_notifications(start, limit, stop, topics, inclusive_of_start=inclusive_of_start)
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{table}"
            " WHERE notification_id {op} %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            op=SQL(">=" if inclusive_of_start else ">"),
        )
        params = (start, stop if stop is not None else 2**63 - 1, limit)
        with self.datastore.get_connection() as conn, conn.cursor(binary=True, row_factory=tuple_row) as curs:
            curs.execute(statement, params, prepare=True)
            return [
                Notification(id=nid, originator_id=oid, originator_version=version, topic=topic, state=state)
                for nid, oid, version, topic, state in curs.fetchall()
            ]
