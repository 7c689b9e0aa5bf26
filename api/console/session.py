"""The console's sign-in: the API token in an HttpOnly, SameSite=Strict cookie, and a CSRF token
for every form that changes or runs something.

The cookie holds the token itself, so revoking the token ends the session at once and nothing
about sessions is kept server-side (several workers share nothing). The CSRF token is an HMAC
of the cookie under a per-process key... of the master key, so every worker checks it alike."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from api.errors import AuthError, ForbiddenError
from api.runtime import Runtime
from domain.visibility import Viewer
from projections.record_queries import member_role

COOKIE = "mailtrail_console"


def viewer_of(runtime: Runtime, request: Request) -> Viewer | None:
    """The signed-in member, or None (no cookie, or a token no longer valid)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    found = runtime.tokens.resolve(token)
    if found is None:
        return None
    workspace_id, member_id = found
    with runtime.engine.connect() as conn:
        role = member_role(conn, workspace_id, member_id)
    return None if role is None else Viewer(workspace_id, member_id, role)


def auditor_of(runtime: Runtime, request: Request) -> Viewer:
    """The signed-in auditor or admin: AuthError (to sign in) or ForbiddenError (a member)."""
    viewer = viewer_of(runtime, request)
    if viewer is None:
        raise AuthError("sign in to the console with an API token")
    if not (viewer.is_auditor or viewer.is_admin):
        raise ForbiddenError("the console is for auditors and admins")
    return viewer


def csrf_token(runtime: Runtime, request: Request) -> str:
    cookie = request.cookies.get(COOKIE, "")
    return hmac.new(runtime.console_key, cookie.encode(), hashlib.sha256).hexdigest()


def check_csrf(runtime: Runtime, request: Request, submitted: str) -> None:
    if not hmac.compare_digest(csrf_token(runtime, request), submitted):
        raise ForbiddenError("the form expired or did not come from the console; reload the page")
