"""What mailtrail relies on in eventsourcing beyond its public API: each test fails with a
message naming the hook when the library changes it (pyproject pins eventsourcing to 9.5.x).

The live path has one hook: adapters/recorders.py inserts outside psycopg's pipeline mode
(an import once hung in `Pipeline.sync()`) by calling the library recorder's three private
steps of `insert_events`. A replay's bulk load reads the log through the recorder's
connection (adapters/bulk/log.py). Round trips on PostgreSQL:
tests/integration/test_bulk_replay.py (its PostgreSQL leg)."""

from __future__ import annotations

import ast
import inspect
import os
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from adapters.bulk.log import log_pages, positions_reader
from adapters.recorders import PostgresRecorder

CHANGED = "eventsourcing changed {what}: {why}; review {where} before widening the pin"
PRIVATE_STEPS = ("_insert_events", "_insert_stored_events", "_fetch_ids_after_insert_events")


def test_the_installed_library_is_in_the_pinned_minor_range() -> None:
    assert version("eventsourcing").startswith("9.5."), CHANGED.format(
        what="its version", why=f"{version('eventsourcing')} is installed", where="every hook below"
    )


@pytest.mark.parametrize("step", PRIVATE_STEPS)
def test_the_private_steps_of_the_postgres_insert_keep_their_signature(step: str) -> None:
    method = getattr(PostgresApplicationRecorder, step, None)
    assert method is not None, CHANGED.format(
        what=f"PostgresApplicationRecorder.{step}", why="it is gone", where="adapters/recorders.py"
    )
    parameters = list(inspect.signature(method).parameters.values())
    names = [p.name for p in parameters[:3]]
    assert (
        names == ["self", "curs", "stored_events"] and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD
    ), CHANGED.format(
        what=f"the signature of PostgresApplicationRecorder.{step}",
        why=f"it is now {inspect.signature(method)}, called as (curs, stored_events, **kwargs)",
        where="adapters/recorders.py",
    )


def test_the_library_insert_is_still_those_steps_in_a_pipeline() -> None:
    """Our insert runs the library's steps in its order, outside a pipeline. If the library
    adds a step our copy would skip it; if it stops pipelining, our override may go."""
    source = inspect.getsource(PostgresApplicationRecorder.insert_events)
    at = [source.find(f"self.{step}(") for step in PRIVATE_STEPS]
    assert -1 not in at and at == sorted(at), CHANGED.format(
        what="PostgresApplicationRecorder.insert_events",
        why=f"it no longer calls {', '.join(PRIVATE_STEPS)} in that order",
        where="adapters/recorders.py (PostgresRecorder.insert_events)",
    )
    assert "pipeline" in source, CHANGED.format(
        what="PostgresApplicationRecorder.insert_events",
        why="it no longer uses psycopg's pipeline mode, which the override avoids",
        where="adapters/recorders.py: the override may no longer be needed",
    )
    inserted = inspect.getsource(PostgresApplicationRecorder._insert_stored_events)
    assert "self._lock_table(" in inserted and "self._notify_channel(" in inserted, CHANGED.format(
        what="PostgresApplicationRecorder._insert_stored_events",
        why="it no longer locks the table and notifies before inserting",
        where="adapters/recorders.py (the lock keeps insert order = commit order for the views)",
    )
    assert PostgresRecorder.insert_events is not PostgresApplicationRecorder.insert_events


def test_a_replay_reads_the_attributes_it_uses_of_the_library_recorders() -> None:
    """adapters/bulk/log.py: the datastore's connection, schema and id type, the table name."""
    assert "schema" in inspect.signature(PostgresDatastore.__init__).parameters
    assert callable(getattr(PostgresDatastore, "get_connection", None))
    assert callable(getattr(SQLiteDatastore, "transaction", None))
    assert "originator_id_type" in inspect.signature(SQLiteDatastore.__init__).parameters
    for recorder in (PostgresApplicationRecorder, SQLiteApplicationRecorder):
        assert "events_table_name" in inspect.signature(recorder.__init__).parameters, CHANGED.format(
            what=f"{recorder.__name__}.__init__",
            why="it takes no events_table_name",
            where="adapters/bulk/log.py",
        )


def test_the_views_mapper_is_made_by_the_library_factory_with_our_transcoder() -> None:
    assert "transcoder" in inspect.signature(InfrastructureFactory.mapper).parameters, CHANGED.format(
        what="InfrastructureFactory.mapper", why="it takes no transcoder", where="MailTrail.view_mapper"
    )


class Note(Aggregate):
    def __init__(self, text: str) -> None:
        self.text = text

    @event("Edited")
    def edit(self, text: str) -> None:
        self.text = text


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Application[Any]]:
    app: Application[Any] = Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "events.db")}
    )
    try:
        yield app
    finally:
        app.close()


def test_a_replay_reads_a_sqlite_log_as_the_library_does(sqlite_app: Application[Any]) -> None:
    notes = [Note(text=f"n{i}") for i in range(7)]
    for note in notes[:3]:
        note.edit("changed")
    sqlite_app.save(*notes)
    recorder = sqlite_app.recorder
    assert type(recorder) is SQLiteApplicationRecorder  # the library's own, on the live path too

    def fields(notifications: Any) -> list[tuple[Any, ...]]:
        return [
            (n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state)) for n in notifications
        ]

    library = recorder.select_notifications(1, 100)
    assert len(library) == 10
    assert fields(log_pages(recorder)(0, None, 100)) == fields(library)
    assert fields(log_pages(recorder)(2, 8, 3)) == fields(library[2:5])
    assert fields(positions_reader(recorder)([9, 2, 5])) == fields([library[1], library[4], library[8]])
    # the ids come as text; the library's mapper makes the events' UUIDs of them, as of its own rows
    for ours, theirs in zip(log_pages(recorder)(0, None, 100), library, strict=True):
        assert (
            sqlite_app.mapper.to_domain_event(ours).__dict__
            == sqlite_app.mapper.to_domain_event(theirs).__dict__
        )


def test_no_module_outside_a_replay_imports_the_bulk_load() -> None:
    root = Path(__file__).resolve().parents[2]
    allowed = {"api/bootstrap.py"}  # ViewRebuilds, which imports it when a replay first runs
    offenders = []
    for layer in ("domain", "application", "projections", "api", "adapters"):
        for path in sorted((root / layer).rglob("*.py")):
            name = os.fspath(path.relative_to(root))
            if name.startswith("adapters/bulk/") or name in allowed:
                continue
            text = path.read_text()
            if "adapters.bulk" in text or "from adapters import bulk" in text:
                offenders.append(name)
    assert offenders == [], "the live path must not import adapters/bulk/ (replay only)"


def test_the_composition_root_imports_the_bulk_load_only_when_a_replay_runs() -> None:
    root = Path(__file__).resolve().parents[2]
    tree = ast.parse((root / "api" / "bootstrap.py").read_text())
    top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = {alias.name for node in top if isinstance(node, ast.Import) for alias in node.names}
    names |= {
        f"{node.module}.{alias.name}"
        for node in top
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert not any(name.startswith("adapters.bulk") for name in names), (
        "api/bootstrap.py loads adapters/bulk/ at import"
    )
