"""Request dependencies: the runtime, its services, the authenticated viewer, and the one way
a command route ends: wait until the views show its events (`ViewsDep`: `views.applied`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import AuthError, ForbiddenError
from api.runtime import Runtime
from application.services import Services
from domain.visibility import Viewer
from projections.record_queries import member_role
from projections.views_runner import ViewApplier

bearer = HTTPBearer(auto_error=False)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_services(runtime: RuntimeDep) -> Services:
    return runtime.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_views(runtime: RuntimeDep) -> ViewApplier:
    """Read-your-writes for every command route: `views.applied(position)` returns once this
    worker's views show the command's last event (the applier applies it; another worker waits)."""
    return runtime.views


ViewsDep = Annotated[ViewApplier, Depends(get_views)]


def get_viewer(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Viewer:
    if credentials is None:
        raise AuthError("a bearer token is required")
    found = runtime.tokens.resolve(credentials.credentials)
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
