"""Reads of the kept summaries: list fields, the sorted lists' keyset pages, and intelligence
at the default as_of in O(members) (projections/interaction_views.py keeps them).

A viewer reads their own summary row where one is kept (their Bcc of their own copies is
part of it), else the one every member reads. A sorted page is therefore two keyset scans
of one index, merged: the '' rows of records without a row of the viewer's, and the
viewer's rows; each reads at most `limit` rows wherever the page is."""

from __future__ import annotations

import heapq
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, or_, select

from domain.strength import Strength, constants, judge
from domain.visibility import Viewer
from projections.strength_views import kept_as_of
from projections.summaries import OWN, PUBLIC, kept_totals
from projections.tables import companies, members, person_addresses, record_members, record_summaries

SortKey = tuple[Any, ...]  # (value, created_at, id): a time ('' for none) or a score


def rank(sort: str, key: SortKey) -> tuple[Any, ...]:
    """A key as something that orders ascending the way the list runs: value highest first, then
    creation order."""
    value, created_at, ident = key
    if sort == "strength":
        return (-float(value), created_at, ident)
    return (tuple(-ord(c) for c in value) + (1,), created_at, ident)  # later times first, none last


def _scan(
    conn: Connection, viewer: Viewer, kind: str, sort: str, after: SortKey | None, limit: int, own: bool
) -> list[tuple[SortKey, str]]:
    s = record_summaries.c
    value = s.score if sort == "strength" else s.last_at
    statement = select(value.label("value"), s.created_at, s.record_id).where(
        s.workspace_id == viewer.workspace_id, s.kind == kind
    )
    if own:
        statement = statement.where(s.viewer == viewer.member_id)
    else:
        theirs = record_summaries.alias("theirs")
        statement = statement.where(
            s.viewer == PUBLIC,
            ~exists().where(
                theirs.c.kind == kind, theirs.c.record_id == s.record_id, theirs.c.viewer == viewer.member_id
            ),
        )
    if after is not None:
        start = float(after[0]) if sort == "strength" else after[0]
        statement = statement.where(
            or_(
                value < start,
                and_(
                    value == start,
                    or_(s.created_at > after[1], and_(s.created_at == after[1], s.record_id > after[2])),
                ),
            )
        )
    statement = statement.order_by(value.desc(), s.created_at, s.record_id).limit(limit)
    return [((r.value, r.created_at, r.record_id), r.record_id) for r in conn.execute(statement)]


def sorted_ids(
    conn: Connection, viewer: Viewer, kind: str, sort: str, after: SortKey | None, limit: int
) -> list[tuple[SortKey, str]]:
    """The `limit` records after `after` in `sort` order for this viewer, with their keys."""
    scans = [
        _scan(conn, viewer, kind, sort, after, limit, own)
        for own in (False, True)
        if own is False or viewer.member_id
    ]
    merged = heapq.merge(*scans, key=lambda item: rank(sort, item[0]))
    return [item for _, item in zip(range(limit), merged)]


def read(conn: Connection, viewer: Viewer, kind: str, record_ids: list[str]) -> dict[str, Any]:
    """Per record, the summary row this viewer reads."""
    found: dict[str, Any] = {}
    if not record_ids:
        return found
    s = record_summaries.c
    for r in conn.execute(
        select(record_summaries).where(
            s.kind == kind, s.record_id.in_(record_ids), s.viewer.in_([PUBLIC, viewer.member_id])
        )
    ):
        if r.viewer != PUBLIC or r.record_id not in found:
            found[r.record_id] = r
    return found


def _moment(at: str, member_id: str, direction: str, email_id: str) -> dict[str, Any] | None:
    return {"at": at, "member_id": member_id, "direction": direction, "email_id": email_id} if at else None


def fields(row: Any) -> dict[str, Any]:
    """A list row's `last_interaction`, `interactions` (first and last) and `email_count`."""
    if row is None:
        return {"last_interaction": None, "interactions": {"first": None, "last": None}, "email_count": 0}
    return {
        "last_interaction": row.last_at or None,
        "interactions": {
            "first": _moment(row.first_at, row.first_member, row.first_direction, row.first_email),
            "last": _moment(row.last_at, row.last_member, row.last_direction, row.last_email),
        },
        "email_count": row.email_count,
    }


# Intelligence at the default as_of, from the kept figures.


def _member_rows(
    conn: Connection, viewer: Viewer, kind: str, record_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Per record, per member: the row this viewer reads (the member's own variant only for themself)."""
    m = record_members.c
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    if not record_ids:
        return found
    for r in conn.execute(
        select(record_members).where(
            m.kind == kind,
            m.record_id.in_(record_ids),
            or_(m.variant == PUBLIC, and_(m.variant == OWN, m.member_id == viewer.member_id)),
        )
    ):
        if r.variant == OWN or r.member_id not in found[r.record_id]:
            found[r.record_id][r.member_id] = r
    return found


def _activity(r: Any, name: str) -> dict[str, Any]:
    return {
        "member_id": r.member_id,
        "name": name,
        "sent": r.sent,
        "received": r.received,
        "first_interaction": {"at": r.first_at, "member_id": r.member_id, "direction": r.first_direction},
        "last_interaction": {"at": r.last_at, "member_id": r.member_id, "direction": r.last_direction},
    }


def _graded(r: Any, name: str, as_of: datetime) -> dict[str, Any]:
    strength = judge(
        kept_totals(r),
        r.window_days,
        as_of,
    )
    return graded_row(_activity(r, name), strength)


def graded_row(activity: dict[str, Any], strength: Strength) -> dict[str, Any]:
    """A member's activity with its score, grade and explanation."""
    return {
        **activity,
        "score": strength.score,
        "grade": strength.grade.value,
        "explanation": strength.explanation,
    }


def strongest_first(row: dict[str, Any]) -> tuple[Any, ...]:
    """The total order of connections: score, then latest interaction, then count, then ids."""
    last = datetime.fromisoformat(row["last_interaction"]["at"]).timestamp()
    return (
        -row["score"],
        -last,
        -(row["sent"] + row["received"]),
        row["member_id"],
        row.get("person_id", ""),
    )


def strength_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Grade, score and strongest member of the first (strongest) row."""
    best = rows[0] if rows else None
    return {
        "grade": best["grade"] if best else "none",
        "score": best["score"] if best else 0.0,
        "strongest_member": None
        if best is None or best["grade"] == "none"
        else {
            "member_id": best["member_id"],
            "name": best["name"],
            "score": best["score"],
            "grade": best["grade"],
        },
    }


def _overall(rows: list[Any]) -> dict[str, Any]:
    if not rows:
        return {"first_interaction": None, "last_interaction": None, "next_interaction": None}
    first = min(rows, key=lambda r: (datetime.fromisoformat(r.first_at), r.member_id, r.first_direction))
    last = min(
        rows, key=lambda r: (-datetime.fromisoformat(r.last_at).timestamp(), r.member_id, r.last_direction)
    )
    return {
        "first_interaction": {
            "at": first.first_at,
            "member_id": first.member_id,
            "direction": first.first_direction,
        },
        "last_interaction": {
            "at": last.last_at,
            "member_id": last.member_id,
            "direction": last.last_direction,
        },
        "next_interaction": None,  # as of the newest email nothing is later
    }


def head(when: datetime | None, source: str | None = None) -> dict[str, Any]:
    return {
        "as_of": when.isoformat() if when else None,
        "as_of_source": source or ("newest_email" if when is not None else "no_email"),
        "formula": constants(),
    }


def _names(conn: Connection, viewer: Viewer) -> dict[str, str]:
    return {
        r.id: r.name
        for r in conn.execute(
            select(members.c.id, members.c.name).where(members.c.workspace_id == viewer.workspace_id)
        )
    }


def kept_clock(conn: Connection, viewer: Viewer) -> tuple[bool, datetime | None]:
    return kept_as_of(conn, viewer.workspace_id)


def person_intelligence(
    conn: Connection, viewer: Viewer, person_id: str, when: datetime | None
) -> dict[str, Any]:
    """A person's intelligence as of the kept clock `when` (intelligence_queries' shape)."""
    names = _names(conn, viewer)
    found = (
        list(_member_rows(conn, viewer, "person", [person_id]).get(person_id, {}).values()) if when else []
    )
    rows = (
        sorted((_graded(r, names.get(r.member_id, ""), when) for r in found), key=strongest_first)
        if when
        else []
    )
    return {
        "person_id": person_id,
        **head(when),
        **strength_summary(rows),
        **_overall(found),
        "members": rows,
    }


def company_intelligence(
    conn: Connection, viewer: Viewer, company_id: str, domain: str, when: datetime | None
) -> dict[str, Any]:
    names = _names(conn, viewer)
    person_ids = sorted(
        set(
            conn.execute(
                select(person_addresses.c.person_id).where(
                    person_addresses.c.workspace_id == viewer.workspace_id,
                    person_addresses.c.domain == domain,
                )
            ).scalars()
        )
    )
    pairs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    company_rows: list[Any] = []
    if when is not None:
        for person_id, theirs in _member_rows(conn, viewer, "person", person_ids).items():
            for r in theirs.values():
                row = {**_graded(r, names.get(r.member_id, ""), when), "person_id": person_id}
                pairs[r.member_id].append(row)
                by_person[person_id].append(row)
        company_rows = list(_member_rows(conn, viewer, "company", [company_id]).get(company_id, {}).values())
    rows = []
    for r in company_rows:
        best = min(pairs[r.member_id], key=strongest_first)
        rows.append(
            {
                **_activity(r, best["name"]),
                "score": best["score"],
                "grade": best["grade"],
                "person_id": best["person_id"],
                "explanation": best["explanation"],
            }
        )
    rows.sort(key=strongest_first)
    people_rows = [
        {"person_id": p, **strength_summary(sorted(by_person.get(p, []), key=strongest_first))}
        for p in person_ids
    ]
    people_rows.sort(key=lambda r: (-r["score"], r["person_id"]))
    return {
        "company_id": company_id,
        "domain": domain,
        **head(when),
        **strength_summary(rows),
        **_overall(company_rows),
        "members": rows,
        "people": people_rows,
    }


def company_domain(conn: Connection, viewer: Viewer, company_id: str) -> str | None:
    return conn.execute(
        select(companies.c.domain).where(
            companies.c.id == company_id, companies.c.workspace_id == viewer.workspace_id
        )
    ).scalar()
