"""The audit surface: explain what a member sees of an email (auditors and admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import AuditorDep, RuntimeDep
from application.errors import NotFoundError
from domain.visibility import Viewer
from projections.audit_queries import explain
from projections.email_queries import email_in_workspace
from projections.record_queries import member_role

router = APIRouter(tags=["audit"])


@router.get("/audit/emails/{email_id}/explain")
def explain_email(
    email_id: str,
    viewer: Annotated[str, Query(description="The member whose view to explain.", max_length=64)],
    caller: AuditorDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        role = member_role(conn, caller.workspace_id, viewer)
        if role is None:
            raise NotFoundError(f"member {viewer} not found")
        if not email_in_workspace(conn, caller, email_id):
            raise NotFoundError(f"email {email_id} not found")
        result = explain(conn, Viewer(caller.workspace_id, viewer, role), email_id)
    if result is None:
        raise NotFoundError(f"email {email_id} not found")
    return result
