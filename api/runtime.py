"""Composition root: the application, the view store and the projection runner."""

from __future__ import annotations

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
from projections.applier import Progress, ViewApplier
from projections.tables import mailboxes
from projections.views_runner import ViewsRunner

@dataclass
class Runtime:
    settings: Settings
    store: StoreConfig
    app: MailTrail
    engine: Engine
    runner: ViewsRunner
    sealer: DataKeyStore
    views: ViewApplier
    resolver: Resolver = socket.getaddrinfo  # every outbound connection's lookups (tests inject a stub)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings | None = None, *, hold_views_lock: bool = False) -> Runtime:
        """Open the stores, bringing the view schema up to date first. With `hold_views_lock`
        (a server, `project --follow`) the runtime keeps the views applier lock once it has
        it; otherwise it takes the lock for one catch-up at a time."""
        settings = settings or Settings()
        store = StoreConfig(settings.database_url)
        engine = store.view_engine()
        upgrade(engine)
        sealer = DataKeyStore(engine, settings.master_key or load_or_create_master_key(store.key_file))
        fan_out = FanOutLimits(settings.max_participants, settings.max_records_per_batch)
        catalog = DomainCatalog(settings.verifying_mail_hosts)
        app = MailTrail(catalog, sealer, env=store.event_store_env(), fan_out=fan_out)
        runner = ViewsRunner(app, writer_engine(engine))
        views = ViewApplier(
            runner, store.applier_lock(), store.wakeups(getattr(app.recorder, "channel_name", None)),
            lambda: app.recorder.max_notification_id() or 0, hold=hold_views_lock,
            wait_seconds=settings.views_wait_seconds, lock_retry_seconds=settings.projection_poll_seconds,
        )
        views.fill_summaries()  # a store upgraded to 0010 gets its kept summaries once
        return cls(settings, store, app, engine, runner, sealer, views)

    def catch_up(self, progress: Progress | None = None, timeout: float | None = None) -> int:
        """Read-your-writes: the views show every event written before this call. The applier
        applies them; any other process waits for the applier (ViewsBehindError after the
        `views_wait_seconds` setting, or `timeout`)."""
        return self.views.catch_up(progress, timeout)

    def wait_for(self, position: int, timeout: float | None = None) -> int:
        """Return once the views reach `position` (applying them when this process is the applier)."""
        if self.views.is_applier:
            return self.catch_up(timeout=timeout)
        return self.views.wait_for(position, timeout=timeout)

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
        """Be the views' applier when the lock is free (now, or once its holder goes), keeping
        them caught up with every process's writes; otherwise serve reads and wait for it."""
        self._thread = threading.Thread(
            target=self.views.run, args=(self._stop, self.settings.projection_poll_seconds),
            name="projections", daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self.views.wakeups.events.fire()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.views.wakeups.close()
        self.views.lock.close()
        self.app.close()
        self.engine.dispose()
