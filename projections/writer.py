"""Batched writes of a page of events into the views, in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Executable, Table


class ViewWriter:
    """Buffers inserts per table; any other statement flushes them first, so order holds.

    Buffered rows go to the driver's executemany with a statement compiled once per
    table: SQLAlchemy's per-row parameter processing was most of a replay's time."""

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
            columns = list(rows[0])
            json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
            values = [
                tuple(_json(row[c]) if c in json_columns else row[c] for c in columns) for row in rows
            ]
            self.conn.exec_driver_sql(self._insert_sql(table, columns, ignore_conflict), values)

    def _insert_sql(self, table: Table, columns: list[str], ignore_conflict: bool) -> str:
        postgres = self.conn.dialect.name == "postgresql"
        marker = "%s" if postgres else "?"
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join(marker for _ in columns)})'
        if ignore_conflict:
            sql += " ON CONFLICT DO NOTHING"
        return sql


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


Handler = Callable[[Any, ViewWriter, int], None]
