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
from application.graph_notifications import GraphNotifications
from application.graph_sync import AccessTokens, GraphSync
from application.imap_sync import ImapSync
from application.imap_sync import Progress as SyncProgress
from application.outbox import OutboxLoop, OutboxWorker
from application.ports import (
    ApiTokens,
    CalendarConnector,
    Clock,
    KeyStore,
    MailApiConnector,
    MailConnector,
    UidLedger,
)
from application.services import Services
from application.webhook_delivery import WebhookDelivery
from application.webhooks import Webhooks
from projections.tables import calendars, mailboxes
from projections.views_runner import Progress, ViewApplier, ViewsRunner

if TYPE_CHECKING:  # the types the composition root chose; only it imports adapters
    from adapters.datakeys import DataKeyStore
    from adapters.inbound_smtp import InboundServer
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
    console_key: bytes = field(init=False)  # the console's CSRF tokens (api/console/session.py)
    inbound: Callable[[str, int], InboundServer] = field(init=False)  # the SMTP capture server (host, port)
    graph: MailApiConnector | None = None  # Microsoft 365 mailboxes, when configured
    oauth_tokens: AccessTokens | None = None  # access tokens of OAuth mailboxes, refreshed as needed
    notifications: GraphNotifications | None = None  # Graph change notifications (Microsoft 365)
    outbox: OutboxWorker = field(init=False)  # sends what is due (application/outbox.py)
    outbox_loop: OutboxLoop = field(init=False)  # the outbox in a thread (a server, `mailtrail worker`)
    webhooks: Webhooks = field(init=False)  # the subscriptions
    delivery: WebhookDelivery = field(init=False)  # their deliveries, from the log
    scrub_webhooks: Callable[[], int] = field(init=False)  # bodies of deliveries whose email is gone
    calendar_connector: CalendarConnector = field(init=False)
    calendar_background: BackgroundSyncs = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _delivery_thread: threading.Thread | None = None

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
        """A sync pass over this runtime's stores, key store and connectors (IMAP; Microsoft 365
        mailboxes through Graph)."""
        connector = self.connectors(timeout, process_threshold)
        graph = None
        if self.graph is not None and self.oauth_tokens is not None:
            graph = GraphSync(self.app, self.graph, self.ledger, self.oauth_tokens)
        return ImapSync(self.app, self.keystore, connector, self.ledger, self.oauth_tokens, progress=progress,
                        graph=graph)  # fmt: skip

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
        self.scrub_webhooks()  # no delivery keeps a subject of a retracted email
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if self.store.is_postgres:
                tables = (
                    "email_participants",
                    "email_copies",
                    "emails",
                    "grants",
                    "data_keys",
                    "webhook_deliveries",
                    "meeting_copies",
                    "meeting_participants",
                    "meeting_attendance",
                )
                for table in tables:
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

    def set_clock(self, clock: Clock) -> None:
        """The time the outbox and the sending service go by (tests move it)."""
        self.outbox.clock = clock
        self.services.sending.clock = clock

    def start_webhook_delivery(self, only_when_applier: bool = True) -> None:
        """Deliver webhooks in the background: in a server, only while this process applies the
        views (one process delivers); `mailtrail worker` passes False and delivers alone."""
        may = (lambda: self.views.is_applier) if only_when_applier else (lambda: True)
        self._delivery_thread = threading.Thread(
            target=self.delivery.run,
            args=(self._stop, self.settings.webhook_poll_seconds, may),
            name="webhooks",
            daemon=True,
        )
        self._delivery_thread.start()

    def close(self) -> None:
        self.outbox_loop.stop()
        self._stop.set()
        self.views.wakeups.events.fire()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._delivery_thread is not None:
            self._delivery_thread.join(timeout=5)
        self.delivery.close()
        for syncs in (self.background, self.calendar_background):  # passes under way use the stores
            syncs.wait(timeout=10)
        self.views.wakeups.close()
        self.views.lock.close()
        self.app.close()
        self.engine.dispose()
