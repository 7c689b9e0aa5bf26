"""Sharing one email or its thread in full, and revoking it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import MemberDep, RuntimeDep, ServicesDep, ViewsDep
from api.schemas import NewShare
from application.errors import NotFoundError
from projections.email_queries import own_copy, share_rows

router = APIRouter(tags=["emails"])


@router.post("/emails/{email_id}/shares", status_code=201)
def share_email(
    email_id: str,
    body: NewShare,
    viewer: MemberDep,
    services: ServicesDep,
    views: ViewsDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        found, copy_id = own_copy(conn, viewer, email_id)  # the caller's copy of the email, if any
    if not found:
        raise NotFoundError(f"email {email_id} not found")
    grant = services.sharing.share(
        viewer.workspace_id, copy_id, viewer.member_id, body.members, body.workspace, body.thread
    )
    views.applied(grant.position)
    with runtime.engine.connect() as conn:
        return next(s for s in share_rows(conn, viewer, email_id) if s["id"] == grant.id)


@router.get("/emails/{email_id}/shares")
def list_shares(email_id: str, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        found, _ = own_copy(conn, viewer, email_id)
        if not found:
            raise NotFoundError(f"email {email_id} not found")
        return {"items": share_rows(conn, viewer, email_id), "next": None}


@router.delete("/emails/{email_id}/shares/{share_id}", status_code=204)
def revoke_share(
    email_id: str,
    share_id: str,
    viewer: MemberDep,
    services: ServicesDep,
    views: ViewsDep,
    runtime: RuntimeDep,
) -> None:
    with runtime.engine.connect() as conn:
        share = next((s for s in share_rows(conn, viewer, email_id) if s["id"] == share_id), None)
    if share is None:
        raise NotFoundError(f"share {share_id} not found")
    views.applied(
        services.sharing.revoke_share(viewer.workspace_id, share["copy_id"], share_id, viewer.member_id)
    )
