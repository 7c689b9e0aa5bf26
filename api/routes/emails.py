"""Emails, as the caller may see them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import RuntimeDep, ViewerDep
from api.paging import CursorParam, LimitParam, email_page
from application.errors import NotFoundError
from domain.synced_message import SyncedMessage
from projections.email_queries import email_in_workspace, email_summaries, entitled_copy, visible_email_ids

router = APIRouter(tags=["emails"])


@router.get("/emails")
def list_emails(
    viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> dict[str, Any]:
    return email_page(
        runtime.engine,
        viewer,
        cursor,
        limit,
        "emails",
        lambda conn, after, size: visible_email_ids(conn, viewer, after, size),
    )


@router.get("/emails/{email_id}")
def get_email(email_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        found = (
            email_summaries(conn, viewer, [email_id]) if email_in_workspace(conn, viewer, email_id) else []
        )
    if not found:
        raise NotFoundError(f"email {email_id} not found")
    return found[0]


@router.get("/emails/{email_id}/body")
def get_body(email_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    """The body, read from the events of a copy that entitles the caller to it."""
    with runtime.engine.connect() as conn:
        copy_id = (
            entitled_copy(conn, viewer, email_id) if email_in_workspace(conn, viewer, email_id) else None
        )
    if copy_id is None:
        raise NotFoundError(f"no body of email {email_id} is shared with you")
    copy = runtime.app.load(SyncedMessage, copy_id, viewer.workspace_id)
    content = copy.content
    return {
        "id": email_id,
        "subject": copy.headers["subject"],
        "text": content["body_text"],
        "html": content["body_html"],
        "attachments": [{"filename": f, "content_type": t, "size": s} for f, t, s in content["attachments"]],
    }
