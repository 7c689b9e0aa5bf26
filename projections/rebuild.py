"""Rebuilding every view from position 0 into a fresh store.

What makes it a bulk load (deferred indexes, a loading process, the log read fast) is
the caller's to give: adapters/bulk/ has it, and api/replay.py puts them together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from eventsourcing.application import Application
from sqlalchemy import Connection, Engine, select

from projections import interaction_views
from projections.tables import audit_log
from projections.views_runner import REBUILD_PAGE, Source, ViewsRunner
from projections.writer import BulkLoad

PositionsReader = Callable[[Sequence[int]], Sequence[Any]]


class Load(BulkLoad, Protocol):
    """A bulk load over a whole rebuild: started on the empty store, finished at its end."""

    def start(self, conn: Connection) -> None: ...

    def build(self, engine: Engine) -> None: ...


def workspace_log(read_at: PositionsReader, live: Engine, workspace_id: str) -> Source:
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
        return read_at(positions) if positions else []

    return read


def rebuild(
    app: Application[Any],
    engine: Engine,
    until: int | None = None,
    progress: Callable[[int], None] | None = None,
    source: Source | None = None,
    bulk: Load | None = None,
    summaries: Engine | None = None,
) -> int:
    """Apply every event up to `until` (or those `source` reads: one workspace's) to an empty,
    migrated, throwaway store; returns the position of the last event applied. The kept
    summaries are computed at the end through `summaries` (default `engine`): a plain
    connection to the same store reads faster than a pipelined loader that answers
    each SELECT over a pipe."""
    if bulk is not None:
        with engine.begin() as conn:
            bulk.start(conn)
    # Reading ahead pays when a server reads while we write; on SQLite the reading thread
    # only competes with the writing one for the interpreter lock.
    server = engine.dialect.name == "postgresql"
    runner = ViewsRunner(app, engine, REBUILD_PAGE, bulk=bulk, read_ahead=server, source=source)
    position = runner.catch_up(until, progress)
    if bulk is not None:
        bulk.build(engine)
    if runner.position() != position:  # read back: also waits for a pipelined writer to finish
        raise RuntimeError(f"the rebuilt store is not at position {position}")
    # the kept summaries, computed once (a bulk load's pages wrote none of them: nothing to read back)
    interaction_views.refresh_all(summaries or engine, fresh=bulk is not None)
    return position
