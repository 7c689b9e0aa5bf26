"""The event store's PostgreSQL recorder, reading the notification log in binary.

eventsourcing 9.5 reads `state` (bytea) in text format, which arrives hex-encoded:
twice the bytes on the wire and a decode of each. The views read every event on a
replay, so this recorder asks for binary results; the query is the library's."""

from __future__ import annotations

from collections.abc import Sequence

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier


class PostgresRecorder(PostgresApplicationRecorder):
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
