"""Sending from a mailbox: one message, a mass send (and its preview), the outbox's sends
(application/services/sending.py; the outbox worker sends them, application/outbox.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header

from api.deps import MemberDep, RuntimeDep, ServicesDep, ViewerDep, ViewsDep
from api.paging import CursorParam, LimitParam, keyset_page, only
from api.runtime import Runtime
from api.schemas import NewMassSend, NewSend
from application.errors import NotFoundError
from application.services.sending import Outgoing, Parent
from domain.outgoing import send_time
from domain.visibility import Viewer
from projections.send_queries import reply_parent, send_rows

router = APIRouter(tags=["sending"])
SEND_SHAPE = ("text", "text")  # (queued_at, send id), newest first
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def send_row(runtime: Runtime, viewer: Viewer, send_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return only(send_rows(conn, viewer, send_id)[1], "send", send_id)


def _parent(runtime: Runtime, viewer: Viewer, email_id: str | None) -> Parent | None:
    if email_id is None:
        return None
    with runtime.engine.connect() as conn:
        found = reply_parent(conn, viewer, email_id)
    if found is None:
        raise NotFoundError(f"email {email_id} not found")
    return Parent(*found)


@router.post("/mailboxes/{mailbox_id}/send", status_code=202)
def send(
    mailbox_id: str, body: NewSend, viewer: MemberDep, services: ServicesDep, views: ViewsDep,
    runtime: RuntimeDep, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """Queue one message; the same Idempotency-Key answers the same send, never a second message."""
    outgoing = Outgoing(
        to=body.to, cc=body.cc, bcc=body.bcc, subject=body.subject, text=body.text, html=body.html,
        from_=body.from_, send_at=send_time(body.send_at), attachments=[a.model_dump() for a in body.attachments],
    )  # fmt: skip
    parent = _parent(runtime, viewer, body.reply_to_email)
    queued = services.sending.send(viewer.workspace_id, mailbox_id, viewer.member_id, idempotency_key,
                                   outgoing, parent)  # fmt: skip
    views.applied(queued.position)
    return send_row(runtime, viewer, queued.id)


@router.get("/sends")
def list_sends(
    viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> dict[str, Any]:
    """The caller's sends, newest first: queued|sending|sent|failed|cancelled, why, and when it goes."""
    return keyset_page(runtime.engine, cursor, limit, "sends", "newest", SEND_SHAPE,
                       lambda conn, after, size: send_rows(conn, viewer, None, after, size))  # fmt: skip


@router.get("/sends/{send_id}")
def get_send(send_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return send_row(runtime, viewer, send_id)


@router.post("/sends/{send_id}/cancel")
def cancel_send(
    send_id: str, viewer: MemberDep, services: ServicesDep, views: ViewsDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """A queued send is not sent (one being sent, or sent, cannot be called back: 422)."""
    views.applied(services.sending.cancel(viewer.workspace_id, send_id, viewer.member_id))
    return send_row(runtime, viewer, send_id)


@router.post("/mailboxes/{mailbox_id}/mass-sends/preview")
def preview_mass_send(
    mailbox_id: str, body: NewMassSend, viewer: MemberDep, services: ServicesDep
) -> dict[str, Any]:
    """Each person's subject, text and html as they would be sent; 422 naming a template error."""
    rendered = services.sending.render(viewer.workspace_id, mailbox_id, viewer.member_id, body.recipients,
                                       body.subject, body.text, body.html)  # fmt: skip
    return {
        "items": [
            {"person_id": str(person.id), "to": person.addresses[0], **parts} for person, parts in rendered
        ]
    }


@router.post("/mailboxes/{mailbox_id}/mass-sends", status_code=202)
def mass_send(
    mailbox_id: str, body: NewMassSend, viewer: MemberDep, services: ServicesDep, views: ViewsDep,
    runtime: RuntimeDep, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """One send per person, each with its own status, spaced by the workspace's send_limits."""
    batch_id, queued = services.sending.mass_send(viewer.workspace_id, mailbox_id, viewer.member_id,
                                                  idempotency_key, body.recipients, body.subject, body.text,
                                                  body.html)  # fmt: skip
    views.applied(max(q.position for q in queued))
    return {
        "id": batch_id,
        "sends": [{**send_row(runtime, viewer, q.id), "person_id": q.person_id} for q in queued],
    }
