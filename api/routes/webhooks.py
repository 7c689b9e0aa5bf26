"""Webhook subscriptions (Standard Webhooks) and their deliveries."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from api.deps import MemberDep, RuntimeDep
from api.paging import CursorParam, LimitParam, decode_cursor, page
from api.schemas import NewWebhook, WebhookChange
from application.ports import Delivery, Subscription

router = APIRouter(tags=["webhooks"])


def _subscription(s: Subscription) -> dict[str, Any]:
    return {
        "id": s.id,
        "url": s.url,
        "events": list(s.events),
        "description": s.description,
        "member_id": s.member_id,
        "enabled": s.enabled,
        "disabled_reason": s.disabled_reason,
        "created_at": s.created_at,
    }


def _when(seconds: float | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds else None


def _delivery(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "event_type": d.event_type,
        "position": d.position,
        "status": d.status,
        "attempts": d.attempts,
        "response_code": d.response_code,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "next_attempt_at": _when(d.next_attempt_at) if d.status == "pending" else None,
        "delivered_at": d.delivered_at,
    }


@router.post("/webhooks", status_code=201)
def create_webhook(body: NewWebhook, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    """The subscription, with its `secret` (`whsec_...`): shown this once."""
    subscription, secret = runtime.webhooks.create(viewer, body.url, body.events, body.description)
    return {**_subscription(subscription), "secret": secret}


@router.get("/webhooks")
def list_webhooks(
    viewer: MemberDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> dict[str, Any]:
    after = decode_cursor(cursor, "webhooks", "created", ("text", "text"))
    found = runtime.webhooks.page(viewer, (after[0], after[1]) if after else None, limit + 1)
    keys = [(s.created_at, s.id) for s in found]
    return page([_subscription(s) for s in found], keys, limit, "webhooks", "created")


@router.get("/webhooks/{webhook_id}")
def get_webhook(webhook_id: str, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _subscription(runtime.webhooks.get(viewer, webhook_id))


@router.patch("/webhooks/{webhook_id}")
def change_webhook(
    webhook_id: str, body: WebhookChange, viewer: MemberDep, runtime: RuntimeDep
) -> dict[str, Any]:
    return _subscription(
        runtime.webhooks.change(viewer, webhook_id, body.url, body.events, body.description, body.enabled)
    )


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: str, viewer: MemberDep, runtime: RuntimeDep) -> None:
    runtime.webhooks.delete(viewer, webhook_id)


@router.post("/webhooks/{webhook_id}/rotate-secret")
def rotate_secret(webhook_id: str, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    """A new `secret`, shown this once; the old one signs nothing from now on."""
    subscription, secret = runtime.webhooks.rotate(viewer, webhook_id)
    return {**_subscription(subscription), "secret": secret}


@router.get("/webhooks/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: str,
    viewer: MemberDep,
    runtime: RuntimeDep,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> dict[str, Any]:
    """Newest first: status, attempts, the last response code and the next attempt."""
    after = decode_cursor(cursor, "deliveries", webhook_id, ("int", "int"))
    found = runtime.webhooks.deliveries(
        viewer, webhook_id, (after[0], after[1]) if after else None, limit + 1
    )
    keys = [(d.position, d.seq) for d in found]
    return page([_delivery(d) for d in found], keys, limit, "deliveries", webhook_id)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", status_code=202)
def retry_delivery(
    webhook_id: str, delivery_id: str, viewer: MemberDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Sent again with the same webhook-id, in its turn in the log's order."""
    return _delivery(runtime.webhooks.retry(viewer, webhook_id, delivery_id, time.time()))
