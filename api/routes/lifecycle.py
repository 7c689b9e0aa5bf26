"""Removing a mailbox: a replayable retraction, then erasure unless under legal hold."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import MemberDep, RuntimeDep
from api.routes.mailbox_connections import mail_sync_for

router = APIRouter(tags=["mailboxes"])


@router.delete("/mailboxes/{mailbox_id}", status_code=204)
def remove_mailbox(mailbox_id: str, viewer: MemberDep, runtime: RuntimeDep) -> None:
    runtime.app.remove_mailbox(viewer.workspace_id, mailbox_id, viewer.member_id)
    mail_sync_for(runtime).keystore.delete(mailbox_id)  # credentials go with the mailbox
    runtime.finish_erasures()
