"""Request body caps, enforced before routing, parsing and authentication (a pure ASGI middleware).

A declared Content-Length above the cap is answered 413 at once, without reading a byte of
the body; a body without one (chunked) is counted as it arrives and answered 413 as soon as
it passes the cap, so nothing beyond the cap is ever held. The response closes the
connection: the rest of the body is not read."""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.responses import ProblemResponse, problem
from domain.message import MAX_MESSAGE_BYTES

JSON_BODY_BYTES = 1024 * 1024
"""Every body but a raw message upload: JSON commands are a few KB; 1 MiB leaves room for long lists."""

_UPLOAD_PATH = re.compile(r"^/mailboxes/[^/]+/messages/?$")
_SEND_PATH = re.compile(r"^/mailboxes/[^/]+/send/?$")  # a send's JSON carries its attachments (base64)
SEND_BODY_BYTES = 30 * 1024 * 1024
_UPLOAD_TYPE = "message/rfc822"


class BodyTooLargeError(HTTPException):
    """The request body is larger than its cap (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


def too_large(limit: int) -> ProblemResponse:
    response = problem(413, "Content Too Large", f"the request body is larger than {limit} bytes")
    response.headers["Connection"] = "close"
    return response


def body_limit_for(scope: Scope, headers: Headers) -> int:
    """The cap of this request: the message size limit for a raw message upload, 30 MiB for a send
    (attachments in base64), else 1 MiB."""
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if scope["method"] == "POST" and content_type == _UPLOAD_TYPE and _UPLOAD_PATH.match(scope["path"]):
        return MAX_MESSAGE_BYTES
    if scope["method"] == "POST" and _SEND_PATH.match(scope["path"]):
        return SEND_BODY_BYTES
    return JSON_BODY_BYTES


def _declared_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None  # the server already refuses a malformed Content-Length


class BodyLimits:
    """ASGI middleware: every HTTP request's body within body_limit_for(), else 413 problem+json."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = body_limit_for(scope, headers)
        declared = _declared_length(headers)
        if declared is not None and declared > limit:
            await too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLargeError:
            if started:
                raise
            await too_large(limit)(scope, receive, send)
