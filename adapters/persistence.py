"""Persistence configuration: one URL picks the event store and the view store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine, create_engine, event

SQLITE_BUSY_MS = 30_000
PRIVATE = 0o600  # the store holds subjects, participants and sealed content: its owner only
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class StoreConfig:
    """Where events and views live for one database URL."""

    url: str

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.split(":///", 1)[1])

    def event_store_env(self) -> dict[str, str]:
        if self.is_postgres:
            parts = urlsplit(self.url)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "APPLICATION_RECORDER_TOPIC": "adapters.recorders:PostgresRecorder",
                "POSTGRES_DBNAME": parts.path.lstrip("/"),
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": unquote(parts.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parts.password or ""),
                "POSTGRES_POOL_SIZE": "4",
                "POSTGRES_MAX_OVERFLOW": "4",
            }
        private_sqlite_file(self.sqlite_path)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": str(SQLITE_BUSY_MS // 1000),
        }

    @property
    def views_lock_file(self) -> Path:
        """The SQLite store's views applier lock, beside the database file."""
        return self.sqlite_path.with_name(self.sqlite_path.name + "-views.lock")

    def applier_lock(self) -> Any:
        """The lock that makes one process at a time the views' applier (adapters/applier_lock.py)."""
        from adapters.applier_lock import AdvisoryLock, FileLock

        return AdvisoryLock(self._libpq_url) if self.is_postgres else FileLock(self.views_lock_file)

    def wakeups(self, events_channel: str | None) -> Any:
        """LISTEN/NOTIFY wake-ups on PostgreSQL, polling on SQLite."""
        from adapters.applier_lock import PostgresWakeups
        from projections.views_runner import Wakeups

        if self.is_postgres and events_channel:
            return PostgresWakeups(self._libpq_url, events_channel)
        return Wakeups()

    @property
    def _libpq_url(self) -> str:
        return "postgresql://" + self.url.split("://", 1)[1]

    @property
    def key_file(self) -> Path:
        """Where the master key lives when the settings give none."""
        if self.is_postgres:
            return Path("var") / "master.key"
        return self.sqlite_path.parent / "master.key"

    def view_engine(self, schema: str | None = None, *, scratch: bool = False) -> Engine:
        """The SQLAlchemy engine of the views (optionally in a PostgreSQL schema)."""
        if self.is_postgres:
            url = "postgresql+psycopg://" + self.url.split("://", 1)[1]
            connect_args: dict[str, Any] = {}
            if schema:
                connect_args["options"] = f"-csearch_path={schema}"
            return create_engine(url, connect_args=connect_args, pool_size=5, max_overflow=5)
        private_sqlite_file(self.sqlite_path)
        engine = create_engine(f"sqlite:///{self.sqlite_path}", connect_args={"check_same_thread": False})
        configure_sqlite(engine, scratch)
        return engine


def private_sqlite_file(path: Path) -> None:
    """Create a SQLite store's file 0600 before SQLite opens it (SQLite gives the -wal, -shm and
    -journal files it creates the database file's mode), and take group and other access away
    from a store made before (its companions too; chmod by path). A new parent directory is 0700."""
    if str(path) in ("", ":memory:"):
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:  # never open an existing store: closing a descriptor of it drops this process's SQLite locks
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE))
    except FileExistsError:
        pass
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        try:
            if file.stat().st_mode & 0o077:
                os.chmod(file, PRIVATE)
        except FileNotFoundError:
            continue


def configure_sqlite(engine: Engine, scratch: bool) -> None:
    """WAL and normal syncs; a scratch store (a replay's) skips durability altogether."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if scratch:  # a replay's own file: nothing to recover after a crash, bulk-loaded
            for pragma in ("page_size=16384", "journal_mode=OFF", "synchronous=OFF", "cache_size=-65536"):
                cursor.execute(f"PRAGMA {pragma}")
        else:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer_engine(engine: Engine) -> Engine:
    """The same engine, taking SQLite's write lock at BEGIN (no-op elsewhere)."""
    return engine.execution_options(sqlite_immediate=True)
