"""The composition root: the one place (with the CLI entry) that chooses adapters. It opens the
stores, the key stores, the connectors, the parser and the services once per process."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from adapters.caldav_calendar import CaldavConnector
from adapters.catalog import DomainCatalog
from adapters.datakeys import DataKeyStore, load_or_create_master_key
from adapters.imap import ImapConnector, ImapServer
from adapters.keystore import SqlKeyStore
from adapters.migrations import upgrade
from adapters.mime import parse_message
from adapters.persistence import StoreConfig, writer_engine
from adapters.settings import Settings
from adapters.tokens import SqlApiTokens
from adapters.uid_ledger import SqlUidLedger
from api.runtime import Runtime
from application.app import MailTrail
from application.background_sync import BackgroundSyncs
from application.services import Services
from domain.records import FanOutLimits
from projections.views_runner import Progress, Source, ViewApplier, ViewsRunner

LOGIN_TIMEOUT = 20.0  # a person waits for a login check's answer


class ImapConnectors:
    """The MailConnector port: IMAP connections with this deployment's outbound rules, read at
    connect time (`allow_private_hosts`, the runtime's resolver)."""

    def __init__(self, runtime: Runtime, timeout: float = 60.0, process_threshold: int | None = None) -> None:
        self.runtime = runtime
        self.timeout = timeout
        self.process_threshold = process_threshold

    def connect(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> ImapServer:
        connector = ImapConnector(
            parse_message, timeout=self.timeout, allow_private=self.runtime.settings.allow_private_hosts,
            process_threshold=self.process_threshold, resolver=self.runtime.resolver,
        )  # fmt: skip
        return connector.connect(connection, secret)


class CaldavConnectors:
    """The CalendarConnector port: CalDAV with this deployment's outbound rules and sync window,
    read at connect time."""

    def __init__(self, runtime: Runtime, timeout: float = 60.0) -> None:
        self.runtime = runtime
        self.timeout = timeout

    def connect(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> Any:
        settings = self.runtime.settings
        connector = CaldavConnector(
            settings.allow_private_hosts, self.runtime.resolver, self.timeout,
            settings.calendar_past_days, settings.calendar_future_days,
        )  # fmt: skip
        return connector.connect(connection, secret)


class ViewRebuilds:
    """The views rebuilt from position 0 into a scratch store (api/replay.py) by the bulk load of
    adapters/bulk/, imported when a replay first runs: the live path loads none of it."""

    def __init__(self, store: StoreConfig) -> None:
        self.store = store

    @contextmanager
    def scratch_store(self) -> Iterator[Engine]:
        """A fresh, migrated store beside the live one, removed on exit."""
        from adapters import bulk

        with bulk.scratch_store(self.store) as engine:
            yield engine

    def rebuild(self, app: MailTrail, engine: Engine, until: int | None = None, progress: Progress | None = None,
                source: Source | None = None) -> int:  # fmt: skip
        """Rebuild the views into the scratch store of `engine` (on SQLite through a loading
        process that writes while this one decodes); returns the position reached."""
        from adapters import bulk

        return bulk.rebuild_store(app, engine, until, progress, source)

    def workspace_source(self, app: MailTrail, live: Engine, workspace_id: str) -> Source:
        """One workspace's events, for its replay."""
        from adapters import bulk

        return bulk.workspace_source(app, live, workspace_id)


def open_runtime(settings: Settings | None = None, *, hold_views_lock: bool = False) -> Runtime:
    """Open the stores, bringing the view schema up to date first. With `hold_views_lock`
    (a server, `project --follow`) the runtime keeps the views applier lock once it has
    it; otherwise it takes the lock for one catch-up at a time."""
    settings = settings or Settings()
    store = StoreConfig(settings.database_url)
    engine = store.view_engine()
    upgrade(engine)
    master_key = settings.master_key or load_or_create_master_key(store.key_file)  # read once per process
    sealer = DataKeyStore(engine, master_key)
    fan_out = FanOutLimits(settings.max_participants, settings.max_records_per_batch)
    catalog = DomainCatalog(settings.verifying_mail_hosts)
    app = MailTrail(catalog, sealer, env=store.event_store_env(), fan_out=fan_out)
    runner = ViewsRunner(app, writer_engine(engine))
    views = ViewApplier(
        runner, store.applier_lock(), store.wakeups(getattr(app.recorder, "channel_name", None)),
        lambda: app.recorder.max_notification_id() or 0, hold=hold_views_lock,
        wait_seconds=settings.views_wait_seconds, lock_retry_seconds=settings.projection_poll_seconds,
    )  # fmt: skip
    views.fill_summaries()  # a store upgraded to 0010 gets its kept summaries once
    keystore = SqlKeyStore(engine, master_key)
    runtime = Runtime(
        settings, store, app, engine, runner, sealer, views,
        keystore=keystore, ledger=SqlUidLedger(engine), tokens=SqlApiTokens(engine), rebuilds=ViewRebuilds(store),
    )  # fmt: skip
    runtime.connectors = lambda timeout, threshold: ImapConnectors(runtime, timeout, threshold)
    runtime.calendar_connector = CaldavConnectors(runtime)
    runtime.services = Services.build(
        app, keystore, runtime.connectors(LOGIN_TIMEOUT, None), parse_message, sealer,
        CaldavConnectors(runtime, LOGIN_TIMEOUT),
    )  # fmt: skip
    runtime.background = BackgroundSyncs(
        lambda progress: runtime.imap_sync(progress=progress), runtime.catch_up
    )
    runtime.services.mailboxes.start_sync = runtime.background.start
    runtime.calendar_background = BackgroundSyncs(
        lambda progress: runtime.calendar_sync(after_batch=progress),  # type: ignore[arg-type,return-value]
        runtime.catch_up,
    )
    runtime.services.calendars.start_sync = runtime.calendar_background.start
    return runtime


def open_command_runtime(hold_views_lock: bool = False) -> Runtime:
    """A CLI command's runtime: it waits for a running server's applier as long as that takes."""
    runtime = open_runtime(hold_views_lock=hold_views_lock)
    runtime.views.wait_seconds = math.inf
    return runtime
