"""Cursor paging: lists answer {"items": [...], "next": cursor|null}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from application.errors import NotFoundError, RuleViolationError

CursorParam = Annotated[str | None, Query(max_length=32, description="`next` from the previous page")]
LimitParam = Annotated[int, Query(ge=1, le=200)]


def offset_of(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit():
        raise RuleViolationError("cursor is not valid")
    return int(cursor)


def page(items: list[Any], offset: int, limit: int) -> dict[str, Any]:
    """`items` holds up to limit+1 rows; the extra one only says there is more."""
    more = len(items) > limit
    return {"items": items[:limit], "next": str(offset + limit) if more else None}


def only(rows: list[dict[str, Any]], what: str, ident: str) -> dict[str, Any]:
    """The one row a lookup by id found, or 404."""
    if not rows:
        raise NotFoundError(f"{what} {ident} not found")
    return rows[0]
