"""Replay every view from position 0 into a fresh store and compare digests."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from adapters.migrations import upgrade
from adapters.persistence import StoreConfig, writer_engine
from api.runtime import Runtime
from projections.digest import view_digest
from projections.runner import ProjectionRunner


def replay_digests(
    runtime: Runtime, until: int | None = None, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    live_position = runtime.catch_up()
    target = live_position if until is None else min(until, live_position)
    with tempfile.TemporaryDirectory(prefix="mailtrail-replay-") as tmp:
        fresh, cleanup = _fresh_store(runtime.store, Path(tmp))
        try:
            upgrade(fresh)
            position = ProjectionRunner(runtime.app, writer_engine(fresh)).catch_up(target, progress)
            replay_digest = view_digest(fresh)
        finally:
            cleanup()
    live_digest = view_digest(runtime.engine)
    return {
        "position": position,
        "live_position": live_position,
        "replay_digest": replay_digest,
        "live_digest": live_digest,
        "equal": replay_digest == live_digest,
    }


def _fresh_store(store: StoreConfig, tmp: Path) -> tuple[Any, Callable[[], None]]:
    if not store.is_postgres:
        engine = StoreConfig(f"sqlite:///{tmp / 'replay.db'}").view_engine()
        return engine, engine.dispose

    schema = f"replay_{uuid.uuid4().hex[:12]}"
    admin = store.view_engine()
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = store.view_engine(schema=schema)

    def cleanup() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return engine, cleanup
