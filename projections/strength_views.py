"""Kept connection strength: the clock it is scored at, and re-scoring when the clock moves.

Every kept score (record_members.score per connection, record_summaries.score per person
and company and viewer) is as of strength_clock.as_of, the workspace's newest visible
email. A connection's decayed sums are kept against domain.strength.EPOCH, so when the
newest email moves only the scale factor and the regularity window change: `rescore`
reads each connection's totals and its direct days in the new window (one index range of
strength_days) and calls domain.strength.judge, O(connections) once a page, never per
event nor per email."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update

from domain.strength import judge, utc
from domain.visibility import Viewer
from projections.email_queries import visible_email_ids
from projections.summaries import OWN, PUBLIC, kept_totals, stamp, window_start
from projections.tables import (
    companies,
    person_addresses,
    record_members,
    record_summaries,
    strength_clock,
    strength_days,
)
from projections.writer import ViewWriter


def newest(w: ViewWriter, workspace_id: str) -> datetime | None:
    """The newest visible email's time in the workspace (the default as_of)."""
    w.flush()
    found = visible_email_ids(w.conn, Viewer(workspace_id, "", "member"), None, 1)
    at = found[0][0] if found else ""
    return utc(datetime.fromisoformat(at)) if at else None


def clock(w: ViewWriter, workspace_id: str) -> datetime | None | bool:
    """The as_of the kept scores are at; False when never scored."""
    found = w.execute(
        select(strength_clock.c.as_of).where(strength_clock.c.workspace_id == workspace_id)
    ).first()
    if found is None:
        return False
    return utc(datetime.fromisoformat(found.as_of)) if found.as_of else None


def rescore(w: ViewWriter, workspace_id: str, as_of: datetime | None) -> None:
    """Every connection's, person's and company's kept score as of `as_of`; then the clock."""
    m = record_members.c
    pairs = list(
        w.execute(
            select(
                m.record_id,
                m.member_id,
                m.variant,
                m.s_sent,
                m.s_received,
                m.s_mass,
                m.n_sent,
                m.n_received,
                m.n_mass,
                m.n_direct_sent,
                m.n_direct_received,
                m.window_days,
                m.score,
            ).where(m.workspace_id == workspace_id, m.kind == "person")
        )
    )
    windows: dict[tuple[str, str, str], int] = {}
    if as_of is not None:
        d = strength_days.c
        windows = {
            (r.person_id, r.member_id, r.variant): r.days
            for r in w.execute(
                select(d.person_id, d.member_id, d.variant, func.count().label("days"))
                .where(
                    d.workspace_id == workspace_id,
                    d.last_direct >= window_start(as_of),
                    d.last_direct <= stamp(as_of),
                )
                .group_by(d.person_id, d.member_id, d.variant)
            )
        }
    changed = []
    by_person: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for r in pairs:
        days = windows.get((r.record_id, r.member_id, r.variant), 0)
        score = (
            0.0
            if as_of is None
            else judge(
                kept_totals(r),
                days,
                as_of,
            ).score
        )
        by_person[r.record_id][(r.member_id, r.variant)] = score
        if (days, score) != (r.window_days, r.score):
            changed.append(
                {"k": "person", "r": r.record_id, "m": r.member_id, "v": r.variant, "d": days, "s": score}
            )
    if changed:
        w.execute(
            update(record_members)
            .where(
                m.kind == bindparam("k"),
                m.record_id == bindparam("r"),
                m.member_id == bindparam("m"),
                m.variant == bindparam("v"),
            )
            .values(window_days=bindparam("d"), score=bindparam("s")),
            changed,
        )
    best: dict[str, dict[str, float]] = {}
    for person_id, scores in by_person.items():
        public = max((s for (_, v), s in scores.items() if v == PUBLIC), default=0.0)
        best[person_id] = {
            PUBLIC: public,
            **{mid: max(public, s) for (mid, v), s in scores.items() if v == OWN},
        }
    s = record_summaries.c
    rows = list(
        w.execute(
            select(s.kind, s.record_id, s.viewer, s.score).where(
                s.workspace_id == workspace_id, s.kind.in_(["person", "company"])
            )
        )
    )
    people_of: dict[str, set[str]] = defaultdict(set)
    for r in w.execute(
        select(companies.c.id, person_addresses.c.person_id)
        .select_from(
            companies.join(
                person_addresses,
                and_(
                    person_addresses.c.workspace_id == companies.c.workspace_id,
                    person_addresses.c.domain == companies.c.domain,
                ),
            )
        )
        .where(companies.c.workspace_id == workspace_id)
    ):
        people_of[r.id].add(r.person_id)

    def of(person_id: str, viewer: str) -> float:
        found = best.get(person_id, {})
        return found.get(viewer, found.get(PUBLIC, 0.0))

    updates = []
    for r in rows:
        if r.kind == "person":
            score = of(r.record_id, r.viewer)
        else:
            score = max((of(p, r.viewer) for p in people_of.get(r.record_id, ())), default=0.0)
        if score != r.score:
            updates.append({"k": r.kind, "r": r.record_id, "v": r.viewer, "s": score})
    if updates:
        w.execute(
            update(record_summaries)
            .where(
                s.kind == bindparam("k"),
                s.record_id == bindparam("r"),
                s.viewer == bindparam("v"),
            )
            .values(score=bindparam("s")),
            updates,
        )
    set_clock(w, workspace_id, as_of)


def set_clock(w: ViewWriter, workspace_id: str, as_of: datetime | None) -> None:
    text = as_of.isoformat() if as_of is not None else ""
    if clock(w, workspace_id) is False:  # (not rowcount: a pipelined writer does not know it)
        w.insert(strength_clock, {"workspace_id": workspace_id, "as_of": text})
    else:
        w.execute(
            update(strength_clock).where(strength_clock.c.workspace_id == workspace_id).values(as_of=text)
        )


def kept_as_of(conn: Any, workspace_id: str) -> tuple[bool, datetime | None]:
    """(whether the workspace has been scored, the as_of its kept figures are at)."""
    found = conn.execute(
        select(strength_clock.c.as_of).where(strength_clock.c.workspace_id == workspace_id)
    ).first()
    if found is None:
        return False, None
    return True, (utc(datetime.fromisoformat(found.as_of)) if found.as_of else None)
