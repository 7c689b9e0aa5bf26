"""A SQLite rebuild writes through a loading process: in order, without waiting on writes,
and a write's failure is never lost: the next statement that waits raises it."""

from __future__ import annotations

import datetime
import glob
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, exc, text

from adapters import bulk
from adapters.bulk import loader as sqlite_loader
from adapters.migrations import upgrade
from adapters.persistence import StoreConfig
from api.runtime import Runtime
from projections.digest import view_digest
from tests.integration.test_bulk_replay import _sync_many


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """(a plain engine, a loading engine) on one scratch file with a table t(k primary key, v)."""
    config = StoreConfig(f"sqlite:///{tmp_path / 'scratch.db'}")
    plain = config.view_engine(scratch=True)
    with plain.begin() as conn:
        conn.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
    loading = sqlite_loader.loading_engine(config.sqlite_path)
    try:
        yield plain, loading
    finally:
        loading.dispose()
        plain.dispose()


def _settled(loading: Engine) -> None:
    """Commits are sent without waiting: a SELECT through the loader waits for them."""
    with loading.connect() as conn:
        conn.execute(text("SELECT 1")).all()


def _values(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text("SELECT k, v FROM t ORDER BY k"))]


def test_writes_run_in_order_and_a_select_sees_every_one_sent_before_it(store: tuple[Engine, Engine]) -> None:
    plain, loading = store
    with loading.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", [(k, f"v{k}") for k in range(1, 1001)])
        updated = conn.execute(text("UPDATE t SET v = 'changed' WHERE k <= 10"))
        conn.execute(text("DELETE FROM t WHERE k > 500"))
        assert updated.rowcount == -1  # sent without waiting: DB-API's "not known"
        assert conn.execute(text("SELECT count(*), min(v) FROM t")).one() == (500, "changed")
    _settled(loading)
    assert _values(plain)[:2] == [(1, "changed"), (2, "changed")]
    assert len(_values(plain)) == 500


def test_a_failed_write_is_raised_by_the_next_statement_that_waits_and_nothing_after_it_runs(
    store: tuple[Engine, Engine],
) -> None:
    plain, loading = store
    with loading.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1, 'kept')"))
    _settled(loading)
    failing = pytest.raises(exc.IntegrityError, match="UNIQUE constraint failed.*sent earlier")
    with failing, loading.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2, 'rolled back')"))
        conn.execute(text("INSERT INTO t VALUES (1, 'duplicate')"))  # fails in the loader, unseen here
        conn.execute(text("INSERT INTO t VALUES (3, 'never run')"))
        conn.execute(text("SELECT 1")).all()
    assert _values(plain) == [(1, "kept")]
    with loading.begin() as conn:  # the connection goes on after the failure was told
        conn.execute(text("INSERT INTO t VALUES (4, 'after')"))
    _settled(loading)
    assert _values(plain) == [(1, "kept"), (4, "after")]


def test_a_failure_nobody_waited_for_is_raised_on_close(tmp_path: Path) -> None:
    path = tmp_path / "scratch.db"
    connection = sqlite_loader.LoaderConnection(path)
    connection.cursor().execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    connection.cursor().executemany("INSERT INTO t VALUES (?)", [(1,), (1,)])
    with pytest.raises(sqlite_loader.sqlite3.IntegrityError):
        connection.close()


def test_large_batches_travel_by_spool_files_which_are_gone_after(
    store: tuple[Engine, Engine],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain, loading = store
    monkeypatch.setattr(sqlite_loader, "SPOOL_BYTES", 200_000)  # several spool files for the batches below
    when = datetime.datetime(2025, 6, 2, 10, 0, tzinfo=datetime.UTC)
    with loading.begin() as conn:
        for batch in range(5):
            rows = [(batch * 10_000 + k, f"row {k} " + "x" * 40) for k in range(2000)]
            conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", rows)
        # values marshal cannot carry (a datetime) still arrive, pickled
        conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", (99_999, when.isoformat()))
        assert glob.glob(str(tmp_path / "scratch.db.spool*"))  # the batches above were spooled
    loading.dispose()
    assert len(_values(plain)) == 10_001
    assert not glob.glob(str(tmp_path / "scratch.db.spool*"))


def test_a_loader_that_dies_is_reported_not_waited_for(store: tuple[Engine, Engine]) -> None:
    _, loading = store
    with loading.connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.connection.dbapi_connection._process.kill()  # type: ignore[union-attr]
        with pytest.raises(exc.OperationalError, match="loading process exited"):
            conn.execute(text("SELECT count(*) FROM t")).all()
        conn.invalidate()


def test_only_the_functions_the_loader_has_can_be_registered(tmp_path: Path) -> None:
    connection = sqlite_loader.LoaderConnection(tmp_path / "scratch.db")
    try:
        connection.create_function("regexp", 2, None)
        with pytest.raises(sqlite_loader.sqlite3.NotSupportedError):
            connection.create_function("mine", 1, len)
        assert connection.cursor().execute("SELECT 'mailtrail' REGEXP 'trail$'").fetchall() == [(1,)]
    finally:
        connection.close()


def test_a_rebuild_through_the_loader_equals_one_written_in_process(runtime: Runtime) -> None:
    if runtime.store.is_postgres:
        pytest.skip("the loading process is SQLite's")
    app = runtime.app
    services = runtime.services
    ws, bob, _ = services.workspaces.create_workspace("Acme", "acme.com", "Bob", "bob@acme.com")
    box = services.mailboxes.register(ws, bob, "upload", "bob@acme.com", []).id
    _sync_many(runtime, box, 300, "globex.com")
    services.workspaces.add_member(ws, "Dan", ["dan@acme.com"], "member")
    _sync_many(runtime, box, 20, "hooli.com")
    runtime.catch_up()
    digests = []
    for through_loader in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            engine = StoreConfig(f"sqlite:///{Path(tmp) / 'replay.db'}").view_engine(scratch=True)
            upgrade(engine)
            if through_loader:
                runtime.rebuilds.rebuild(app, engine)
            else:
                bulk.rebuild_store(app, engine, loader=False)
            digests.append(view_digest(engine))
            engine.dispose()
    assert digests[0] == digests[1]
    assert digests[0] == view_digest(runtime.engine)
