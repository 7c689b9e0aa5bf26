"""Webhook subscriptions: who may create, see and change them, and their secrets (shown once).

A subscription belongs to the member who made it and sees what that member sees; an admin may
see and manage every subscription of the workspace. Its secret (`whsec_<base64>`) is sealed in
the key store under the subscription's id and answered only by `create` and `rotate`."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

from application.errors import NotFoundError, RuleViolationError
from application.ports import Delivery, KeyStore, Subscription, WebhookSender, WebhookStore
from domain.visibility import Viewer

SECRET_BYTES = 24


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Webhooks:
    def __init__(self, store: WebhookStore, sender: WebhookSender, secrets_store: KeyStore,
                 log_position: Callable[[], int], event_types: Sequence[str]) -> None:  # fmt: skip
        self.store = store
        self.sender = sender
        self.secrets = secrets_store
        self.log_position = log_position
        self.event_types = tuple(event_types)

    def _events(self, events: Sequence[str]) -> tuple[str, ...]:
        unknown = sorted(set(events) - set(self.event_types))
        if unknown:
            raise RuleViolationError(f"unknown event types {unknown}; known: {list(self.event_types)}")
        if not events:
            raise RuleViolationError("subscribe to at least one event type")
        return tuple(dict.fromkeys(events))

    def _url(self, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise RuleViolationError("the webhook URL must be http:// or https://")
        self.sender.check(url)
        return url

    def create(
        self, viewer: Viewer, url: str, events: Sequence[str], description: str
    ) -> tuple[Subscription, str]:
        """The new subscription and its secret; it is sent the events stored from now on."""
        now = _now()
        subscription = Subscription(
            id=str(uuid4()), workspace_id=viewer.workspace_id, member_id=viewer.member_id,
            url=self._url(url), events=self._events(events), description=description, enabled=True,
            disabled_reason=None, position=self.log_position(), created_at=now,
        )  # fmt: skip
        secret = new_secret()
        self.secrets.put(subscription.id, {"secret": secret})
        self.store.add(subscription)
        return subscription, secret

    def get(self, viewer: Viewer, webhook_id: str) -> Subscription:
        found = self.store.get(webhook_id)
        if (
            found is None
            or found.workspace_id != viewer.workspace_id
            or not (found.member_id == viewer.member_id or viewer.is_admin)
        ):
            raise NotFoundError(f"webhook {webhook_id} not found")
        return found

    def page(self, viewer: Viewer, after: tuple[str, str] | None, limit: int) -> list[Subscription]:
        member = None if viewer.is_admin else viewer.member_id
        return self.store.page(viewer.workspace_id, member, after, limit)

    def change(self, viewer: Viewer, webhook_id: str, url: str | None = None, events: Sequence[str] | None = None,
               description: str | None = None, enabled: bool | None = None) -> Subscription:  # fmt: skip
        """Change what a subscription sends where; enabling it again resumes where it stopped."""
        current = self.get(viewer, webhook_id)
        fields: dict[str, object] = {}
        if url is not None:
            fields["url"] = self._url(url)
        if events is not None:
            fields["events"] = list(self._events(events))
        if description is not None:
            fields["description"] = description
        if enabled is not None:
            fields["enabled"] = enabled
            fields["disabled_reason"] = None if enabled else "disabled by a member"
        if fields:
            self.store.change(webhook_id, updated_at=_now(), **fields)
        return self.store.get(webhook_id) or current

    def delete(self, viewer: Viewer, webhook_id: str) -> None:
        self.get(viewer, webhook_id)
        self.store.remove(webhook_id)
        self.secrets.delete(webhook_id)

    def rotate(self, viewer: Viewer, webhook_id: str) -> tuple[Subscription, str]:
        """A new secret signs every delivery from now on (retries included)."""
        subscription = self.get(viewer, webhook_id)
        secret = new_secret()
        self.secrets.put(webhook_id, {"secret": secret})
        self.store.change(webhook_id, updated_at=_now())
        return subscription, secret

    def deliveries(self, viewer: Viewer, webhook_id: str, after: tuple[int, int] | None,
                   limit: int) -> list[Delivery]:  # fmt: skip
        self.get(viewer, webhook_id)
        return self.store.deliveries(webhook_id, after, limit)

    def retry(self, viewer: Viewer, webhook_id: str, delivery_id: str, now: float) -> Delivery:
        """Send the delivery again (with its webhook-id) as soon as its turn comes."""
        self.get(viewer, webhook_id)
        found = self.store.delivery(webhook_id, delivery_id)
        if found is None:
            raise NotFoundError(f"delivery {delivery_id} not found")
        if found.body is None:
            raise RuleViolationError("this delivery's content was erased with its mailbox")
        self.store.attempted(delivery_id, status="pending", next_attempt_at=now)
        return replace(found, status="pending", next_attempt_at=now)
