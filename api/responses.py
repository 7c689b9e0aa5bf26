"""JSON responses encoded with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ProblemResponse(OrjsonResponse):
    media_type = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> ProblemResponse:
    return ProblemResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status_code=status,
    )
