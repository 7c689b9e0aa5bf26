"""Graph change notifications: the worker subscribes each Microsoft 365 mailbox's Inbox and Sent
Items (`created,updated,deleted`, a `clientState` only this deployment can make) and renews
before expiry; POST /webhooks/microsoft hands the notifications here, and those whose
clientState checks out start a delta sync of their mailbox. Polling stays the fallback: a
refused subscription (the public URL unreachable from Graph) leaves the mailbox polled.

Subscriptions are kept in memory per worker process; a worker that starts deletes the
mailbox's earlier subscriptions to the same URL before it subscribes again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from application.app import MailTrail
from application.errors import DomainError
from application.graph_sync import FOLDERS, AccessTokens
from application.ports import MailApiConnector, MailServerError, NotificationSecrets
from domain.mailbox import ACTIVE, Mailbox

log = logging.getLogger(__name__)

SUBSCRIPTION_SECONDS = 2 * 86400.0  # Graph allows Outlook messages just under 7 days
RENEW_BEFORE = 12 * 3600.0
MICROSOFT365 = "microsoft365"


@dataclass
class Subscribed:
    ids: dict[str, str]  # folder -> subscription id
    expires_at: float


class GraphNotifications:
    def __init__(
        self,
        app: MailTrail,
        connector: MailApiConnector,
        tokens: AccessTokens,
        secrets: NotificationSecrets,
        notification_url: str | None,
        start_sync: Callable[[str], object],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.connector = connector
        self.tokens = tokens
        self.secrets = secrets
        self.notification_url = notification_url  # None: no subscriptions (polling only)
        self.start_sync = start_sync
        self.clock = clock
        self.subscribed: dict[str, Subscribed] = {}

    # the worker -----------------------------------------------------------------------
    def ensure(self, mailbox_id: str) -> bool:
        """Subscribe the mailbox (or renew its subscriptions when they expire soon); False when
        there are none (polling only)."""
        if not self.notification_url:
            return False
        now = self.clock()
        current = self.subscribed.get(mailbox_id)
        if current is not None and current.expires_at - now > RENEW_BEFORE:
            return True
        expires_at = now + SUBSCRIPTION_SECONDS
        try:
            api = self.connector.connect(lambda force: self.tokens.access_token(mailbox_id, force))
            with closing(api):
                if current is None:
                    api.unsubscribe(self.notification_url)
                    state = self.secrets.client_state(mailbox_id)
                    ids = {f: api.subscribe(f, self.notification_url, state, expires_at) for f in FOLDERS}
                    self.subscribed[mailbox_id] = Subscribed(ids, expires_at)
                else:
                    for subscription_id in current.ids.values():
                        api.renew(subscription_id, expires_at)
                    current.expires_at = expires_at
        except MailServerError as error:  # unavailable, refused: polling carries on
            log.warning("mailbox %s: no change notifications, polling: %s", mailbox_id, error)
            self.subscribed.pop(mailbox_id, None)
            return False
        return True

    # the webhook ----------------------------------------------------------------------
    def received(self, notifications: Iterable[Mapping[str, Any]]) -> list[str]:
        """Start a delta sync of each mailbox notified with its own clientState; the others are
        ignored (and logged). The mailboxes started, in order."""
        wanted: dict[str, None] = {}
        for notification in notifications:
            mailbox_id = self.secrets.mailbox_of(str(notification.get("clientState") or ""))
            if mailbox_id is None:
                log.warning("graph: ignored a notification with a wrong clientState (subscription %s)",
                            str(notification.get("subscriptionId", ""))[:64])  # fmt: skip
                continue
            try:
                mailbox = self.app.load(Mailbox, mailbox_id)
            except DomainError:
                continue
            if mailbox.provider == MICROSOFT365 and mailbox.status == ACTIVE:
                wanted[mailbox_id] = None
        for mailbox_id in wanted:
            self.start_sync(mailbox_id)  # at most one pass per mailbox runs; a running one is enough
        return list(wanted)
