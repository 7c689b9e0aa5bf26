"""A digest of every view table: equal digests mean equal views."""

from __future__ import annotations

import hashlib

import orjson
from sqlalchemy import Engine, select

from projections.tables import VIEW_TABLES


def _canonical(value: object) -> object:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def view_digest(engine: Engine) -> str:
    """sha256 over every row of every view table, in primary-key order."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in VIEW_TABLES:
            digest.update(table.name.encode())
            order = list(table.primary_key.columns)
            for row in conn.execute(select(table).order_by(*order)):
                values = [_canonical(v) for v in row]
                digest.update(orjson.dumps(values, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()
