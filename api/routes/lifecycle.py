"""Removing a mailbox: a replayable retraction, then erasure unless under legal hold."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import MemberDep, RuntimeDep, ServicesDep

router = APIRouter(tags=["mailboxes"])


@router.delete("/mailboxes/{mailbox_id}", status_code=204)
def remove_mailbox(mailbox_id: str, viewer: MemberDep, services: ServicesDep, runtime: RuntimeDep) -> None:
    position = services.erasure.remove_mailbox(viewer.workspace_id, mailbox_id, viewer.member_id)
    runtime.finish_erasures(position)  # read-your-writes, then freed storage scrubbed
