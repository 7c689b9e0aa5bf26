"""The figures kept per record, computed from the views as they are (pure functions of rows).

projections/interaction_views.py reads a record's visible participant rows and hands them
here; the same functions answer for the first page of history and for a full rebuild, so
a replay gives the same rows.

A record's list figures (email count, first and last interaction) cover every visible row
of its addresses (or domain), a Bcc row only for the copy's owner. Its member figures
(sent, received, first, last, strength) cover its interactions: the counterpart rule of
projections/intelligence_queries.py, a Bcc counterpart only on its owner's own copies."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from domain.strength import REGULARITY_WINDOW_DAYS, Interaction, Totals, figures, is_mass, judge, utc

RECIPIENT_ROLES = ("to", "cc")
AUTHOR_ROLES = ("from", "sender", "reply_to")
PUBLIC = ""  # the variant (and viewer) every member sees
OWN = "own"  # a member's own variant: with the Bcc of their own copies
FAR = datetime(9999, 12, 31, tzinfo=UTC)


class Row(NamedTuple):
    """A visible participant row of a record's address or domain."""

    sent_at: str
    email_id: str
    owner_id: str
    direction: str
    role: str


class Ends(NamedTuple):
    """What a record's list row shows: its distinct visible emails and first and last interaction."""

    email_count: int
    first: tuple[str, str, str, str]  # (at, member, direction, email); '' parts for none
    last: tuple[str, str, str, str]


NONE = ("", "", "", "")


def ends(rows: Sequence[Row]) -> Ends:
    """First: the oldest dated row (then email, then member, in id order); last: the newest
    (the larger email id is newer on equal times, then the member in id order)."""
    dated = [r for r in rows if r.sent_at]
    if not dated:
        return Ends(len({r.email_id for r in rows}), NONE, NONE)
    first = min(dated, key=lambda r: (r.sent_at, r.email_id, r.owner_id, r.direction))
    newest = max((r.sent_at, r.email_id) for r in dated)
    last = min(
        (r for r in dated if (r.sent_at, r.email_id) == newest), key=lambda r: (r.owner_id, r.direction)
    )
    return Ends(
        len({r.email_id for r in rows}),
        (first.sent_at, first.owner_id, first.direction, first.email_id),
        (last.sent_at, last.owner_id, last.direction, last.email_id),
    )


def ends_by_viewer(rows: Sequence[Row], viewers: Iterable[str] = ()) -> dict[str, Ends]:
    """'' without any Bcc row; per owner of a Bcc row (and each of `viewers`), with their own."""
    public = [r for r in rows if r.role != "bcc"]
    own: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.role == "bcc":
            own[r.owner_id].append(r)
    found = {PUBLIC: ends(public)}
    for viewer in set(own) | set(viewers):
        found[viewer] = ends(public + own.get(viewer, []))
    return found


class Touch(NamedTuple):
    """One interaction of a member with a person; tuples order by time first."""

    at: datetime
    member_id: str
    direction: str
    email_id: str
    person_id: str
    mass: bool


class Member(NamedTuple):
    """A member's interactions with a record, in one variant."""

    sent: int
    received: int
    first: tuple[str, str]  # (at isoformat, direction)
    last: tuple[str, str]
    totals: Totals
    latest: dict[str, str]  # UTC day -> its latest direct moment (stamp)


def stamp(moment: datetime) -> str:
    """Fixed-width UTC text that orders as the times do (YYYY-MM-DDTHH:MM:SS.ffffff; isoformat
    is several times cheaper than strftime and writes the same for four-digit years)."""
    return utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds")


def window_start(as_of: datetime) -> str:
    return stamp(utc(as_of) - timedelta(days=REGULARITY_WINDOW_DAYS))


def touch_of(
    person_id: str,
    sent_at: str,
    owner_id: str,
    direction: str,
    role: str,
    email_id: str,
    bulk: bool,
    recipients: int,
    times: dict[str, datetime],
) -> tuple[str, Touch] | None:
    """(variant, touch) of a counterpart row, or None: '' for everyone, OWN for a Bcc of the
    owner's sent copy."""
    if not sent_at:
        return None
    if direction == "sent" and role in RECIPIENT_ROLES or direction == "received" and role in AUTHOR_ROLES:
        variant = PUBLIC
    elif direction == "sent" and role == "bcc":
        variant = OWN
    else:
        return None
    at = times.get(sent_at) or times.setdefault(sent_at, utc(datetime.fromisoformat(sent_at)))
    return variant, Touch(at, owner_id, direction, email_id, person_id, is_mass(bulk, recipients))


def variants(touches: Iterable[tuple[str, Touch]]) -> dict[tuple[str, str], set[Touch]]:
    """Per (member, variant): '' the touches without Bcc; OWN with the member's Bcc, only where it differs."""
    public: dict[str, set[Touch]] = defaultdict(set)
    bcc: dict[str, set[Touch]] = defaultdict(set)
    for variant, t in touches:
        (public if variant == PUBLIC else bcc)[t.member_id].add(t)
    found = {(m, PUBLIC): ts for m, ts in public.items()}
    for m, ts in bcc.items():
        if not ts <= public.get(m, set()):
            found[(m, OWN)] = public.get(m, set()) | ts
    return found


NO_TOTALS = Totals(0.0, 0.0, 0.0, 0, 0, 0, 0, 0)


def kept_totals(r: Any) -> Totals:
    """The figures a `record_members` row keeps, as the strength formula takes them."""
    return Totals(
        r.s_sent,
        r.s_received,
        r.s_mass,
        r.n_sent,
        r.n_received,
        r.n_mass,
        r.n_direct_sent,
        r.n_direct_received,
    )


def member_of(touches: set[Touch], strength: bool = True) -> Member:
    """A member's figures; without `strength` (a company's rows: its grades are its people's)
    the strength totals and days are left empty."""
    first = min(touches)
    last = min(touches, key=lambda t: (-t.at.timestamp(), t.direction))
    totals: Totals = NO_TOTALS
    latest: dict[date, datetime] = {}
    if strength:
        totals, latest = figures(
            (Interaction(t.at, "sent" if t.direction == "sent" else "received", t.mass) for t in touches), FAR
        )
    return Member(
        len({t.email_id for t in touches if t.direction == "sent"}),
        len({t.email_id for t in touches if t.direction != "sent"}),
        (first.at.isoformat(), first.direction),
        (last.at.isoformat(), last.direction),
        totals,
        {day.isoformat(): stamp(moment) for day, moment in latest.items()},
    )


def score_of(member: Member, as_of: datetime | None) -> tuple[int, float]:
    """(distinct days in the window, score) as of `as_of` (0, 0.0 without one)."""
    if as_of is None:
        return 0, 0.0
    start, end = window_start(as_of), stamp(as_of)
    days = sum(1 for moment in member.latest.values() if start <= moment <= end)
    return days, judge(member.totals, days, as_of).score


def best_by_viewer(scores: dict[tuple[str, str], float], viewers: Iterable[str]) -> dict[str, float]:
    """A person's best score: '' over the members' public connections; a viewer's with their own."""
    public = max((s for (_, v), s in scores.items() if v == PUBLIC), default=0.0)
    found = {PUBLIC: public}
    for viewer in viewers:
        found[viewer] = max(public, scores.get((viewer, OWN), 0.0))
    return found


def moment_row(
    kind: str,
    record_id: str,
    member_id: str,
    variant: str,
    workspace_id: str,
    m: Member,
    days: int,
    score: float,
) -> tuple[Any, ...]:
    t = m.totals
    return (
        kind,
        record_id,
        member_id,
        variant,
        workspace_id,
        m.sent,
        m.received,
        m.first[0],
        m.first[1],
        m.last[0],
        m.last[1],
        t.sent,
        t.received,
        t.mass,
        t.n_sent,
        t.n_received,
        t.n_mass,
        t.n_direct_sent,
        t.n_direct_received,
        days,
        score,
    )


MEMBER_COLUMNS = (
    "kind",
    "record_id",
    "member_id",
    "variant",
    "workspace_id",
    "sent",
    "received",
    "first_at",
    "first_direction",
    "last_at",
    "last_direction",
    "s_sent",
    "s_received",
    "s_mass",
    "n_sent",
    "n_received",
    "n_mass",
    "n_direct_sent",
    "n_direct_received",
    "window_days",
    "score",
)
SUMMARY_COLUMNS = (
    "kind",
    "record_id",
    "viewer",
    "workspace_id",
    "created_at",
    "email_count",
    "first_at",
    "first_member",
    "first_direction",
    "first_email",
    "last_at",
    "last_member",
    "last_direction",
    "last_email",
    "score",
)
DAY_COLUMNS = ("person_id", "member_id", "variant", "day", "workspace_id", "last_direct")


def summary_row(
    kind: str, record_id: str, viewer: str, workspace_id: str, created_at: str, e: Ends, score: float
) -> tuple[Any, ...]:
    return (kind, record_id, viewer, workspace_id, created_at, e.email_count, *e.first, *e.last, score)
