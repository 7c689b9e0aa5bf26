"""Mailboxes connected by OAuth (Gmail, Microsoft 365): the provider's callback, reconnecting
(application/services/oauth.py), and Graph's change notifications
(application/graph_notifications.py). POST /mailboxes starts the flow (api/routes/mailboxes.py).

The callback carries no bearer token: the single-use `state` authenticates it. It answers a
small HTML page, since the owner's browser lands there; an unknown, used, expired or tampered
state answers 400 and changes nothing."""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import MemberDep, RuntimeDep, ServicesDep, ViewsDep
from api.routes.mailboxes import mailbox_row, oauth_service

router = APIRouter(tags=["mailboxes"])

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mailtrail: {title}</title></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""


# A browser's landing page, not part of the API a client calls (nor of its OpenAPI document).
@router.get("/oauth/callback", response_class=HTMLResponse, include_in_schema=False)
def oauth_callback(services: ServicesDep, views: ViewsDep, code: str = "", state: str = "",
                   error: str = "") -> HTMLResponse:  # fmt: skip
    """Where the provider sends the owner back after consent (or a refusal: `error`)."""
    outcome = oauth_service(services).callback(code, state, refused=bool(error) or not code)
    views.applied(outcome.position)
    if outcome.status == "active":
        page = PAGE.format(
            title="Mailbox connected", text="The sync of your mail has started; you can close this page."
        )
        return HTMLResponse(page, status_code=200)
    text = html.escape(f"The mailbox could not be connected: {outcome.reason}.")
    return HTMLResponse(PAGE.format(title="Mailbox not connected", text=text), status_code=200)


@router.post("/mailboxes/{mailbox_id}/reconnect")
def reconnect(
    mailbox_id: str, viewer: MemberDep, services: ServicesDep, views: ViewsDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """A new authorization URL for an OAuth mailbox (after "reconnect needed"); once the owner
    consents the sync resumes from the saved cursors."""
    authorization = oauth_service(services).reconnect(viewer.workspace_id, mailbox_id, viewer.member_id)
    views.applied(authorization.position)
    return {**mailbox_row(runtime, viewer, mailbox_id), "authorization_url": authorization.authorization_url}


@router.post(
    "/webhooks/microsoft",
    status_code=202,
    response_class=Response,
    responses={
        200: {
            "description": "the validation handshake",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        202: {"description": "received"},
    },
)
async def microsoft_notifications(
    request: Request, runtime: RuntimeDep, validationToken: str | None = None
) -> Response:
    """Graph change notifications. The validation handshake echoes `validationToken` as text;
    a notification starts a delta sync of its mailbox when its clientState checks out (else it
    is ignored and logged). Always 202 otherwise: Graph retries anything else."""
    if validationToken is not None:
        return PlainTextResponse(validationToken, status_code=200)
    try:
        body = await request.json()
    except ValueError:
        body = {}
    notifications = body.get("value") if isinstance(body, dict) else None
    if isinstance(notifications, list) and runtime.notifications is not None:
        found = [n for n in notifications if isinstance(n, dict)]
        await run_in_threadpool(runtime.notifications.received, found)
    return Response(status_code=202)
