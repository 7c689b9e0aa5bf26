"""Batched writes of a page of events into the views, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson
from sqlalchemy import JSON, BigInteger, Boolean, Connection, Executable, Float, Integer, Table
from sqlalchemy.sql.util import find_tables


class BulkLoad(Protocol):
    """Told of every row written and every other statement, to keep indexes in step."""

    def loaded(self, table: str, rows: int) -> None: ...

    def before(self, conn: Connection, tables: frozenset[str]) -> None: ...


class ViewWriter:
    """Buffers inserts per table; a statement first flushes the tables it touches, so order holds.

    Buffered rows reach the driver in bulk: `executemany` of a statement compiled once
    per table on SQLite, `COPY` on PostgreSQL (through a staging table when conflicting
    rows are to be skipped). SQLAlchemy's per-row parameter processing was most of a
    replay's time."""

    def __init__(self, conn: Connection, bulk: BulkLoad | None = None) -> None:
        self.conn = conn
        self.bulk = bulk
        self._postgres = conn.dialect.name == "postgresql"
        # A pipelined connection (adapters/bulk/loader.py) writes in another process: hand it
        # the rows after every statement, so it loads them while the next events are decoded.
        self._eager = getattr(conn.connection.dbapi_connection, "pipelined", False)
        self._inserts: dict[tuple[str, tuple[str, ...], bool], tuple[Table, list[tuple[Any, ...]]]] = {}
        self.memo: dict[str, Any] = {}  # what handlers read once a page (e.g. mailbox owners)
        # Per workspace, the threads whose emails' visibility or records changed in this page
        # (None: all of them); projections/lead_views.py settles them at the end of the page.
        self.threads: dict[str, set[str] | None] = {}

    def changed_threads(self, workspace_id: str) -> set[str]:
        """The set to add this workspace's changed threads to (a throwaway one when all changed)."""
        found = self.threads.setdefault(workspace_id, set())
        return found if found is not None else set()

    def all_threads_changed(self, workspace_id: str) -> None:
        self.threads[workspace_id] = None

    def insert(self, table: Table, row: dict[str, Any], *, ignore_conflict: bool = False) -> None:
        self.insert_row(table, tuple(row), tuple(row.values()), ignore_conflict=ignore_conflict)

    def insert_row(
        self,
        table: Table,
        columns: tuple[str, ...],
        values: tuple[Any, ...],
        *,
        ignore_conflict: bool = False,
    ) -> None:
        """One row as a tuple in `columns` order: the cheaper form, for the rows of every message."""
        self._buffer(table, columns, ignore_conflict).append(values)

    def insert_rows(
        self,
        table: Table,
        columns: tuple[str, ...],
        rows: Iterable[tuple[Any, ...]],
        *,
        ignore_conflict: bool = False,
    ) -> None:
        self._buffer(table, columns, ignore_conflict).extend(rows)

    def _buffer(self, table: Table, columns: tuple[str, ...], ignore_conflict: bool) -> list[tuple[Any, ...]]:
        key = (table.name, columns, ignore_conflict)
        buffered = self._inserts.get(key)
        if buffered is None:
            buffered = self._inserts[key] = (table, [])
        return buffered[1]

    def execute(self, statement: Executable, params: Any = None) -> Any:
        """Run a statement after the buffered rows of the tables it reads or writes."""
        tables = tables_of(statement)
        self.flush(tables)
        if self.bulk is not None:
            self.bulk.before(self.conn, tables)
        result = self.conn.execute(statement, params) if params is not None else self.conn.execute(statement)
        if self._eager:
            self.flush()
        return result

    def flush(self, tables: frozenset[str] | None = None) -> None:
        """Write the buffered rows (of `tables` only, when given)."""
        if tables is None:
            pending, self._inserts = self._inserts, {}
        else:
            pending = {key: rows for key, rows in self._inserts.items() if key[0] in tables}
            for key in pending:
                del self._inserts[key]
        for (_, columns, ignore_conflict), (table, rows) in pending.items():
            if not rows:
                continue
            values = _serialize_json(table, columns, rows)
            if self.bulk is not None:
                self.bulk.loaded(table.name, len(values))
            if self._postgres:
                self._copy(table, columns, values, ignore_conflict)
            else:
                self.conn.exec_driver_sql(_insert_sql(table.name, columns, ignore_conflict), values)

    def _copy(
        self, table: Table, columns: tuple[str, ...], values: list[tuple[Any, ...]], ignore_conflict: bool
    ) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        target = f"stage_{table.name}" if ignore_conflict else table.name
        with self.conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
            if ignore_conflict:  # COPY cannot skip conflicts: stage the rows, then insert what is new
                cursor.execute(
                    f'CREATE TEMP TABLE IF NOT EXISTS "{target}" (LIKE "{table.name}") ON COMMIT DELETE ROWS'
                )
            with cursor.copy(f'COPY "{target}" ({names}) FROM STDIN (FORMAT BINARY)') as copy:
                copy.set_types([_postgres_type(table.c[c].type) for c in columns])
                for row in values:
                    copy.write_row(row)
            if ignore_conflict:
                cursor.execute(
                    f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{target}" ON CONFLICT DO NOTHING'
                )
                cursor.execute(f'TRUNCATE "{target}"')


def tables_of(statement: Executable) -> frozenset[str]:
    """The names of the tables a statement reads or writes, subqueries included."""
    found = find_tables(statement, include_crud=True, check_columns=True)  # type: ignore[arg-type]
    return frozenset(name for name in (getattr(t, "name", None) for t in found) if name)


def _postgres_type(column_type: Any) -> str:
    """The type a value is sent as in a binary COPY: varchar and json (already serialized)
    columns take text's binary form."""
    for kind, name in ((BigInteger, "int8"), (Integer, "int4"), (Boolean, "bool"), (Float, "float8")):
        if isinstance(column_type, kind):
            return name
    return "text"


def _serialize_json(
    table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    json_at = {i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)}
    if not json_at:
        return rows
    return [tuple(_json(v) if i in json_at else v for i, v in enumerate(row)) for row in rows]


def _insert_sql(table: str, columns: tuple[str, ...], ignore_conflict: bool) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in columns)})'
    return sql + " ON CONFLICT DO NOTHING" if ignore_conflict else sql


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


Handler = Callable[[Any, ViewWriter, int], None]
