"""The alembic migrations build exactly the tables the code declares, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from adapters.datakeys import key_metadata
from adapters.secret_tables import secret_metadata
from api.runtime import Runtime
from projections.tables import metadata

DECLARED = [metadata, secret_metadata, key_metadata]


def test_migrations_match_the_declared_tables(runtime: Runtime) -> None:
    ours = {name for m in DECLARED for name in m.tables}
    with runtime.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), DECLARED)
    # Tables of the event store (eventsourcing creates them) are not ours to compare.
    unexpected = [d for d in differences if _table_of(d) in ours]
    assert unexpected == []


def _table_of(difference: object) -> str:
    """The table a compare_metadata difference is about (its shapes vary by kind)."""
    if isinstance(difference, list):  # modify_* differences come as a list of tuples
        return _table_of(difference[0])
    assert isinstance(difference, tuple)
    kind, first = difference[0], difference[1]
    if kind in ("add_column", "remove_column") or kind.startswith("modify_"):
        return str(difference[2])
    table = getattr(first, "table", None)
    return str(table.name if table is not None else getattr(first, "name", ""))
