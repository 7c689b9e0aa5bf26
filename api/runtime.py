"""Composition root: the application, the view store and the projection runner."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from adapters.catalog import DomainCatalog
from adapters.datakeys import DataKeyStore, load_or_create_master_key
from adapters.migrations import upgrade
from adapters.netcheck import Resolver
from adapters.persistence import StoreConfig, writer_engine
from adapters.settings import Settings
from application.app import MailTrail
from domain.records import FanOutLimits
from projections.runner import ProjectionRunner
from projections.tables import mailboxes

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: StoreConfig
    app: MailTrail
    engine: Engine
    runner: ProjectionRunner
    sealer: DataKeyStore
    resolver: Resolver = socket.getaddrinfo  # every outbound connection's lookups (tests inject a stub)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings | None = None) -> Runtime:
        """Open the stores, bringing the view schema up to date first."""
        settings = settings or Settings()
        store = StoreConfig(settings.database_url)
        engine = store.view_engine()
        upgrade(engine)
        sealer = DataKeyStore(engine, settings.master_key or load_or_create_master_key(store.key_file))
        fan_out = FanOutLimits(settings.max_participants, settings.max_records_per_batch)
        catalog = DomainCatalog(settings.verifying_mail_hosts)
        app = MailTrail(catalog, sealer, env=store.event_store_env(), fan_out=fan_out)
        runner = ProjectionRunner(app, writer_engine(engine))
        return cls(settings, store, app, engine, runner, sealer)

    def catch_up(self) -> int:
        return self.runner.catch_up()

    def finish_erasures(self) -> None:
        """Destroy any key an interrupted erasure left, then scrub freed storage:
        SQLite zeroes freed pages (secure_delete) and truncates its WAL; PostgreSQL
        rewrites the view tables (VACUUM FULL) so deleted rows leave no trace."""
        self.catch_up()
        with self.engine.connect() as conn:
            erased = [r.id for r in conn.execute(select(mailboxes.c.id).where(mailboxes.c.erased_at.is_not(None)))]
        for mailbox_id in erased:
            if self.sealer.exists(mailbox_id):
                self.sealer.destroy(mailbox_id)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if self.store.is_postgres:
                for table in ("email_participants", "email_copies", "emails", "grants", "data_keys"):
                    conn.exec_driver_sql(f"VACUUM FULL {table}")
            else:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def start_background_projection(self) -> None:
        """Keep the views caught up with writes from other processes too."""

        def loop() -> None:
            while not self._stop.wait(self.settings.projection_poll_seconds):
                try:
                    self.runner.catch_up()
                except Exception:  # noqa: BLE001 - logged and retried on the next tick
                    log.exception("projection catch-up failed")

        self._thread = threading.Thread(target=loop, name="projections", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.app.close()
        self.engine.dispose()
