"""The composition root: the one place (with the CLI entry) that chooses adapters. It opens the
stores, the key stores, the connectors, the parser and the services once per process."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from adapters import https
from adapters.caldav_calendar import CaldavConnector
from adapters.capture import HmacCaptureTokens, SqlCaptureDirectory
from adapters.catalog import DomainCatalog
from adapters.datakeys import DataKeyStore, derived_key, fate_hasher, load_or_create_master_key
from adapters.dkim_check import DkimpyVerifier
from adapters.forwarding import Forwards
from adapters.google_oauth import GoogleOAuth
from adapters.graph import GraphConnector
from adapters.imap import ImapConnector, ImapServer
from adapters.inbound_smtp import CaptureHandler, InboundServer, networks
from adapters.keystore import SqlKeyStore
from adapters.microsoft import MicrosoftOAuth
from adapters.migrations import upgrade
from adapters.mime import parse_message
from adapters.notification_secrets import HmacNotificationSecrets
from adapters.oauth_states import SqlOAuthStates
from adapters.persistence import StoreConfig, writer_engine
from adapters.send_index import ViewSendIndex
from adapters.settings import Settings
from adapters.smtp_transport import SmtpTransports
from adapters.templates import JinjaTemplates
from adapters.tokens import SqlApiTokens
from adapters.uid_ledger import SqlUidLedger
from adapters.webhooks import HttpWebhookSender, SqlWebhookEvents, SqlWebhookStore
from api.runtime import Runtime
from application.app import MailTrail
from application.background_sync import BackgroundSyncs
from application.graph_notifications import GraphNotifications
from application.outbox import ImapSentFolder, OutboxLoop, OutboxWorker
from application.ports import OAuthProvider
from application.services import Services
from application.services.capture import Capture
from application.services.oauth import OAuthConnections, OAuthTokens
from application.services.sending import SystemClock
from application.webhook_delivery import WebhookDelivery
from application.webhooks import Webhooks
from domain.records import FanOutLimits
from projections.views_runner import Progress, Source, ViewApplier, ViewsRunner
from projections.webhook_payloads import EVENT_TYPES

LOGIN_TIMEOUT = 20.0  # a person waits for a login check's answer


class ImapConnectors:
    """The MailConnector port: IMAP connections with this deployment's outbound rules, read at
    connect time (`allow_private_hosts`, the runtime's resolver)."""

    def __init__(self, runtime: Runtime, timeout: float = 60.0, process_threshold: int | None = None) -> None:
        self.runtime = runtime
        self.timeout = timeout
        self.process_threshold = process_threshold

    def connect(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> ImapServer:
        settings = self.runtime.settings
        allow_private = settings.allow_private_hosts or configured_gmail(settings, connection)
        connector = ImapConnector(
            parse_message, timeout=self.timeout, allow_private=allow_private,
            process_threshold=self.process_threshold, resolver=self.runtime.resolver,
        )  # fmt: skip
        return connector.connect(connection, secret)


def gmail_connection(settings: Settings) -> dict[str, Any]:
    """Where a `gmail` mailbox is synced: MAILTRAIL_GMAIL_IMAP, implicit TLS, XOAUTH2."""
    host, port = settings.gmail_imap_endpoint
    return {"host": host, "port": port, "security": "tls", "folders": None}


def configured_gmail(settings: Settings, connection: Mapping[str, Any]) -> bool:
    """The configured Gmail endpoint is trusted (it may be loopback in tests); a host a user typed
    stays under the private-address rule."""
    where = (connection.get("host"), connection.get("port"))
    return connection.get("auth") == "oauth" and where == settings.gmail_imap_endpoint


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
    app = MailTrail(
        catalog, sealer, env=store.event_store_env(), fan_out=fan_out, fate_hash=fate_hasher(master_key)
    )
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
    transports = SmtpTransports(lambda: runtime.settings.allow_private_hosts, lambda: runtime.resolver)
    index, clock = ViewSendIndex(engine), SystemClock()
    runtime.services = Services.build(
        app, keystore, runtime.connectors(LOGIN_TIMEOUT, None), parse_message, sealer,
        CaldavConnectors(runtime, LOGIN_TIMEOUT),
        transports=transports, index=index, templates=JinjaTemplates(), clock=clock,
    )  # fmt: skip
    sent_folder = ImapSentFolder(app, keystore, runtime.connectors(LOGIN_TIMEOUT, None))
    runtime.outbox = OutboxWorker(
        app, keystore, transports, sent_folder, index, clock, parse_message, runtime.catch_up,
        lease=timedelta(seconds=settings.send_lease_seconds),
    )  # fmt: skip
    runtime.outbox_loop = OutboxLoop(runtime.outbox, settings.outbox_poll_seconds)
    runtime.services.sending.wake = runtime.outbox_loop.wake
    runtime.background = BackgroundSyncs(
        lambda progress: runtime.imap_sync(progress=progress), runtime.catch_up
    )
    runtime.services.mailboxes.start_sync = runtime.background.start
    runtime.console_key = derived_key(master_key, "console csrf")
    capture = Capture(
        app, parse_message, runtime.services.mailboxes, HmacCaptureTokens(master_key),
        SqlCaptureDirectory(engine), DkimpyVerifier(settings.dns_servers()), Forwards(), settings.inbound_domain,
    )  # fmt: skip
    runtime.services.capture = capture
    trusted = networks(settings.inbound_trusted)
    runtime.inbound = lambda host, port: InboundServer(
        CaptureHandler(capture, trusted), host, port, settings.inbound_domain
    )
    graph_http = https.Http() if settings.microsoft_client_id else None  # its TLS context only when used
    providers = oauth_providers(settings, graph_http)
    runtime.services.oauth = OAuthConnections(
        app, keystore, SqlOAuthStates(engine, master_key), providers, runtime.services.mailboxes,
        settings.redirect_uri, oauth_connections(settings),
    )  # fmt: skip
    runtime.oauth_tokens = OAuthTokens(keystore, providers)
    if "microsoft365" in providers and graph_http is not None:
        runtime.graph = GraphConnector(settings.graph_url, graph_http, settings.graph_page_size)
        runtime.notifications = GraphNotifications(
            app, runtime.graph, runtime.oauth_tokens, HmacNotificationSecrets(master_key),
            settings.notification_url, runtime.background.start,
        )  # fmt: skip
    wire_webhooks(runtime)
    runtime.calendar_background = BackgroundSyncs(
        lambda progress: runtime.calendar_sync(after_batch=progress),  # type: ignore[arg-type,return-value]
        runtime.catch_up,
    )
    runtime.services.calendars.start_sync = runtime.calendar_background.start
    return runtime


def oauth_providers(settings: Settings, graph_http: https.Http | None) -> dict[str, OAuthProvider]:
    """The OAuth providers with a client id and secret configured (the others answer 422).
    Gmail's (`google_*` settings) goes here too, with its connection in `oauth_connections`."""
    providers: dict[str, OAuthProvider] = {}
    if settings.microsoft_client_id and settings.microsoft_client_secret and graph_http is not None:
        providers["microsoft365"] = MicrosoftOAuth(
            settings.microsoft_client_id, settings.microsoft_client_secret, settings.microsoft_authority,
            settings.graph_url, https.session(), graph_http,
        )  # fmt: skip
    if settings.google_client_id and settings.google_client_secret:
        providers["gmail"] = GoogleOAuth(
            settings.google_client_id, settings.google_client_secret, auth_url=settings.google_auth_url,
            token_url=settings.google_token_url, jwks_url=settings.google_jwks_url,
        )  # fmt: skip
    return providers


def oauth_connections(settings: Settings) -> dict[str, dict[str, Any]]:
    """The non-secret connection an OAuth mailbox starts with, per provider."""
    return {"microsoft365": {"api": "graph"}, "gmail": gmail_connection(settings)}


def wire_webhooks(runtime: Runtime) -> None:
    """The subscriptions, and their deliveries read from the log after the views applied it."""
    settings, app = runtime.settings, runtime.app
    store = SqlWebhookStore(runtime.engine)
    sender = HttpWebhookSender(settings.allow_private_hosts, lambda *a, **k: runtime.resolver(*a, **k))
    mapper = app.view_mapper()

    def read_log(after: int, until: int, limit: int) -> list[tuple[int, Any]]:
        page = app.recorder.select_notifications(start=after + 1, limit=limit, stop=until)
        return [(n.id, mapper.to_domain_event(n)) for n in page]

    def log_position() -> int:
        return app.recorder.max_notification_id() or 0

    runtime.webhooks = Webhooks(store, sender, runtime.keystore, log_position, EVENT_TYPES)
    runtime.delivery = WebhookDelivery(
        read_log, runtime.runner.position, store, SqlWebhookEvents(runtime.engine), sender, runtime.keystore,
        retry_base=settings.webhook_retry_base_seconds, give_up=settings.webhook_give_up_seconds,
    )  # fmt: skip
    runtime.scrub_webhooks = store.scrub


def open_command_runtime(hold_views_lock: bool = False) -> Runtime:
    """A CLI command's runtime: it waits for a running server's applier as long as that takes."""
    runtime = open_runtime(hold_views_lock=hold_views_lock)
    runtime.views.wait_seconds = math.inf
    return runtime
