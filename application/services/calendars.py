"""Calendars: connect (checked by logging in and listing the calendars), sharing, disconnect and
reconnect, a sync now, and removal (application/services/erasure.py). The password goes to the
KeyStore only; events carry the URL and the username."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from application.app import Created, MailTrail
from application.errors import RuleViolationError
from application.ports import CalendarAuthError, CalendarConnector, CalendarServerError, KeyStore
from domain.authority import require_owner
from domain.calendar import ACTIVE, REMOVED, Calendar, check_calendar_provider
from domain.workspace import Workspace

MAX_URL = 2000


class Calendars:
    def __init__(
        self,
        app: MailTrail,
        keystore: KeyStore,
        login_connector: CalendarConnector,
        start_sync: Callable[[str], object] = lambda calendar_id: None,
    ) -> None:
        self.app = app
        self.keystore = keystore
        self.login_connector = login_connector
        self.start_sync = start_sync

    def connect(
        self, workspace_id: str, owner_id: str, provider: str, url: str, username: str | None, password: str
    ) -> Created:
        """A CalDAV account: the URL may be the server's root; 422 unless a login there finds
        its principal. Its first full sync starts in the background once it is saved."""
        check_calendar_provider(provider)
        workspace = self.app.load(Workspace, workspace_id)
        member = workspace.member(owner_id)
        url = url.strip()
        if not url or len(url) > MAX_URL or not password:
            raise RuleViolationError("a caldav calendar needs url and password")
        connection = {"url": url, "username": (username or "").strip() or member["emails"][0]}
        self.check_login(connection, password)
        calendar = Calendar(
            workspace_id=workspace_id, owner_id=owner_id, provider=provider, connection=connection
        )
        position = self.app.save_all(calendar)
        self.keystore.put(str(calendar.id), {"password": password})
        self.start_sync(str(calendar.id))
        return Created(str(calendar.id), position)

    def check_login(self, connection: dict[str, str], password: str) -> None:
        try:
            where = urlsplit(connection["url"]).hostname or connection["url"]
        except ValueError:
            raise RuleViolationError("the calendar URL is not a valid URL") from None
        try:
            server = self.login_connector.connect(connection, {"password": password})
            try:
                server.collections()
            finally:
                server.close()
        except CalendarAuthError as failure:
            raise RuleViolationError(f"login to {where} failed: {failure}") from None
        except CalendarServerError as failure:
            raise RuleViolationError(str(failure)) from None

    def owned(self, workspace_id: str, calendar_id: str, actor_id: str) -> Calendar:
        calendar = self.app.load(Calendar, calendar_id, workspace_id)
        require_owner(calendar.owner_id, actor_id)
        return calendar

    def change(
        self, workspace_id: str, calendar_id: str, actor_id: str, sharing: str | None, status: str | None
    ) -> int:
        """PATCH /calendars/{id}: sharing (metadata or full), disconnect or reconnect."""
        calendar = self.owned(workspace_id, calendar_id, actor_id)
        if sharing is not None:
            calendar.change_sharing(sharing)
        if status is not None:
            calendar.reconnect() if status == ACTIVE else calendar.disconnect()
        return self.app.save_all(calendar)

    def sync_now(self, workspace_id: str, calendar_id: str, actor_id: str) -> bool:
        """Start a pass in the background; False when one is running already."""
        calendar = self.owned(workspace_id, calendar_id, actor_id)
        if calendar.status == REMOVED:
            raise RuleViolationError("the calendar was removed")
        return bool(self.start_sync(calendar_id))
