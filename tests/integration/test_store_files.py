"""The embedded store's files hold subjects and participants: only their owner may read them (14.11)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.settings import Settings
from api.runtime import Runtime


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which files are created world-readable unless a mode is given."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write_something(url: str) -> None:
    runtime = Runtime.open(Settings(database_url=url))  # no master key given: var/master.key is made
    try:
        runtime.services.workspaces.create_workspace("Acme", "acme.com", "Bob", "bob@acme.com")
        runtime.catch_up()
        var = Path(url.split(":///", 1)[1]).parent
        companions = {p.name for p in var.iterdir()}
        assert {"mailtrail.db-wal", "mailtrail.db-shm"} <= companions  # written while they exist
        for name in ("mailtrail.db", "mailtrail.db-wal", "mailtrail.db-shm", "master.key"):
            assert mode(var / name) == 0o600, (name, oct(mode(var / name)))
    finally:
        runtime.close()


def test_a_new_sqlite_store_its_wal_and_its_master_key_are_created_0600(
    tmp_path: Path, usual_umask: None
) -> None:
    var = tmp_path / "var"
    _write_something(f"sqlite:///{var / 'mailtrail.db'}")
    assert mode(var) == 0o700
    assert mode(var / "mailtrail.db") == 0o600


def test_a_store_created_readable_by_others_is_made_private_when_opened(
    tmp_path: Path, usual_umask: None
) -> None:
    var = tmp_path / "var"
    var.mkdir()
    for name in ("mailtrail.db", "mailtrail.db-wal"):
        (var / name).touch(mode=0o644)
    os.chmod(var / "mailtrail.db", 0o644)
    _write_something(f"sqlite:///{var / 'mailtrail.db'}")
