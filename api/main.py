"""The HTTP API: create_app() builds everything, nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from api import errors
from api.body_limits import BodyLimits
from api.console import routes as console
from api.responses import OrjsonResponse
from api.routes import (
    audit,
    calendars,
    diagnostics,
    emails,
    intelligence,
    leads,
    mailbox_connections,
    mailboxes,
    members,
    records,
    sends,
    shares,
    threads,
    webhooks,
)
from api.routes import oauth as oauth_routes
from api.routes import settings as settings_routes
from api.runtime import Runtime

if TYPE_CHECKING:
    from adapters.settings import Settings


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The API over a runtime (opened from `settings` when not given)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or Runtime.open(settings, hold_views_lock=True)
        if owned:  # one of several workers perhaps: the one that gets the lock applies
            app.state.runtime.views.try_apply()
            app.state.runtime.start_background_projection()
            if app.state.runtime.settings.outbox:
                app.state.runtime.outbox_loop.start()  # sends what is due, like the background syncs
            if app.state.runtime.settings.webhook_delivery == "serve":
                app.state.runtime.start_webhook_delivery()  # while this worker applies the views
        else:
            app.state.runtime.catch_up()
        try:
            yield
        finally:
            if owned:
                app.state.runtime.close()

    app = FastAPI(
        title="mailtrail",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
    )
    errors.install(app)
    app.add_middleware(BodyLimits)  # before routing, body parsing and authentication
    for module in (
        members,
        settings_routes,
        mailboxes,
        mailbox_connections,
        oauth_routes,
        records,
        leads,
        intelligence,
        emails,
        shares,
        sends,
        audit,
        diagnostics,
        threads,
        webhooks,
        calendars,
    ):
        app.include_router(module.router)
    console.install(app)
    return app
