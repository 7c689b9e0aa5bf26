"""Members of the caller's workspace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from adapters.tokens import issue_token
from api.deps import AdminDep, RuntimeDep, ViewerDep
from api.schemas import NewAddress, NewMember
from projections.record_queries import member_rows

router = APIRouter(tags=["members"])


@router.post("/members", status_code=201)
def add_member(body: NewMember, viewer: AdminDep, runtime: RuntimeDep) -> dict[str, Any]:
    member_id = runtime.app.add_member(viewer.workspace_id, body.name, body.emails, body.role)
    token = issue_token(runtime.engine, viewer.workspace_id, member_id)
    runtime.catch_up()
    with runtime.engine.connect() as conn:
        member = next(m for m in member_rows(conn, viewer) if m["id"] == member_id)
    return {**member, "token": token}


@router.get("/members")
def list_members(viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return {"items": member_rows(conn, viewer), "next": None}


@router.post("/members/{member_id}/emails")
def add_member_email(
    member_id: str, body: NewAddress, viewer: AdminDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """One more address of a member (409 when another member or their mailbox has it)."""
    runtime.app.add_member_email(viewer.workspace_id, member_id, body.address)
    runtime.catch_up()
    with runtime.engine.connect() as conn:
        return next(m for m in member_rows(conn, viewer) if m["id"] == member_id)
