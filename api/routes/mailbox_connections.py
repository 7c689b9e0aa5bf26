"""Connected (IMAP) mailboxes: update credentials, sync now (application/services/mailboxes.py).

Secrets go to the KeyStore only; events and responses carry host, port, security,
username and folders. Syncs started here run in a background thread per mailbox."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import MemberDep, RuntimeDep, ServicesDep, ViewsDep
from api.routes.mailboxes import mailbox_row
from api.schemas import ConnectionChange

router = APIRouter(tags=["mailboxes"])


@router.patch("/mailboxes/{mailbox_id}/connection")
def change_connection(
    mailbox_id: str, body: ConnectionChange, viewer: MemberDep, services: ServicesDep, views: ViewsDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:  # fmt: skip
    """New credentials or server details; checked by logging in, then syncing resumes from the cursors."""
    change = body.model_dump(exclude_none=True)
    views.applied(
        services.mailboxes.change_connection(viewer.workspace_id, mailbox_id, viewer.member_id, change)
    )
    return mailbox_row(runtime, viewer, mailbox_id)


@router.post("/mailboxes/{mailbox_id}/sync", status_code=202)
def sync_now(
    mailbox_id: str, viewer: MemberDep, services: ServicesDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Start a sync pass in the background; GET /mailboxes/{id} shows its progress."""
    started = services.mailboxes.sync_now(viewer.workspace_id, mailbox_id, viewer.member_id)
    return {**mailbox_row(runtime, viewer, mailbox_id), "sync": "started" if started else "already running"}
