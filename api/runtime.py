"""One process's runtime: the application, its services, the view store and the views applier.

api/bootstrap.py builds it (the composition root); routes and commands reach everything
through it. `wait_for(position)` is read-your-writes for a command's events."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select

from application.app import MailTrail
from application.background_sync import BackgroundSyncs
from application.calendar_sync import CalendarSync
from application.imap_sync import ImapSync
from application.imap_sync import Progress as SyncProgress
from application.ports import ApiTokens, CalendarConnector, KeyStore, MailConnector, UidLedger
from application.services import Services
from projections.tables import calendars, mailboxes
from projections.views_runner import Progress, ViewApplier, ViewsRunner

if TYPE_CHECKING:  # the types the composition root chose; only it imports adapters
    from adapters.datakeys import DataKeyStore
    from adapters.netcheck import Resolver
    from adapters.persistence import StoreConfig
    from adapters.settings import Settings
    from api.bootstrap import ViewRebuilds


@dataclass
class Runtime:
    settings: Settings
    store: StoreConfig
    app: MailTrail
    engine: Engine
    runner: ViewsRunner
    sealer: DataKeyStore
    views: ViewApplier
    keystore: KeyStore
    ledger: UidLedger
    tokens: ApiTokens
    rebuilds: ViewRebuilds  # the views rebuilt into a scratch store, for a replay
    resolver: Resolver = socket.getaddrinfo  # every outbound connection's lookups (tests inject a stub)
    services: Services = field(init=False)
    connectors: Callable[[float, int | None], MailConnector] = field(
        init=False
    )  # (timeout, process threshold)
    background: BackgroundSyncs = field(init=False)
    calendar_connector: CalendarConnector = field(init=False)
    calendar_background: BackgroundSyncs = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings | None = None, *, hold_views_lock: bool = False) -> Runtime:
        """The runtime api/bootstrap.py builds (see open_runtime)."""
        from api.bootstrap import open_runtime

        return open_runtime(settings, hold_views_lock=hold_views_lock)

    def imap_sync(
        self,
        *,
        process_threshold: int | None = None,
        progress: SyncProgress | None = None,
        timeout: float = 60.0,
    ) -> ImapSync:
        """An IMAP pass over this runtime's stores, key store and connectors."""
        connector = self.connectors(timeout, process_threshold)
        return ImapSync(self.app, self.keystore, connector, self.ledger, progress=progress)

    def calendar_sync(self, after_batch: Callable[[int], object] = lambda position: None) -> CalendarSync:
        """A calendar pass over this runtime's stores, key store and CalDAV connector."""
        return CalendarSync(self.app, self.keystore, self.calendar_connector, after_batch)

    def catch_up(self, progress: Progress | None = None, timeout: float | None = None) -> int:
        """Read-your-writes: the views show every event written before this call. The applier
        applies them; any other process waits for the applier (ViewsBehindError after the
        `views_wait_seconds` setting, or `timeout`)."""
        return self.views.catch_up(progress, timeout)

    def wait_for(self, position: int, timeout: float | None = None, progress: Progress | None = None) -> int:
        """Read-your-writes for a command whose last event is at `position` (ViewApplier.applied)."""
        return self.views.applied(position, timeout, progress)

    def finish_erasures(self, position: int | None = None) -> None:
        """Once the views reach `position` (default: now): destroy any key an interrupted
        erasure left, then scrub freed storage: SQLite zeroes freed pages (secure_delete) and
        truncates its WAL; PostgreSQL rewrites the view tables (VACUUM FULL) so deleted rows
        leave no trace."""
        self.catch_up() if position is None else self.wait_for(position)
        with self.engine.connect() as conn:
            erased = [
                r.id for r in conn.execute(select(mailboxes.c.id).where(mailboxes.c.erased_at.is_not(None)))
            ]
            erased += [
                r.id for r in conn.execute(select(calendars.c.id).where(calendars.c.erased_at.is_not(None)))
            ]
        for mailbox_id in erased:
            if self.sealer.exists(mailbox_id):
                self.sealer.destroy(mailbox_id)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if self.store.is_postgres:
                for table in ("email_participants", "email_copies", "emails", "grants", "data_keys",
                              "meeting_copies", "meeting_participants", "meeting_attendance"):  # fmt: skip
                    conn.exec_driver_sql(f"VACUUM FULL {table}")
            else:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def start_background_projection(self) -> None:
        """Be the views' applier when the lock is free (now, or once its holder goes), keeping
        them caught up with every process's writes; otherwise serve reads and wait for it."""
        self._thread = threading.Thread(
            target=self.views.run,
            args=(self._stop, self.settings.projection_poll_seconds),
            name="projections",
            daemon=True,
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
