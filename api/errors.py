"""Every error mapped once to its status, as application/problem+json."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.responses import ProblemResponse, problem
from application.errors import ConflictError, ForbiddenError, NotFoundError, RuleViolationError

log = logging.getLogger(__name__)

__all__ = ["AuthError", "ForbiddenError", "install"]


class AuthError(Exception):
    """Missing or unknown bearer token."""


_STATUS: dict[type[Exception], tuple[int, str]] = {
    NotFoundError: (404, "Not Found"),
    ConflictError: (409, "Conflict"),
    RuleViolationError: (422, "Unprocessable Content"),
    AuthError: (401, "Unauthorized"),
    ForbiddenError: (403, "Forbidden"),
}


def install(app: FastAPI) -> None:
    for exc_type, (status, title) in _STATUS.items():
        app.add_exception_handler(exc_type, _handler(status, title))
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


def _handler(status: int, title: str):  # type: ignore[no-untyped-def]
    async def handle(request: Request, exc: Exception) -> ProblemResponse:
        response = problem(status, title, str(exc) or title)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    return handle


async def _validation(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()
    ]
    return problem(422, "Unprocessable Content", "the request is not valid", errors=errors)


async def _http(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail), str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal Server Error", "an unexpected error was logged")
