"""What only a replay's bulk load needs; the live path imports none of it.

* `loader.py`, `loader_child.py`: on SQLite a rebuild's SQL runs in a loading process,
  pipelined with the decoding (docs/decisions.md, "Replay").
* `indexes.py`: the bulk tables' secondary indexes dropped for the load, built at its end.
* `log.py`: the notification log read as a replay reads it (plain tuples and ids as text
  on SQLite, binary on PostgreSQL) through the library recorder's connection.

`rebuild_store` puts them together around projections.rebuild.rebuild(); `scratch_store` is the
fresh, migrated store a replay rebuilds into."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from sqlalchemy import Engine, text

from adapters.bulk.indexes import DeferredIndexes
from adapters.bulk.loader import loading_engine
from adapters.bulk.log import log_pages, positions_reader
from adapters.migrations import upgrade
from adapters.persistence import StoreConfig, writer_engine
from projections.rebuild import rebuild, workspace_log
from projections.views_runner import Source

__all__ = ["rebuild_store", "scratch_store", "workspace_source"]


def rebuild_store(
    app: Application[Any],
    engine: Engine,
    until: int | None = None,
    progress: Any = None,
    source: Source | None = None,
    *,
    loader: bool = True,
) -> int:
    """Rebuild the views into the fresh, migrated store of `engine` as a bulk load; on SQLite
    through a loading process that writes while this one decodes (`loader=False`: the
    writer in this process, for a comparison)."""
    reader = source or log_pages(app.recorder)
    if engine.dialect.name != "sqlite" or not loader:
        return rebuild(app, writer_engine(engine), until, progress, reader, DeferredIndexes())
    loading = loading_engine(engine.url.database or "")
    try:
        return rebuild(
            app, loading, until, progress, reader, DeferredIndexes(), summaries=writer_engine(engine)
        )
    finally:
        loading.dispose()


def workspace_source(app: Application[Any], live: Engine, workspace_id: str) -> Source:
    """One workspace's events, for its replay (projections.rebuild.workspace_log)."""
    return workspace_log(positions_reader(app.recorder), live, workspace_id)


@contextmanager
def scratch_store(store: StoreConfig) -> Iterator[Engine]:
    """A fresh store beside `store`, migrated, removed on exit: a temporary SQLite file, or a
    PostgreSQL schema of its own in the same database."""
    with tempfile.TemporaryDirectory(prefix="mailtrail-replay-") as tmp:
        schema = f"replay_{uuid.uuid4().hex[:12]}" if store.is_postgres else None
        admin = store.view_engine() if schema is not None else None
        if admin is None:
            engine = StoreConfig(f"sqlite:///{Path(tmp) / 'replay.db'}").view_engine(scratch=True)
        else:
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine = store.view_engine(schema=schema)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            if admin is not None:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
