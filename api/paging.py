"""Keyset paging: lists answer {"items": [...], "next": cursor|null}.

A cursor is opaque to clients: base64url (no padding) of a small JSON array naming the
list, its sort and the sort key of the last item given (its sort value and id), with a
check digest. The next page starts strictly after that key, so a page costs the same
wherever it is, and mail arriving between two requests neither repeats nor skips an item
already passed. A cursor of another list or another sort, an altered one, or anything
that is not a cursor is a 422, never a 500."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import orjson
from fastapi import Query
from sqlalchemy import Connection, Engine

from application.errors import NotFoundError, RuleViolationError
from domain.visibility import Viewer
from projections.email_queries import email_summaries

VERSION = 1
MAX_CURSOR = 600
MAX_TEXT = 200  # no key part (a time, an id) is longer
MAX_INT = 2**63 - 1
_CHECK_KEY = b"mailtrail-cursor"
_CHECK_SIZE = 6

CursorParam = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next` from the previous page of the same list and sort: an opaque base64url token "
        "(the last item's sort key and id); any other value is a 422.",
    ),
]
LimitParam = Annotated[int, Query(ge=1, le=200)]

# Kinds of key parts: "text" (a string), "number" (finite float or int), "int" (a signed 64-bit integer).
KeyShape = Sequence[str]


EMAIL_SHAPE = ("text", "text")  # (sent_at or '', email id), newest first

Key = tuple[Any, ...]
# (connection, the key to start after or None, how many) -> (the rows' sort keys, the rows)
RowsOf = Callable[[Connection, Key | None, int], tuple[list[Key], list[Any]]]
KeysOf = Callable[[Connection, Key | None, int], list[Key]]  # an email list's (sent_at, email id) keys


def record_shape(sort: str | None) -> KeyShape:
    """Creation order: (created_at, id); by a sort: (its value, created_at, id)."""
    if sort is None:
        return ("text", "text")
    return ("number" if sort == "strength" else "text", "text", "text")


def _check(body: bytes) -> bytes:
    return hashlib.blake2s(body, digest_size=_CHECK_SIZE, key=_CHECK_KEY).digest()


def encode_cursor(name: str, sort: str, key: Sequence[Any]) -> str:
    body = orjson.dumps([VERSION, name, sort, list(key)])
    return base64.urlsafe_b64encode(_check(body) + body).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None, name: str, sort: str, shape: KeyShape) -> tuple[Any, ...] | None:
    """The key a page starts after, or None for the first page; 422 for anything else."""
    if cursor is None:
        return None
    invalid = RuleViolationError("cursor is not valid: pass `next` of the previous page unchanged")
    if not cursor.isascii() or len(cursor) > MAX_CURSOR:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise invalid from None
    check, body = raw[:_CHECK_SIZE], raw[_CHECK_SIZE:]
    if len(check) != _CHECK_SIZE or check != _check(body):
        raise invalid
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise invalid from None
    if not (isinstance(data, list) and len(data) == 4 and data[0] == VERSION):
        raise invalid
    if data[1] != name or data[2] != sort:
        raise RuleViolationError(f"cursor belongs to another list or sort, not {name} sorted by {sort}")
    key = data[3]
    if not isinstance(key, list) or len(key) != len(shape) or not all(map(_fits, key, shape)):
        raise invalid
    return tuple(key)


def _fits(value: Any, kind: str) -> bool:
    if kind == "text":
        return isinstance(value, str) and len(value) <= MAX_TEXT
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and -MAX_INT <= value <= MAX_INT
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return False


def page(items: list[Any], keys: list[tuple[Any, ...]], limit: int, name: str, sort: str) -> dict[str, Any]:
    """`keys` holds the sort keys of up to limit+1 rows (the extra one only says there is more);
    `items` the rows shown, at most `limit`."""
    more = len(keys) > limit
    return {"items": items[:limit], "next": encode_cursor(name, sort, keys[limit - 1]) if more else None}


def only(rows: list[dict[str, Any]], what: str, ident: str) -> dict[str, Any]:
    """The one row a lookup by id found, or 404."""
    if not rows:
        raise NotFoundError(f"{what} {ident} not found")
    return rows[0]


def keyset_page(engine: Engine, cursor: str | None, limit: int, name: str, sort: str, shape: KeyShape,
                rows_of: RowsOf) -> dict[str, Any]:  # fmt: skip
    """One page of the list `name` in `sort` order, after `cursor`: the rows `rows_of` reads
    (one more than `limit`, to know whether there is a next page)."""
    after = decode_cursor(cursor, name, sort, shape)
    with engine.connect() as conn:
        keys, rows = rows_of(conn, after, limit + 1)
    return page(rows, keys, limit, name, sort)


def email_page(engine: Engine, viewer: Viewer, cursor: str | None, limit: int, name: str,
               keys_of: KeysOf) -> dict[str, Any]:  # fmt: skip
    """One page, newest first, of a list of emails: their keys from `keys_of`, each shown as the
    viewer may see it."""

    def rows_of(conn: Connection, after: Key | None, size: int) -> tuple[list[Key], list[Any]]:
        keys = keys_of(conn, after, size)
        return keys, email_summaries(conn, viewer, [email_id for _, email_id in keys[:limit]])

    return keyset_page(engine, cursor, limit, name, "newest", EMAIL_SHAPE, rows_of)


def found(value: dict[str, Any] | None, what: str, ident: str) -> dict[str, Any]:
    """What a lookup by id found, or 404."""
    if value is None:
        raise NotFoundError(f"{what} {ident} not found")
    return value


def require(present: bool, what: str, ident: str) -> None:
    """404 unless the record looked up by id is there."""
    if not present:
        raise NotFoundError(f"{what} {ident} not found")
