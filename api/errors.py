"""Every error mapped once to its status, as application/problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.body_limits import BodyTooLargeError, too_large
from api.responses import ProblemResponse, problem
from application.errors import ConflictError, ForbiddenError, NotFoundError, RuleViolationError
from application.services.oauth import InvalidStateError
from projections.views_runner import ViewsBehindError

log = logging.getLogger(__name__)

__all__ = ["AuthError", "BusyError", "ForbiddenError", "install"]


class AuthError(Exception):
    """Missing or unknown bearer token."""


class BusyError(Exception):
    """The server is doing this already; retry after `retry_after` seconds."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


_STATUS: dict[type[Exception], tuple[int, str]] = {
    InvalidStateError: (400, "Bad Request"),
    NotFoundError: (404, "Not Found"),
    ConflictError: (409, "Conflict"),
    RuleViolationError: (422, "Unprocessable Content"),
    AuthError: (401, "Unauthorized"),
    ForbiddenError: (403, "Forbidden"),
    BusyError: (429, "Too Many Requests"),
    ViewsBehindError: (503, "Service Unavailable"),
}


PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error as RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}


def install(app: FastAPI) -> None:
    for exc_type, (status, title) in _STATUS.items():
        app.add_exception_handler(exc_type, _handler(status, title))
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(BodyTooLargeError, _too_large)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
    _declare_problems(app)


def _declare_problems(app: FastAPI) -> None:
    """Say in the OpenAPI document what errors really look like: every operation may answer
    problem+json (FastAPI would declare only a 422 in its own, different, JSON shape)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict):
                    continue
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": "The request is not valid", "content": content}
                responses["default"] = {"description": "An error (problem details)", "content": content}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _handler(status: int, title: str):  # type: ignore[no-untyped-def]
    async def handle(request: Request, exc: Exception) -> ProblemResponse:
        response = problem(status, title, str(exc) or title)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        retry_after = getattr(exc, "retry_after", None)  # BusyError, ViewsBehindError
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    return handle


async def _validation(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
    return problem(422, "Unprocessable Content", "the request is not valid", errors=errors)


async def _too_large(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, BodyTooLargeError)
    return too_large(exc.limit)


async def _http(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail), str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal Server Error", "an unexpected error was logged")
