"""Request dependencies: the runtime and the authenticated viewer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.tokens import resolve_token
from api.errors import AuthError, ForbiddenError
from api.runtime import Runtime
from domain.visibility import Viewer
from projections.record_queries import member_role

bearer = HTTPBearer(auto_error=False)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_viewer(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Viewer:
    if credentials is None:
        raise AuthError("a bearer token is required")
    found = resolve_token(runtime.engine, credentials.credentials)
    if found is None:
        raise AuthError("the bearer token is not valid")
    workspace_id, member_id = found
    with runtime.engine.connect() as conn:
        role = member_role(conn, workspace_id, member_id)
    if role is None:
        raise AuthError("the bearer token's member no longer exists")
    return Viewer(workspace_id, member_id, role)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def get_admin(viewer: ViewerDep) -> Viewer:
    if not viewer.is_admin:
        raise ForbiddenError("only an admin may do this")
    return viewer


AdminDep = Annotated[Viewer, Depends(get_admin)]


def get_member(viewer: ViewerDep) -> Viewer:
    """Auditors read; only members and admins change mail data."""
    if viewer.is_auditor:
        raise ForbiddenError("an auditor cannot change mail data")
    return viewer


MemberDep = Annotated[Viewer, Depends(get_member)]


def get_auditor(viewer: ViewerDep) -> Viewer:
    if not (viewer.is_auditor or viewer.is_admin):
        raise ForbiddenError("only an auditor or an admin may do this")
    return viewer


AuditorDep = Annotated[Viewer, Depends(get_auditor)]
