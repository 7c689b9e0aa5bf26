"""Batched writes of a page of events into the views, in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite


class ViewWriter:
    """Buffers inserts per table; any other statement flushes them first, so order holds."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._inserts: dict[tuple[str, bool], tuple[Table, list[dict[str, Any]]]] = {}

    def insert(self, table: Table, row: dict[str, Any], *, ignore_conflict: bool = False) -> None:
        key = (table.name, ignore_conflict)
        if key not in self._inserts:
            self._inserts[key] = (table, [])
        self._inserts[key][1].append(row)

    def execute(self, statement: Executable, params: Any = None) -> Any:
        self.flush()
        return self.conn.execute(statement, params) if params is not None else self.conn.execute(statement)

    def flush(self) -> None:
        pending, self._inserts = self._inserts, {}
        for (_, ignore_conflict), (table, rows) in pending.items():
            statement = self._insert_statement(table, ignore_conflict)
            self.conn.execute(statement, rows)

    def _insert_statement(self, table: Table, ignore_conflict: bool) -> Any:
        if not ignore_conflict:
            return table.insert()
        dialect = self.conn.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()


Handler = Callable[[Any, ViewWriter, int], None]
