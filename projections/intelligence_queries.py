"""Communication intelligence read from the emails view, graded by domain.strength.

At the default as_of (the newest visible email) they are read from the figures the
projections keep (projections/summary_queries.py, interaction_views.py); an as_of in the
past is computed here at read time from the visible copies only, so a removed mailbox, a blocklisted,
excluded, expunged or internal-only copy contributes nothing, and every change of
visibility is a recomputation, never a decrement.

An interaction between a member and a person is one email in a visible copy of one of
the member's mailboxes where the person is the counterpart: a recipient (To, Cc, and Bcc
only when the viewer owns the copy) of a sent copy, or the author (From, Sender,
Reply-To) of a received copy. Copies without a date are left out (they cannot be
placed in time)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from domain.strength import Interaction, Strength, assess, is_mass, utc
from domain.visibility import Viewer
from projections import summary_queries
from projections.email_queries import visible_email_ids
from projections.tables import companies, email_copies, email_participants, members, people, person_addresses

SORTS = ("last_interaction", "strength")
RECIPIENT_ROLES = ("to", "cc")
AUTHOR_ROLES = ("from", "sender", "reply_to")


class Touch(NamedTuple):
    """One interaction of a member with a person (one email, one direction); tuples order by time first."""

    at: datetime
    member_id: str
    direction: str
    email_id: str
    person_id: str
    mass: bool

    def moment(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "member_id": self.member_id, "direction": self.direction}


def _counterpart(viewer: Viewer) -> ColumnElement[bool]:
    p = email_participants
    sent = p.c.direction == "sent"
    return or_(
        and_(sent, p.c.role.in_(RECIPIENT_ROLES)),
        and_(sent, p.c.role == "bcc", p.c.owner_id == viewer.member_id),
        and_(p.c.direction == "received", p.c.role.in_(AUTHOR_ROLES)),
    )


def touches(conn: Connection, viewer: Viewer, person_ids: Iterable[str] | None = None) -> list[Touch]:
    """Every interaction of any member with these people (default: all the workspace's)."""
    recipients = email_participants.alias("recipients")
    recipient_count = (
        select(func.count(func.distinct(recipients.c.address)))
        .where(recipients.c.copy_id == email_copies.c.id, recipients.c.role.in_(RECIPIENT_ROLES))
        .scalar_subquery()
    )
    p = email_participants  # each row carries its copy's owner, direction, time and hiding
    statement = (
        select(
            p.c.address,
            p.c.owner_id,
            p.c.email_id,
            p.c.sent_at,
            p.c.direction,
            email_copies.c.bulk,
            recipient_count.label("recipients"),
        )
        .select_from(p.join(email_copies, email_copies.c.id == p.c.copy_id))
        .where(
            p.c.workspace_id == viewer.workspace_id,
            p.c.hidden.is_(False),
            p.c.sent_at > "",
            _counterpart(viewer),
        )
    )
    owners = select(person_addresses.c.address, person_addresses.c.person_id).where(
        person_addresses.c.workspace_id == viewer.workspace_id
    )
    if person_ids is not None:  # a few people: their addresses first, then the index on (workspace, address)
        owners = owners.where(person_addresses.c.person_id.in_(list(person_ids)))
    person_of = {r.address: r.person_id for r in conn.execute(owners)}
    if person_ids is not None:
        statement = statement.where(email_participants.c.address.in_(sorted(person_of)))
    else:
        statement = statement.where(
            email_participants.c.address.in_(owners.with_only_columns(person_addresses.c.address))
        )
    times: dict[str, datetime] = {}
    found = set()
    for address, owner_id, email_id, sent_at, direction, bulk, recipients in conn.execute(statement):
        at = times.get(sent_at) or times.setdefault(sent_at, utc(datetime.fromisoformat(sent_at)))
        found.add(
            Touch(at, owner_id, direction, email_id, person_of[address], is_mass(bool(bulk), recipients or 0))
        )
    return sorted(found)


def default_as_of(conn: Connection, workspace_id: str) -> datetime | None:
    """The newest visible email's time in the workspace (never the wall clock)."""
    found = visible_email_ids(
        conn, Viewer(workspace_id, "", "member"), None, 1
    )  # one index range, newest first
    newest = found[0][0] if found else ""
    return utc(datetime.fromisoformat(newest)) if newest else None


def _resolve(conn: Connection, viewer: Viewer, as_of: datetime | None) -> tuple[datetime | None, str]:
    if as_of is not None:
        return utc(as_of), "request"
    newest = default_as_of(conn, viewer.workspace_id)
    return newest, ("newest_email" if newest is not None else "no_email")


def _strength(found: list[Touch], as_of: datetime) -> Strength:
    return assess(
        (Interaction(t.at, "sent" if t.direction == "sent" else "received", t.mass) for t in found), as_of
    )


def _last(found: list[Touch]) -> Touch:
    """The latest; on equal times the first member (then direction) in id order."""
    return min(found, key=lambda t: (-t.at.timestamp(), t.member_id, t.direction))


def _overall(found: list[Touch], as_of: datetime | None) -> dict[str, Any]:
    counted = [t for t in found if as_of is not None and t.at <= as_of]
    later = [t for t in found if as_of is not None and t.at > as_of]
    return {
        "first_interaction": min(counted).moment() if counted else None,
        "last_interaction": _last(counted).moment() if counted else None,
        "next_interaction": min(later).moment() if later else None,
    }


def _graded(
    found: list[Touch], as_of: datetime | None, *fields: str
) -> list[tuple[tuple[str, ...], list[Touch], Strength]]:
    """Per group of `fields` with an interaction up to as_of: those interactions and their strength."""
    if as_of is None:
        return []
    grouped: dict[tuple[str, ...], list[Touch]] = defaultdict(list)
    for t in found:
        if t.at <= as_of:
            grouped[tuple(getattr(t, f) for f in fields)].append(t)
    return [(key, theirs, _strength(theirs, as_of)) for key, theirs in grouped.items()]


def _activity(member_id: str, name: str, found: list[Touch]) -> dict[str, Any]:
    emails = {(t.email_id, t.direction) for t in found}
    return {
        "member_id": member_id,
        "name": name,
        "sent": sum(1 for _, direction in emails if direction == "sent"),
        "received": sum(1 for _, direction in emails if direction == "received"),
        "first_interaction": min(found).moment(),
        "last_interaction": _last(found).moment(),
    }


def _names(conn: Connection, viewer: Viewer) -> dict[str, str]:
    return {
        r.id: r.name
        for r in conn.execute(
            select(members.c.id, members.c.name).where(members.c.workspace_id == viewer.workspace_id)
        )
    }


def person_intelligence(
    conn: Connection, viewer: Viewer, person_id: str, as_of: datetime | None = None
) -> dict[str, Any] | None:
    """Per member and overall figures for one person, or None when there is no such person."""
    if (
        conn.execute(
            select(people.c.id).where(people.c.id == person_id, people.c.workspace_id == viewer.workspace_id)
        ).first()
        is None
    ):
        return None
    if as_of is None:
        scored, when = summary_queries.kept_clock(conn, viewer)
        if scored:
            return summary_queries.person_intelligence(conn, viewer, person_id, when)
    when, source = _resolve(conn, viewer, as_of)
    found = touches(conn, viewer, [person_id])
    names = _names(conn, viewer)
    rows = [
        summary_queries.graded_row(_activity(member_id, names.get(member_id, ""), theirs), strength)
        for (member_id,), theirs, strength in _graded(found, when, "member_id")
    ]
    rows.sort(key=summary_queries.strongest_first)
    return {
        "person_id": person_id,
        **summary_queries.head(when, source),
        **summary_queries.strength_summary(rows),
        **_overall(found, when),
        "members": rows,
    }


def company_intelligence(
    conn: Connection, viewer: Viewer, company_id: str, as_of: datetime | None = None
) -> dict[str, Any] | None:
    """The company's connections through its people: each member's best, and the best of all."""
    company = conn.execute(
        select(companies.c.id, companies.c.domain).where(
            companies.c.id == company_id, companies.c.workspace_id == viewer.workspace_id
        )
    ).first()
    if company is None:
        return None
    if as_of is None:
        scored, when = summary_queries.kept_clock(conn, viewer)
        if scored:
            return summary_queries.company_intelligence(conn, viewer, company_id, company.domain, when)
    when, source = _resolve(conn, viewer, as_of)
    person_ids = sorted(_company_people(conn, viewer, [company.domain]).get(company.domain, set()))
    found = touches(conn, viewer, person_ids)
    names = _names(conn, viewer)
    pairs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (member_id, person_id), theirs, strength in _graded(found, when, "member_id", "person_id"):
        activity = _activity(member_id, names.get(member_id, ""), theirs)
        pairs[member_id].append({**summary_queries.graded_row(activity, strength), "person_id": person_id})
    rows = []
    for (member_id,), theirs, _ in _graded(found, when, "member_id"):
        best = min(pairs[member_id], key=summary_queries.strongest_first)
        rows.append(
            {
                **_activity(member_id, best["name"], theirs),
                "score": best["score"],
                "grade": best["grade"],
                "person_id": best["person_id"],
                "explanation": best["explanation"],
            }
        )
    rows.sort(key=summary_queries.strongest_first)
    people_rows = []
    for person_id in person_ids:
        ranked = sorted(
            (r for rs in pairs.values() for r in rs if r["person_id"] == person_id),
            key=summary_queries.strongest_first,
        )
        people_rows.append({"person_id": person_id, **summary_queries.strength_summary(ranked)})
    people_rows.sort(key=lambda r: (-r["score"], r["person_id"]))
    return {
        "company_id": company_id,
        "domain": company.domain,
        **summary_queries.head(when, source),
        **summary_queries.strength_summary(rows),
        **_overall(found, when),
        "members": rows,
        "people": people_rows,
    }


def _company_people(
    conn: Connection, viewer: Viewer, domains: Iterable[str] | None = None
) -> dict[str, set[str]]:
    statement = select(person_addresses.c.domain, person_addresses.c.person_id).where(
        person_addresses.c.workspace_id == viewer.workspace_id
    )
    if domains is not None:
        statement = statement.where(person_addresses.c.domain.in_(list(domains)))
    grouped: dict[str, set[str]] = defaultdict(set)
    for r in conn.execute(statement):
        grouped[r.domain].add(r.person_id)
    return grouped
