"""The event store's recorders: eventsourcing 9.5's, reading the log faster for the views.

SQLite: pages of the notification log come back as plain tuples with the originator id
as text (in the form `str(UUID)` gives), instead of `sqlite3.Row`s and a `UUID` made of every id; a mapper
turns the text into the event class's `UUID` as before (eventsourcing's
`find_id_convertor`), and the views' mapper keeps it as text (application/view_mapper.py).

Both: `select_notifications_at(positions)` reads given positions only (one workspace's
events, for its replay), in the same row form.

PostgreSQL: eventsourcing 9.5's, with two changes.

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
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier


class _PagesAsViewsRead:
    """`select_notifications` as the views call it (a page from a position) by the
    recorder's own `_page` query; any other call goes to the library's."""

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        if topics or start is None or not self._reads_pages():
            return super().select_notifications(  # type: ignore[misc]
                start, limit, stop, topics, inclusive_of_start=inclusive_of_start
            )
        first = start if inclusive_of_start else start + 1
        return [
            Notification(id=nid, originator_id=oid, originator_version=version, topic=topic, state=state)
            for nid, oid, version, topic, state in self._page(first, stop if stop is not None else 2**63 - 1, limit)
        ]

    def select_notifications_at(self, positions: Sequence[int]) -> Sequence[Notification]:
        """The notifications at these positions, in log order (one workspace's, for its replay)."""
        if not positions:
            return []
        if not self._reads_pages():
            wanted, first, last = set(positions), min(positions), max(positions)
            return [n for n in self.select_notifications(first, last - first + 1, last) if n.id in wanted]
        return [
            Notification(id=nid, originator_id=oid, originator_version=version, topic=topic, state=state)
            for nid, oid, version, topic, state in self._at(sorted(positions))
        ]

    def _reads_pages(self) -> bool:
        return True

    def _page(self, first: int, last: int, limit: int) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _at(self, positions: list[int]) -> list[tuple[Any, ...]]:
        raise NotImplementedError


class PostgresRecorder(_PagesAsViewsRead, PostgresApplicationRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)  # lock, notify, insert
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _page(self, first: int, last: int, limit: int) -> list[tuple[Any, ...]]:
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{table}"
            " WHERE notification_id >= %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor(binary=True, row_factory=tuple_row) as curs:
            curs.execute(statement, (first, last, limit), prepare=True)
            return curs.fetchall()

    def _at(self, positions: list[int]) -> list[tuple[Any, ...]]:
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{table}"
            " WHERE notification_id = ANY(%s) ORDER BY notification_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor(binary=True, row_factory=tuple_row) as curs:
            curs.execute(statement, (positions,))
            return curs.fetchall()


# A UUID is stored as its 32 hex digits: read back in the form str(UUID) gives.
_HYPHENATED = "||'-'||".join(
    f"substr(originator_id, {start}, {length})" for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
)


_SQLITE_VARIABLES = 900  # under the 999 bound parameters of older SQLite builds


class SQLiteRecorder(_PagesAsViewsRead, SQLiteApplicationRecorder):
    def _reads_pages(self) -> bool:
        return self.datastore.originator_id_type == "uuid"  # ids stored as text are the library's to read

    def _page(self, first: int, last: int, limit: int) -> list[tuple[Any, ...]]:
        statement = (
            f"SELECT rowid, {_HYPHENATED}, originator_version, topic, state FROM {self.events_table_name}"
            " WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None
            cursor.execute(statement, (first, last, limit))
            return cursor.fetchall()

    def _at(self, positions: list[int]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None
            columns = f"rowid, {_HYPHENATED}, originator_version, topic, state"
            for start in range(0, len(positions), _SQLITE_VARIABLES):
                chunk = positions[start:start + _SQLITE_VARIABLES]
                marks = ", ".join("?" * len(chunk))
                table = self.events_table_name
                cursor.execute(f"SELECT {columns} FROM {table} WHERE rowid IN ({marks}) ORDER BY rowid", chunk)
                rows += cursor.fetchall()
        return rows
