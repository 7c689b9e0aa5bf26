"""The outbox view: one row per send (ids, status, times; no addresses, no content), and the
workspace's sending limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from domain.person import AddressClaim
from domain.send import CANCELLED, FAILED, QUEUED, SENDING, SENT, Send, bounce_reason
from domain.workspace import Workspace
from projections.tables import person_addresses, sends, workspaces
from projections.writer import Handler, ViewWriter


def utc(value: str | None) -> str | None:
    """An ISO time as the view compares it: UTC, with microseconds."""
    if value is None:
        return None
    return datetime.fromisoformat(value).astimezone(UTC).isoformat(timespec="microseconds")


def _update(w: ViewWriter, event: Any, position: int, **values: Any) -> None:
    w.execute(update(sends).where(sends.c.id == str(event.originator_id)).values(position=position, **values))


def queued(event: Send.Created, w: ViewWriter, position: int) -> None:
    w.insert(
        sends,
        {
            "id": str(event.originator_id),
            "workspace_id": event.workspace_id,
            "mailbox_id": event.mailbox_id,
            "sender_id": event.sender_id,
            "kind": event.kind,
            "batch_id": event.batch_id,
            "message_id": event.message_id,
            "thread_key": event.thread_key,
            "email_id": None,
            "status": QUEUED,
            "reason": "",
            "attempts": 0,
            "queued_at": utc(event.queued_at),
            "next_at": utc(event.not_before),
            "sent_at": None,
            "queued_position": position,
            "position": position,
        },
    )


def attempted(event: Send.Attempted, w: ViewWriter, position: int) -> None:
    _update(w, event, position, status=SENDING, attempts=sends.c.attempts + 1, next_at=utc(event.lease_until))


def sent(event: Send.Sent, w: ViewWriter, position: int) -> None:
    _update(w, event, position, status=SENT, reason=event.reply, sent_at=utc(event.at), next_at=None,
            email_id=event.email_id)  # fmt: skip


def deferred(event: Send.Deferred, w: ViewWriter, position: int) -> None:
    _update(w, event, position, status=QUEUED, reason=event.reason, next_at=utc(event.until))


def failed(event: Send.Failed, w: ViewWriter, position: int) -> None:
    _update(w, event, position, status=FAILED, reason=event.reason, next_at=None)


def bounced(event: Send.Bounced, w: ViewWriter, position: int) -> None:
    reason = bounce_reason(event.recipient, event.status, event.diagnostic)
    _update(w, event, position, status=FAILED, reason=reason, next_at=None)


def cancelled(event: Send.Cancelled, w: ViewWriter, position: int) -> None:
    _update(w, event, position, status=CANCELLED, reason="cancelled by the sender", next_at=None)


def address_bounced(event: AddressClaim.Bounced, w: ViewWriter, position: int) -> None:
    where = (
        person_addresses.c.workspace_id == event.workspace_id,
        person_addresses.c.address == event.address,
    )
    w.execute(update(person_addresses).where(*where).values(bouncing=True))


def send_limits_set(event: Workspace.SendLimitsSet, w: ViewWriter, position: int) -> None:
    limits = {"per_hour": event.per_hour, "per_day": event.per_day, "spacing_seconds": event.spacing_seconds}
    w.execute(
        update(workspaces).where(workspaces.c.id == str(event.originator_id)).values(send_limits=limits)
    )


HANDLERS: dict[type, Handler] = {
    Send.Created: queued,
    Send.Attempted: attempted,
    Send.Sent: sent,
    Send.Deferred: deferred,
    Send.Failed: failed,
    Send.Bounced: bounced,
    Send.Cancelled: cancelled,
    Workspace.SendLimitsSet: send_limits_set,
    AddressClaim.Bounced: address_bounced,
}
