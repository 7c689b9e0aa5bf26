"""Rebuilding every view from position 0 into a fresh store, as a bulk load.

The secondary indexes of the tables that grow with the mail (emails, copies,
participants, audit log) are dropped for the load and built once at its end:
building an index over sorted rows costs a fraction of keeping it up to date row
by row. A statement that reads those tables once they hold more than a few rows
(a removal, a rule change mid-history) gets the indexes back first, so no
statement ever scans an unindexed large table in a loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventsourcing.application import Application
from sqlalchemy import Connection, Engine, bindparam, select, text

from projections import interaction_views
from projections.runner import REBUILD_PAGE, ProjectionRunner, Source
from projections.tables import audit_log, email_copies, email_participants, emails

BULK_TABLES = frozenset(t.name for t in (emails, email_copies, email_participants, audit_log))
SMALL = 1_000  # rows under which a statement is fast without the secondary indexes


class DeferredIndexes:
    """Holds the dropped index definitions and puts them back when they are needed."""

    def __init__(self) -> None:
        self._dropped: dict[str, str] = {}  # index name -> its CREATE INDEX statement
        self._rows = 0

    def start(self, conn: Connection) -> None:
        for name, create in _secondary_indexes(conn):
            conn.execute(text(f'DROP INDEX "{name}"'))
            self._dropped[name] = create

    def loaded(self, table: str, rows: int) -> None:
        if table in BULK_TABLES:
            self._rows += rows

    def before(self, conn: Connection, tables: frozenset[str]) -> None:
        if self._dropped and self._rows > SMALL and tables & BULK_TABLES:
            self.finish(conn)

    def finish(self, conn: Connection) -> None:
        dropped, self._dropped = self._dropped, {}
        for create in dropped.values():
            conn.execute(text(create))

    def build(self, engine: Engine) -> None:
        """Build what is still dropped, two at a time on PostgreSQL (a server process each)."""
        statements, self._dropped = list(self._dropped.values()), {}
        lanes = 2 if engine.dialect.name == "postgresql" else 1

        def run(share: list[str]) -> None:
            with engine.begin() as conn:
                for create in share:
                    conn.execute(text(create))

        with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="index-build") as pool:
            list(pool.map(run, [statements[lane::lanes] for lane in range(lanes)]))


def workspace_log(app: Application[Any], live: Engine, workspace_id: str) -> Source:
    """One workspace's pages of the log: the positions the live audit log files under it
    (every event of the workspace's aggregates), read from the event store by position."""

    def read(after: int, until: int | None, limit: int) -> Sequence[Any]:
        statement = select(audit_log.c.position).where(
            audit_log.c.workspace_id == workspace_id, audit_log.c.position > after
        )
        if until is not None:
            statement = statement.where(audit_log.c.position <= until)
        with live.connect() as conn:
            positions = list(conn.execute(statement.order_by(audit_log.c.position).limit(limit)).scalars())
        if not positions:
            return []
        return app.recorder.select_notifications_at(positions)  # type: ignore[attr-defined, no-any-return]

    return read


def rebuild(
    app: Application[Any],
    engine: Engine,
    until: int | None = None,
    progress: Callable[[int], None] | None = None,
    source: Source | None = None,
) -> int:
    """Apply every event up to `until` (or those `source` reads: one workspace's) to an empty,
    migrated, throwaway store; returns the position of the last event applied."""
    bulk = DeferredIndexes()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # a throwaway store: no write-ahead log for it
            for table in sorted(BULK_TABLES):
                conn.execute(text(f'ALTER TABLE "{table}" SET UNLOGGED'))
        bulk.start(conn)
    # Reading ahead pays when a server reads while we write; on SQLite the reading thread
    # only competes with the writing one for the interpreter lock.
    server = engine.dialect.name == "postgresql"
    runner = ProjectionRunner(app, engine, REBUILD_PAGE, bulk=bulk, read_ahead=server, source=source)
    position = runner.catch_up(until, progress)
    bulk.build(engine)
    if runner.position() != position:  # read back: also waits for a pipelined writer to finish
        raise RuntimeError(f"the rebuilt store is not at position {position}")
    interaction_views.refresh_all(engine)  # the kept summaries, computed and scored once
    return position


def _secondary_indexes(conn: Connection) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the non-unique indexes of the bulk tables, as migrated."""
    if conn.dialect.name == "postgresql":
        query = (
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename IN :names AND indexdef NOT LIKE 'CREATE UNIQUE%'"
        )
    else:  # an index that backs a PRIMARY KEY or UNIQUE constraint has no sql of its own
        query = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN :names AND sql NOT LIKE 'CREATE UNIQUE%'"
        )
    statement = text(query).bindparams(bindparam("names", sorted(BULK_TABLES), expanding=True))
    return [(str(name), str(create)) for name, create in conn.execute(statement)]
