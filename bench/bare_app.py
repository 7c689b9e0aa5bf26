"""The bare FastAPI app bench/bench_api.py compares with: a 50-item page shaped like GET /people's,
behind a bearer header, answered with orjson as mailtrail answers (`uvicorn --factory bench.bare_app:create_app`)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Header

from api.responses import OrjsonResponse

PAGE = 50


def _item(n: int) -> dict[str, Any]:
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"bare/{n}/{k}")) for k in range(4)]
    touch = {
        "at": "2025-06-02T10:00:00+00:00",
        "member_id": ids[1],
        "direction": "received",
        "email_id": ids[2],
    }
    return {
        "id": ids[0],
        "name": f"Person {n}",
        "emails": [f"person{n}@northwind-{n % 60}.example"],
        "company_ids": [ids[3]],
        "created_at": "2025-01-01T00:00:00+00:00",
        "origin": {"kind": "sync"},
        "interactions": {"first": touch, "last": touch, "count": n},
    }


def create_app() -> FastAPI:
    app = FastAPI(default_response_class=OrjsonResponse)
    items = [_item(n) for n in range(PAGE)]

    @app.get("/people")
    def people(authorization: str = Header("")) -> dict[str, Any]:
        return {"items": items, "next": "eyJrIjoiYmFyZSJ9"} if authorization.startswith("Bearer ") else {}

    return app
