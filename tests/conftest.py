"""Shared fixtures: every store-backed test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.datakeys import new_master_key
from adapters.settings import Settings
from api.main import create_app
from api.runtime import Runtime
from tests.support.dsl import Member, Workspace, assert_problem, make_workspace
from tests.support.messages import message
from tests.support.postgres import drop_database, fresh_database, postgres_url_for_tests

# ../shared next to the checkout, or two levels up for a worktree under wt/ (e.g. /work/wt/NAME).
_ABOVE = Path(__file__).resolve().parents[1].parents[:2]
SHARED = next((p / "shared" for p in _ABOVE if (p / "shared").is_dir()), _ABOVE[0] / "shared")
CORPUS = SHARED / "corpus"
TEST_MASTER_KEY = new_master_key()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres_url_for_tests() as url:
        yield url


def _migrated(url: str) -> None:
    """Bring a store's schema (views, keys and event tables) up to date once."""
    Runtime.open(Settings(database_url=url, master_key=TEST_MASTER_KEY)).close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "mailtrail.db"
    _migrated(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url: str) -> Iterator[str]:
    url = fresh_database(postgres_server_url, "template")
    _migrated(url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty store per test: a copy of a session's template (schema work once)."""
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "mailtrail.db")
        yield f"sqlite:///{tmp_path / 'mailtrail.db'}"
        return
    url = fresh_database(
        request.getfixturevalue("postgres_server_url"),
        "mailtrail",
        template=request.getfixturevalue("postgres_template"),
    )
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    rt = Runtime.open(Settings(database_url=database_url, master_key=TEST_MASTER_KEY))
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as test_client:
        yield test_client


@pytest.fixture
def acme(client: TestClient, runtime: Runtime) -> Workspace:
    """Acme: acme.com is internal; Bob (bob@acme.com) is its admin."""
    return make_workspace(client, runtime)


__all__ = ["CORPUS", "TEST_MASTER_KEY", "Member", "Workspace", "assert_problem", "make_workspace", "message"]
