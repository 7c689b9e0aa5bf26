"""A record's emails and first/last interaction, read as index ranges of the participants view.

Every participant row carries its copy's time, owner, direction and whether a rule hides
the copy (projections/email_views.py, privacy_views.py), and is indexed by (workspace,
address, time, email) and (workspace, domain, time, email). A person's emails are then
the newest rows of each of its addresses, merged; a company's the newest rows of its
domain. A page reads about `limit` rows per address whatever the history, and the first
and last interaction are the two ends of those ranges.

What a viewer sees: every row of a copy not hidden (a removed mailbox's rows are gone),
a Bcc row only on the viewer's own copies (the Bcc rule)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, or_, select, tuple_

from domain.visibility import Viewer
from projections.email_queries import EmailKey
from projections.tables import email_participants as p

CHUNK_FACTOR = 2  # rows read per email wanted: an email has a row per copy and role of the address


def _seen_by(viewer: Viewer, column: Any, value: str) -> ColumnElement[bool]:
    return and_(
        p.c.workspace_id == viewer.workspace_id,
        column == value,
        p.c.hidden.is_(False),
        or_(p.c.role != "bcc", p.c.owner_id == viewer.member_id),
    )


def _before(key: EmailKey) -> ColumnElement[bool]:
    return tuple_(p.c.sent_at, p.c.email_id) < tuple_(key[0], key[1])


def _newest_of(
    conn: Connection, viewer: Viewer, column: Any, value: str, after: EmailKey | None, limit: int
) -> list[EmailKey]:
    """Up to `limit` distinct emails with this address (or domain), newest first, after `after`."""
    found: list[EmailKey] = []
    while len(found) < limit:
        chunk = CHUNK_FACTOR * (limit - len(found)) + 1
        statement = select(p.c.sent_at, p.c.email_id).where(_seen_by(viewer, column, value))
        if after is not None:
            statement = statement.where(_before(after))
        rows = [
            (r.sent_at, r.email_id)
            for r in conn.execute(statement.order_by(p.c.sent_at.desc(), p.c.email_id.desc()).limit(chunk))
        ]
        for key in rows:
            if not found or found[-1] != key:
                found.append(key)
        if len(rows) < chunk:
            break
        after = rows[-1]
    return found[:limit]


def newest_emails(
    conn: Connection, viewer: Viewer, by: str, values: Iterable[str], after: EmailKey | None, limit: int
) -> list[EmailKey]:
    """The record's emails (any of `values` of column `by`: address or domain), newest first."""
    column = p.c[by]
    ranges = [_newest_of(conn, viewer, column, value, after, limit) for value in sorted(set(values))]
    merged: list[EmailKey] = []
    for key in heapq.merge(*ranges, reverse=True):
        if not merged or merged[-1] != key:
            merged.append(key)
            if len(merged) == limit:
                break
    return merged


def _ends(by: str) -> tuple[Any, Any]:
    """The newest and oldest visible dated row of one address (or domain), as statements built once."""
    seen = and_(
        p.c.workspace_id == bindparam("workspace_id"),
        p.c[by] == bindparam("value"),
        p.c.hidden.is_(False),
        or_(p.c.role != "bcc", p.c.owner_id == bindparam("viewer")),
        p.c.sent_at > "",
    )
    base = select(p.c.sent_at, p.c.email_id, p.c.owner_id, p.c.direction).where(seen)
    return (
        base.order_by(p.c.sent_at.desc(), p.c.email_id.desc(), p.c.owner_id).limit(1),
        base.order_by(p.c.sent_at, p.c.email_id, p.c.owner_id).limit(1),
    )


_ENDS = {by: _ends(by) for by in ("address", "domain")}


def _end(conn: Connection, viewer: Viewer, by: str, value: str, newest: bool) -> Any:
    statement = _ENDS[by][0 if newest else 1]
    return conn.execute(
        statement, {"workspace_id": viewer.workspace_id, "value": value, "viewer": viewer.member_id}
    ).first()


def interactions(conn: Connection, viewer: Viewer, by: str, values: Iterable[str]) -> dict[str, Any]:
    """{"first": ..., "last": ...}: the time, member, direction and email of the record's oldest and
    newest visible dated copy (on equal times the larger email id is newer, then the member in id order)."""
    values = sorted(set(values))
    newest = [r for r in (_end(conn, viewer, by, v, True) for v in values) if r is not None]
    oldest = [r for r in (_end(conn, viewer, by, v, False) for v in values) if r is not None]
    last = min(newest, key=lambda r: (_Desc(r.sent_at), _Desc(r.email_id), r.owner_id), default=None)
    first = min(oldest, key=lambda r: (r.sent_at, r.email_id, r.owner_id), default=None)
    return {"first": _moment(first), "last": _moment(last)}


def last_interaction_at(found: dict[str, Any]) -> str | None:
    return found["last"]["at"] if found["last"] else None


class _Desc:
    """Orders strings the other way round."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value


def _moment(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "at": row.sent_at,
        "member_id": row.owner_id,
        "direction": row.direction,
        "email_id": row.email_id,
    }
