"""Mailboxes: connect, inspect, share, block, and post raw messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from adapters.mime import parse_message
from api.body_limits import BodyTooLargeError
from api.deps import MemberDep, RuntimeDep, ViewerDep
from api.errors import ForbiddenError
from api.paging import only
from api.routes.mailbox_connections import (
    apply_connection_change,
    connect_other,
    require_password_for_new_server,
)
from api.schemas import BlocklistEntry, ConnectionChange, MailboxChange, NewMailbox
from application.errors import RuleViolationError
from application.batch_recorder import BatchRecorder
from domain.mailbox import Mailbox
from domain.message import MAX_MESSAGE_BYTES
from domain.visibility import Viewer
from projections.record_queries import mailbox_rows

router = APIRouter(tags=["mailboxes"])


def _one(runtime: Any, viewer: Viewer, mailbox_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return only(mailbox_rows(conn, viewer, mailbox_id), "mailbox", mailbox_id)


def _owned(runtime: Any, viewer: Viewer, mailbox_id: str) -> Mailbox:
    mailbox = runtime.app.load(Mailbox, mailbox_id, viewer.workspace_id)
    if mailbox.owner_id != viewer.member_id:
        raise ForbiddenError("only the mailbox's owner may do this")
    return mailbox


@router.post("/mailboxes", status_code=201)
def connect_mailbox(body: NewMailbox, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    if body.provider != "upload":
        return connect_other(body, viewer, runtime)
    mailbox_id = runtime.app.connect_mailbox(
        viewer.workspace_id, viewer.member_id, body.provider, body.address, body.aliases
    )
    runtime.catch_up()
    return _one(runtime, viewer, mailbox_id)


@router.get("/mailboxes")
def list_mailboxes(viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return {"items": mailbox_rows(conn, viewer), "next": None}


@router.get("/mailboxes/{mailbox_id}")
def get_mailbox(mailbox_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _one(runtime, viewer, mailbox_id)


@router.patch("/mailboxes/{mailbox_id}")
def change_mailbox(mailbox_id: str, body: MailboxChange, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    mailbox = _owned(runtime, viewer, mailbox_id)
    fields = body.model_dump(include=set(body.CONNECTION_FIELDS), exclude_none=True)
    connection = ConnectionChange(**fields) if fields else None
    if connection is not None:
        require_password_for_new_server(mailbox, connection)  # before anything else changes
    if body.sharing is not None:
        runtime.app.change_sharing(viewer.workspace_id, mailbox_id, body.sharing)
    if body.status is not None:
        runtime.app.set_connected(viewer.workspace_id, mailbox_id, body.status == "active")
    if connection is not None:
        apply_connection_change(runtime, viewer, mailbox_id, connection)
    runtime.catch_up()
    return _one(runtime, viewer, mailbox_id)


@router.post("/mailboxes/{mailbox_id}/blocklist")
def block(mailbox_id: str, body: BlocklistEntry, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    _owned(runtime, viewer, mailbox_id)
    runtime.app.block(viewer.workspace_id, mailbox_id, body.entry)
    runtime.catch_up()
    return _one(runtime, viewer, mailbox_id)


@router.delete("/mailboxes/{mailbox_id}/blocklist")
def unblock(mailbox_id: str, body: BlocklistEntry, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    _owned(runtime, viewer, mailbox_id)
    runtime.app.unblock(viewer.workspace_id, mailbox_id, body.entry)
    runtime.catch_up()
    return _one(runtime, viewer, mailbox_id)


@router.post(
    "/mailboxes/{mailbox_id}/messages",
    status_code=201,
    openapi_extra={"requestBody": {"required": True, "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def post_message(
    mailbox_id: str,
    request: Request,
    viewer: MemberDep,
    runtime: RuntimeDep,
    content_type: Annotated[str, Header()] = "",
) -> dict[str, Any]:
    """Ingest one raw RFC 822 message (forwarding, uploads) into the caller's mailbox."""
    if content_type.split(";")[0].strip().lower() != "message/rfc822":
        raise RuleViolationError("send the raw message with Content-Type: message/rfc822")
    raw = await _read_message(request)
    if not raw.strip():
        raise RuleViolationError("the message is empty")
    return await run_in_threadpool(_ingest, runtime, viewer, mailbox_id, raw)


async def _read_message(request: Request) -> bytes:
    """The raw body as it arrives, never more than MAX_MESSAGE_BYTES of it (api/body_limits.py
    stops a longer one at the same cap, before this route runs for a declared length)."""
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_MESSAGE_BYTES:
            raise BodyTooLargeError(MAX_MESSAGE_BYTES)
    return bytes(received)


def _ingest(runtime: Any, viewer: Viewer, mailbox_id: str, raw: bytes) -> dict[str, Any]:
    _owned(runtime, viewer, mailbox_id)
    result = BatchRecorder(runtime.app, mailbox_id).record("upload", [parse_message(raw)], None)
    runtime.catch_up()
    if result.copies:
        copy_id, email_id = result.copies[0]
        return {"status": "stored", "email_id": email_id, "copy_id": copy_id}
    reason = next(iter(result.skipped), "unknown")
    return {"status": "skipped", "reason": reason}
