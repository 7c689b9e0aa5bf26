"""The application's services, one per context; the composition root (api/bootstrap.py) builds
them once per process over the stores and adapters it chose."""

from __future__ import annotations

from dataclasses import dataclass

from application.app import MailTrail
from application.ports import (
    CalendarConnector,
    CalendarServer,
    CalendarServerError,
    Clock,
    KeyStore,
    MailConnector,
    Sealer,
    SendIndex,
    Templates,
    Transports,
)
from application.services.calendars import Calendars
from application.services.capture import Capture
from application.services.erasure import Erasure
from application.services.ingest import Ingest, Parser
from application.services.mailboxes import Mailboxes
from application.services.oauth import OAuthConnections
from application.services.records import Records
from application.services.sending import NoOutbox, NoTemplates, Sending, SystemClock
from application.services.sharing import Sharing
from application.services.workspaces import Workspaces


@dataclass
class Services:
    app: MailTrail
    workspaces: Workspaces
    mailboxes: Mailboxes
    ingest: Ingest
    sharing: Sharing
    records: Records
    erasure: Erasure
    sending: Sending
    calendars: Calendars
    capture: Capture | None = None  # built by the composition root over the capture adapters
    oauth: OAuthConnections | None = None  # built by the composition root with its providers

    @classmethod
    def build(
        cls, app: MailTrail, keystore: KeyStore, login_connector: MailConnector, parse: Parser,
        sealer: Sealer | None = None, calendar_connector: CalendarConnector | None = None, *,
        transports: Transports | None = None, index: SendIndex | None = None,
        templates: Templates | None = None, clock: Clock | None = None,
    ) -> Services:  # fmt: skip
        erasure = Erasure(app, sealer, keystore)
        return cls(
            app=app,
            workspaces=Workspaces(app, erasure),
            mailboxes=Mailboxes(app, keystore, login_connector, transports=transports),
            ingest=Ingest(app, parse),
            sharing=Sharing(app),
            records=Records(app),
            erasure=erasure,
            sending=Sending(app, index or NoOutbox(), templates or NoTemplates(), clock or SystemClock()),
            calendars=Calendars(app, keystore, calendar_connector or _NoCalendars()),
        )


class _NoCalendars:
    """No calendar connector chosen (a test's services): connecting one is refused."""

    def connect(self, connection: object, secret: object) -> CalendarServer:
        raise CalendarServerError("calendars are not available in this deployment")
