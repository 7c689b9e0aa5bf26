"""Replay the views from position 0 into a fresh store: digests and point-in-time reads."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select

from api.errors import BusyError
from api.runtime import Runtime
from application.errors import RuleViolationError
from projections.digest import view_digest
from projections.tables import audit_log

Progress = Callable[[int], None]


class _OneAtATime:
    """One rebuild at a time in this process: a replay holds a scratch store and a migration
    (alembic's upgrade is not thread safe), and a second one would only slow the first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_seconds = 1.0

    @contextmanager
    def held(self) -> Iterator[None]:
        if not self._lock.acquire(blocking=False):
            raise BusyError(
                "another replay is rebuilding the views; retry later", math.ceil(self._last_seconds)
            )
        started = time.monotonic()
        try:
            yield
        finally:
            self._last_seconds = max(1.0, time.monotonic() - started)
            self._lock.release()


_one_at_a_time = _OneAtATime()


def resolve_until(runtime: Runtime, until: int | str | None, workspace_id: str | None = None) -> int | None:
    """A position, or an ISO time turned into the last position at or before it (of the
    workspace's events, when one is given: a workspace never learns another's positions)."""
    if until is None or isinstance(until, int):
        return until
    if until.isdigit():
        return int(until)
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        raise RuleViolationError(f"until must be a position or an ISO time, not {until!r}") from None
    if moment.tzinfo is None:
        raise RuleViolationError("until needs a timezone, e.g. 2025-06-01T12:00:00+00:00")
    runtime.catch_up()
    # Event times are stored as UTC ISO strings, which sort as the times they name.
    stamp = moment.astimezone(UTC).isoformat()
    return last_position(runtime, workspace_id, audit_log.c.occurred_at <= stamp)


def last_position(runtime: Runtime, workspace_id: str | None, *where: ColumnElement[bool]) -> int:
    """The last position in the live audit log (of the workspace's events, when one is given)."""
    if workspace_id is not None:
        where += (audit_log.c.workspace_id == workspace_id,)
    with runtime.engine.connect() as conn:
        position = conn.execute(select(func.max(audit_log.c.position)).where(*where)).scalar()
    return int(position or 0)


def workspace_events(runtime: Runtime, workspace_id: str, until: int | None = None) -> int:
    """How many events of the workspace a replay up to `until` applies."""
    runtime.catch_up()
    where = [audit_log.c.workspace_id == workspace_id]
    if until is not None:
        where.append(audit_log.c.position <= until)
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_log).where(*where)).scalar() or 0)


@contextmanager
def fresh_views(
    runtime: Runtime,
    until: int | None = None,
    progress: Progress | None = None,
    workspace_id: str | None = None,
) -> Iterator[tuple[Engine, int]]:
    """Views rebuilt from position 0 up to `until` (default: the live position) in a temporary
    store: of every workspace, or of one (its events only). One rebuild at a time per process;
    BusyError (429) beyond that."""
    with _one_at_a_time.held():
        live = runtime.catch_up()
        target = live if until is None else min(until, live)
        rebuilds = runtime.rebuilds
        source = (
            None
            if workspace_id is None
            else rebuilds.workspace_source(runtime.app, runtime.engine, workspace_id)
        )
        with rebuilds.scratch_store() as engine:
            yield engine, rebuilds.rebuild(runtime.app, engine, target, progress, source)


def replay_digests(
    runtime: Runtime,
    until: int | None = None,
    progress: Progress | None = None,
    workspace_id: str | None = None,
) -> dict[str, Any]:
    """The rebuilt views' digest beside the live views' (of one workspace's rows, when given)."""
    with fresh_views(runtime, until, progress, workspace_id) as (engine, position):
        replay_digest = view_digest(engine, workspace_id)
    live_position = runtime.catch_up() if workspace_id is None else last_position(runtime, workspace_id)
    live_digest = view_digest(runtime.engine, workspace_id)
    return {
        "position": position,
        "live_position": live_position,
        "replay_digest": replay_digest,
        "live_digest": live_digest,
        "equal": replay_digest == live_digest,
    }
