"""A digest of every view table: equal digests mean equal views."""

from __future__ import annotations

import hashlib
from itertools import islice
from typing import Any

import orjson
from sqlalchemy import JSON, Engine, Table

from projections.tables import VIEW_TABLES

_CHUNK = 5_000


def _canonical(value: Any) -> Any:
    """A JSON column's value as data, whether the driver gave it parsed or as text."""
    if isinstance(value, (str, bytes)):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _select(table: Table) -> str:
    columns = ", ".join(f'"{c.name}"' for c in table.columns)
    order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
    return f'SELECT {columns} FROM "{table.name}" ORDER BY {order}'


def view_digest(engine: Engine) -> str:
    """sha256 over every row of every view table, in primary-key order, in chunks of rows.

    Rows come straight from the driver; only JSON columns are parsed, so that equal
    data digests equal however its text was spelled."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in VIEW_TABLES:
            digest.update(table.name.encode())
            json_at = [i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)]
            rows = iter(conn.exec_driver_sql(_select(table)))
            while chunk := [list(row) for row in islice(rows, _CHUNK)]:
                for row in chunk:
                    for i in json_at:
                        row[i] = _canonical(row[i])
                digest.update(orjson.dumps(chunk, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()
