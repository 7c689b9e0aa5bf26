"""Members of the caller's workspace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import AdminDep, RuntimeDep, ServicesDep, ViewerDep, ViewsDep
from api.schemas import NewAddress, NewMember
from projections.record_queries import member_rows

router = APIRouter(tags=["members"])


@router.post("/members", status_code=201)
def add_member(
    body: NewMember, viewer: AdminDep, services: ServicesDep, views: ViewsDep, runtime: RuntimeDep
) -> dict[str, Any]:
    member = services.workspaces.add_member(viewer.workspace_id, body.name, body.emails, body.role)
    token = runtime.tokens.issue(viewer.workspace_id, member.id)
    views.applied(member.position)
    with runtime.engine.connect() as conn:
        row = next(m for m in member_rows(conn, viewer) if m["id"] == member.id)
    return {**row, "token": token}


@router.get("/members")
def list_members(viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return {"items": member_rows(conn, viewer), "next": None}


@router.post("/members/{member_id}/emails")
def add_member_email(
    member_id: str,
    body: NewAddress,
    viewer: AdminDep,
    services: ServicesDep,
    views: ViewsDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    """One more address of a member (409 when another member or their mailbox has it)."""
    views.applied(services.workspaces.add_member_email(viewer.workspace_id, member_id, body.address))
    with runtime.engine.connect() as conn:
        return next(m for m in member_rows(conn, viewer) if m["id"] == member_id)
