"""The notification log as a replay reads it: whole pages fast, or given positions.

The live runner reads the log through the library's `select_notifications`. A replay
reads every event once, and three things that cost little per page cost a fifth of its
decoding there; so it reads through the recorder's connection with its own query:

* SQLite: plain tuples instead of `sqlite3.Row`s, and the originator id read as text in
  the form `str(UUID)` gives (a UUID is stored as its 32 hex digits), instead of a `UUID`
  made of every id that every view turns straight back into text; the mapper makes the
  event class's `UUID` of it, as eventsourcing's `find_id_convertor` does.
* PostgreSQL: the log read in binary. The library reads `state` (bytea) in text format,
  which arrives hex-encoded: twice the bytes on the wire and a decode of each.

`positions_reader` reads given positions only (one workspace's events, for its replay).
Both use the library's recorder attributes `datastore` and `events_table_name`;
tests/unit/test_library_contract.py and tests/integration/test_bulk_replay.py check that a
page read here equals the library's own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

Source = Callable[[int, int | None, int], Sequence[Notification]]  # as projections.views_runner.Source
Rows = list[tuple[Any, ...]]
COLUMNS = ("notification_id", "originator_id", "originator_version", "topic", "state")
LAST = 2**63 - 1

# A UUID is stored as its 32 hex digits: read back in the form str(UUID) gives.
_HYPHENATED = "||'-'||".join(
    f"substr(originator_id, {start}, {length})"
    for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
)
_SQLITE_VARIABLES = 900  # under the 999 bound parameters of older SQLite builds


def log_pages(recorder: ApplicationRecorder) -> Source:
    """Pages of the whole log from a position, (after, until, limit) -> notifications."""
    page = _reads(recorder)[0]

    def read(after: int, until: int | None, limit: int) -> Sequence[Notification]:
        if page is None:
            return recorder.select_notifications(start=after + 1, limit=limit, stop=until)
        return _notifications(page(after + 1, LAST if until is None else until, limit))

    return read


def positions_reader(recorder: ApplicationRecorder) -> Callable[[Sequence[int]], Sequence[Notification]]:
    """The notifications at given positions, in log order."""
    at = _reads(recorder)[1]

    def read(positions: Sequence[int]) -> Sequence[Notification]:
        if not positions:
            return []
        if at is None:
            wanted, first, last = set(positions), min(positions), max(positions)
            found = recorder.select_notifications(first, last - first + 1, last)
            return [n for n in found if n.id in wanted]
        return _notifications(at(sorted(positions)))

    return read


def _notifications(rows: Rows) -> list[Notification]:
    return [
        Notification(id=nid, originator_id=oid, originator_version=version, topic=topic, state=state)
        for nid, oid, version, topic, state in rows
    ]


def _reads(
    recorder: ApplicationRecorder,
) -> tuple[Callable[[int, int, int], Rows] | None, Callable[[list[int]], Rows] | None]:
    """(page, at) for this recorder; (None, None): the library's own reads."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return _postgres_reads(recorder)
    if isinstance(recorder, SQLiteApplicationRecorder) and recorder.datastore.originator_id_type == "uuid":
        return _sqlite_reads(recorder)
    return None, None  # ids stored as text, or another store: the library's to read


def _postgres_reads(
    recorder: PostgresApplicationRecorder,
) -> tuple[Callable[[int, int, int], Rows], Callable[[list[int]], Rows]]:
    table = SQL("{schema}.{table}").format(
        schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name)
    )
    columns = SQL(", ".join(COLUMNS))
    page_sql = SQL(
        "SELECT {columns} FROM {table} WHERE notification_id >= %s AND notification_id <= %s"
        " ORDER BY notification_id LIMIT %s"
    ).format(columns=columns, table=table)
    at_sql = SQL(
        "SELECT {columns} FROM {table} WHERE notification_id = ANY(%s) ORDER BY notification_id"
    ).format(columns=columns, table=table)

    def run(statement: SQL | Any, params: tuple[Any, ...], prepare: bool) -> Rows:
        with (
            recorder.datastore.get_connection() as conn,
            conn.cursor(binary=True, row_factory=tuple_row) as curs,
        ):
            curs.execute(statement, params, prepare=prepare)
            return curs.fetchall()

    return (
        lambda first, last, limit: run(page_sql, (first, last, limit), True),
        lambda positions: run(at_sql, (positions,), False),
    )


def _sqlite_reads(
    recorder: SQLiteApplicationRecorder,
) -> tuple[Callable[[int, int, int], Rows], Callable[[list[int]], Rows]]:
    table = recorder.events_table_name
    columns = f"rowid, {_HYPHENATED}, originator_version, topic, state"

    def page(first: int, last: int, limit: int) -> Rows:
        statement = f"SELECT {columns} FROM {table} WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        with recorder.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None
            cursor.execute(statement, (first, last, limit))
            return cursor.fetchall()

    def at(positions: list[int]) -> Rows:
        rows: Rows = []
        with recorder.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None
            for start in range(0, len(positions), _SQLITE_VARIABLES):
                chunk = positions[start : start + _SQLITE_VARIABLES]
                marks = ", ".join("?" * len(chunk))
                cursor.execute(
                    f"SELECT {columns} FROM {table} WHERE rowid IN ({marks}) ORDER BY rowid", chunk
                )
                rows += cursor.fetchall()
        return rows

    return page, at
