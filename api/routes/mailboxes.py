"""Mailboxes: connect, inspect, share, block, post raw messages, and remove (a replayable
retraction, then erasure unless under legal hold)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from api.body_limits import BodyTooLargeError
from api.deps import MemberDep, RuntimeDep, ServicesDep, ViewerDep, ViewsDep
from api.paging import only
from api.runtime import Runtime
from api.schemas import BlocklistEntry, MailboxChange, NewMailbox
from application.errors import RuleViolationError
from application.services.mailboxes import CONNECTION_FIELDS
from application.services.oauth import OAUTH_PROVIDERS, OAuthConnections
from domain.message import MAX_MESSAGE_BYTES
from domain.visibility import Viewer
from projections.record_queries import mailbox_rows

router = APIRouter(tags=["mailboxes"])


def oauth_service(services: Any) -> OAuthConnections:
    if services.oauth is None:
        raise RuleViolationError("OAuth providers are not configured on this server")
    oauth: OAuthConnections = services.oauth
    return oauth


def mailbox_row(runtime: Runtime, viewer: Viewer, mailbox_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return only(mailbox_rows(conn, viewer, mailbox_id), "mailbox", mailbox_id)


@router.post("/mailboxes", status_code=201)
def connect_mailbox(
    body: NewMailbox, viewer: MemberDep, services: ServicesDep, views: ViewsDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """An upload mailbox, or a connected one (checked by logging in; its full sync starts now).
    Gmail and Microsoft 365 answer `authorizing` with the `authorization_url` to send the owner to."""
    if body.provider in OAUTH_PROVIDERS:
        authorization = oauth_service(services).start(
            viewer.workspace_id, viewer.member_id, body.provider, body.address, body.aliases
        )
        views.applied(authorization.position)
        row = mailbox_row(runtime, viewer, authorization.id)
        return {**row, "authorization_url": authorization.authorization_url}
    if body.address is None:
        raise RuleViolationError(f"an {body.provider} mailbox needs its address")
    server = body.model_dump(exclude={"provider", "address", "aliases"})  # host, port, ..., smtp_*
    created = services.mailboxes.connect(
        viewer.workspace_id, viewer.member_id, body.provider, body.address, body.aliases, server
    )
    views.applied(created.position)
    return mailbox_row(runtime, viewer, created.id)


@router.get("/mailboxes")
def list_mailboxes(viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return {"items": mailbox_rows(conn, viewer), "next": None}


@router.get("/mailboxes/{mailbox_id}")
def get_mailbox(mailbox_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return mailbox_row(runtime, viewer, mailbox_id)


@router.patch("/mailboxes/{mailbox_id}")
def change_mailbox(
    mailbox_id: str, body: MailboxChange, viewer: MemberDep, services: ServicesDep, views: ViewsDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:  # fmt: skip
    connection = body.model_dump(include=set(CONNECTION_FIELDS), exclude_none=True)
    views.applied(services.mailboxes.change(
        viewer.workspace_id, mailbox_id, viewer.member_id, body.sharing, body.status, connection or None
    ))  # fmt: skip
    return mailbox_row(runtime, viewer, mailbox_id)


@router.post("/mailboxes/{mailbox_id}/blocklist")
def block(
    mailbox_id: str, body: BlocklistEntry, viewer: MemberDep, services: ServicesDep, views: ViewsDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:  # fmt: skip
    views.applied(services.mailboxes.block(viewer.workspace_id, mailbox_id, viewer.member_id, body.entry))
    return mailbox_row(runtime, viewer, mailbox_id)


@router.delete("/mailboxes/{mailbox_id}/blocklist")
def unblock(
    mailbox_id: str, body: BlocklistEntry, viewer: MemberDep, services: ServicesDep, views: ViewsDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:  # fmt: skip
    views.applied(services.mailboxes.unblock(viewer.workspace_id, mailbox_id, viewer.member_id, body.entry))
    return mailbox_row(runtime, viewer, mailbox_id)


@router.delete("/mailboxes/{mailbox_id}", status_code=204)
def remove_mailbox(mailbox_id: str, viewer: MemberDep, services: ServicesDep, runtime: RuntimeDep) -> None:
    position = services.erasure.remove_mailbox(viewer.workspace_id, mailbox_id, viewer.member_id)
    runtime.finish_erasures(position)  # read-your-writes, then freed storage scrubbed


@router.post(
    "/mailboxes/{mailbox_id}/messages",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def post_message(
    mailbox_id: str,
    request: Request,
    viewer: MemberDep,
    services: ServicesDep,
    views: ViewsDep,
    content_type: Annotated[str, Header()] = "",
) -> dict[str, Any]:
    """Ingest one raw RFC 822 message (forwarding, uploads) into the caller's mailbox."""
    if content_type.split(";")[0].strip().lower() != "message/rfc822":
        raise RuleViolationError("send the raw message with Content-Type: message/rfc822")
    raw = await _read_message(request)

    def ingest() -> dict[str, Any]:
        upload = services.ingest.upload(viewer.workspace_id, mailbox_id, viewer.member_id, raw)
        views.applied(upload.position)
        if upload.skipped is not None:
            return {"status": "skipped", "reason": upload.skipped}
        return {"status": "stored", "email_id": upload.email_id, "copy_id": upload.copy_id}

    return await run_in_threadpool(ingest)


async def _read_message(request: Request) -> bytes:
    """The raw body as it arrives, never more than MAX_MESSAGE_BYTES of it (api/body_limits.py
    stops a longer one at the same cap, before this route runs for a declared length)."""
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_MESSAGE_BYTES:
            raise BodyTooLargeError(MAX_MESSAGE_BYTES)
    return bytes(received)
