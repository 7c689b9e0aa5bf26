"""Members of the caller's workspace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import AdminDep, RuntimeDep, ServicesDep, ViewerDep, ViewsDep
from api.schemas import NewAddress, NewMember
from application.errors import NotFoundError, RuleViolationError
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


def _member(runtime: RuntimeDep, viewer: ViewerDep, member_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        row = next((m for m in member_rows(conn, viewer) if m["id"] == member_id), None)
    if row is None:
        raise NotFoundError(f"member {member_id} not found")
    return row


@router.get("/members/{member_id}")
def get_member(
    member_id: str, viewer: ViewerDep, services: ServicesDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """A member; to the member themself, with their capture address (forward or BCC mail to it
    to record it: README, "Capture by forwarding and BCC"), null when the deployment has none."""
    row = _member(runtime, viewer, member_id)
    capture = services.capture
    own = member_id == viewer.member_id and capture is not None
    return {**row, "capture_address": capture.address_of(viewer.workspace_id, member_id) if own else None}


@router.post("/members/{member_id}/capture-address")
def rotate_capture_address(
    member_id: str, viewer: ViewerDep, services: ServicesDep, views: ViewsDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """A new capture address (the member or an admin); the previous one is refused from now on."""
    capture = services.capture
    if capture is None:
        raise RuleViolationError("capture by forwarding is not set up")
    views.applied(capture.rotate(viewer.workspace_id, member_id, viewer.member_id))
    return get_member(member_id, viewer, services, runtime)
