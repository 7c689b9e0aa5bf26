"""Emails, as the caller may see them."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Response

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
        "attachments": [
            {"id": str(i), "filename": f, "content_type": t, "size": s}
            for i, (f, t, s) in enumerate(content["attachments"])
        ],
    }


_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def _disposition(filename: str) -> str:
    """`attachment` with the name as typed (RFC 6266 filename*) and a plain ASCII fallback."""
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", filename).strip() or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename or fallback, safe='')}"


@router.get(
    "/emails/{email_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the file, decrypted, with its stored content type",
        }
    },
)
def get_attachment(email_id: str, attachment_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    """The file, to a caller entitled to the body (owner, full sharing, a share); 404 otherwise."""
    with runtime.engine.connect() as conn:
        copy_id = (
            entitled_copy(conn, viewer, email_id) if email_in_workspace(conn, viewer, email_id) else None
        )
    if copy_id is None or not attachment_id.isdigit():
        raise NotFoundError(f"attachment {attachment_id} of email {email_id} not found")
    content = runtime.app.load(SyncedMessage, copy_id, viewer.workspace_id).content
    index = int(attachment_id)
    files = content.get("attachment_data") or []  # absent from copies recorded before files were kept
    if index >= len(content["attachments"]) or index >= len(files) or files[index] is None:
        raise NotFoundError(f"attachment {attachment_id} of email {email_id} not found")
    filename, content_type, _ = content["attachments"][index]
    media = (
        content_type.lower() if _MEDIA_TYPE.fullmatch(content_type.lower()) else "application/octet-stream"
    )
    return Response(
        base64.b64decode(files[index]),
        media_type=media,
        headers={
            "Content-Disposition": _disposition(filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, no-store",
        },
    )
