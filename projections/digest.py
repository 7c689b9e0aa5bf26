"""A digest of every view table, or of one workspace's rows: equal digests mean equal views."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy import JSON, Engine, Table

from projections.tables import VIEW_TABLES, workspaces

_CHUNK = 5_000


def _canonical(value: Any) -> Any:
    """A JSON column's value as data, whether the driver gave it parsed or as text."""
    if isinstance(value, (str, bytes)):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def workspace_column(table: Table) -> str:
    """The column that says which workspace a row of this view table belongs to."""
    if table is workspaces:
        return "id"
    if "workspace_id" not in table.columns:
        raise ValueError(f"view table {table.name} has no workspace_id: a workspace's digest cannot cover it")
    return "workspace_id"


def _select(table: Table, marker: str | None) -> str:
    columns = ", ".join(f'"{c.name}"' for c in table.columns)
    order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
    where = f' WHERE "{workspace_column(table)}" = {marker}' if marker else ""
    return f'SELECT {columns} FROM "{table.name}"{where} ORDER BY {order}'


def view_digest(engine: Engine, workspace_id: str | None = None) -> str:
    """sha256 over every row of every view table (or only the rows of one workspace), in
    primary-key order, in chunks of rows.

    Rows come straight from the driver's cursor (SQLAlchemy's rows cost a third of the
    time); only JSON columns are parsed, so that equal data digests equal however its
    text was spelled."""
    digest = hashlib.sha256()
    marker = None if workspace_id is None else ("?" if engine.dialect.paramstyle == "qmark" else "%s")
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            for table in VIEW_TABLES:
                digest.update(table.name.encode())
                json_at = [i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)]
                if marker is None:
                    cursor.execute(_select(table, None))
                else:
                    cursor.execute(_select(table, marker), (workspace_id,))
                while chunk := cursor.fetchmany(_CHUNK):
                    if json_at:
                        chunk = [list(row) for row in chunk]
                        for row in chunk:
                            for i in json_at:
                                row[i] = _canonical(row[i])
                    digest.update(orjson.dumps(chunk, option=orjson.OPT_SORT_KEYS))
        finally:
            cursor.close()
    return digest.hexdigest()
