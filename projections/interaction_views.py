"""Per-record summaries kept by the projections: record_summaries, record_members, strength_days.

The handlers only note what an event may change (addresses and domains of a recorded or
expunged copy, records created, addresses added, merges, lead contacts; the addresses and
domains of the participant rows a rule hides or shows, or a removal retracts:
`note_participants`, called by privacy_views and email_views before they change them);
`settle`, at the end of a page, recomputes those records from the views as they then are
(projections/summaries.py) and writes only the rows that differ. A full rebuild skips the
pages and computes every record once at its end (`refresh_all`), with the same functions,
so a replay gives the same rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, bindparam, delete, distinct, func, select

from domain.company import Company
from domain.lead import Lead
from domain.person import Person
from domain.synced_message import SyncedMessage
from projections import strength_views
from projections.summaries import (
    DAY_COLUMNS,
    MEMBER_COLUMNS,
    PUBLIC,
    SUMMARY_COLUMNS,
    Row,
    Touch,
    best_by_viewer,
    ends_by_viewer,
    member_of,
    moment_row,
    score_of,
    summary_row,
    touch_of,
    variants,
)
from projections.tables import (
    companies,
    email_copies,
    email_participants,
    emails,
    lead_contacts,
    leads,
    people,
    person_addresses,
    record_members,
    record_summaries,
    strength_clock,
    strength_days,
    workspaces,
)
from projections.writer import Handler, ViewWriter

CHUNK = 500
FRESH = "summaries_fresh"  # ViewWriter.memo: the kept tables are known to be empty (a rebuild)
ROLES = ("from", "sender", "reply_to", "to", "cc", "bcc")


@dataclass
class Dirty:
    addresses: set[str] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    persons: set[str] = field(default_factory=set)
    companies: set[str] = field(default_factory=set)
    leads: set[str] = field(default_factory=set)
    everything: bool = False


def _dirty(w: ViewWriter, workspace_id: str) -> Dirty:
    found: dict[str, Dirty] = w.memo.setdefault("summaries", {})
    return found.setdefault(workspace_id, Dirty())


def message_recorded(event: Any, w: ViewWriter, position: int) -> None:
    headers = event.headers
    if "erased" in headers or w.bulk is not None:
        return  # (a rebuild computes every record once at its end)
    dirty = _dirty(w, event.workspace_id)
    for role in ROLES:
        for address, _ in headers[role]:
            dirty.addresses.add(address)
            dirty.domains.add(address.rpartition("@")[2])


def note_participants(w: ViewWriter, rows: Any) -> None:
    """Note the records of the participant rows matching `rows` (a condition on
    email_participants): their visibility is about to change (a copy expunged or restored,
    hidden or shown by a rule, retracted by a removal). Called before the change, as a
    removal deletes the rows."""
    if w.bulk is not None:
        return  # a rebuild computes every record at its end: no reads of the deferred-index tables
    p = email_participants.c
    for workspace_id, address, domain in w.execute(
        select(p.workspace_id, p.address, p.domain).distinct().where(rows)
    ):
        dirty = _dirty(w, workspace_id)
        dirty.addresses.add(address)
        dirty.domains.add(domain)


def copy_changed(event: Any, w: ViewWriter, position: int) -> None:
    note_participants(w, email_participants.c.copy_id == str(event.originator_id))


def _workspace_of(w: ViewWriter, table: Table, record_id: str) -> str | None:
    found: str | None = w.execute(select(table.c.workspace_id).where(table.c.id == record_id)).scalar()
    return found


def person_changed(event: Any, w: ViewWriter, position: int) -> None:
    person_id = str(event.originator_id)
    workspace_id = (
        event.workspace_id if isinstance(event, Person.Created) else _workspace_of(w, people, person_id)
    )
    if workspace_id is not None:
        _dirty(w, workspace_id).persons.update(
            [person_id] + ([event.target_id] if isinstance(event, Person.Merged) else [])
        )


def company_created(event: Any, w: ViewWriter, position: int) -> None:
    _dirty(w, event.workspace_id).companies.add(str(event.originator_id))


def lead_changed(event: Any, w: ViewWriter, position: int) -> None:
    lead_id = str(event.originator_id)
    workspace_id = event.workspace_id if isinstance(event, Lead.Created) else _workspace_of(w, leads, lead_id)
    if workspace_id is not None:
        _dirty(w, workspace_id).leads.add(lead_id)


HANDLERS: dict[type, Handler] = {
    SyncedMessage.Recorded: message_recorded,
    SyncedMessage.Expunged: copy_changed,
    SyncedMessage.Restored: copy_changed,
    Person.Created: person_changed,
    Person.AddressAdded: person_changed,
    Person.Merged: person_changed,
    Company.Created: company_created,
    Lead.Created: lead_changed,
    Lead.ContactAdded: lead_changed,
    Lead.ContactRemoved: lead_changed,
}


def settle(w: ViewWriter) -> None:
    """Recompute the records this page changed (before lead_views.settle, which clears w.threads)."""
    noted: dict[str, Dirty] = w.memo.pop("summaries", {})
    if w.bulk is not None:
        return  # a rebuild: refresh_all computes every record once at its end
    for workspace_id in sorted(noted):
        refresh(w, workspace_id, noted[workspace_id])


def refresh_all(engine: Engine, workspace_ids: Iterable[str] | None = None, fresh: bool = False) -> None:
    """Every workspace's summaries (or these workspaces') from the views, scored once: the
    end of a rebuild (`fresh`: the kept tables are empty, so nothing is read back from them),
    or a store upgraded from before the summaries (`unscored`)."""
    with engine.begin() as conn:
        w = ViewWriter(conn)
        w.memo[FRESH] = fresh
        found = conn.execute(select(workspaces.c.id)).scalars() if workspace_ids is None else workspace_ids
        for workspace_id in sorted(found):
            refresh(w, workspace_id, Dirty(everything=True))
        w.flush()


def unscored(engine: Engine) -> list[str]:
    """The workspaces with emails whose summaries were never computed: a store upgraded to
    0010 from an earlier one (the live path scores a workspace on its first page)."""
    has_email = select(emails.c.id).where(emails.c.workspace_id == workspaces.c.id).exists()
    scored = (
        select(strength_clock.c.workspace_id).where(strength_clock.c.workspace_id == workspaces.c.id).exists()
    )
    with engine.connect() as conn:
        return sorted(conn.execute(select(workspaces.c.id).where(has_email, ~scored)).scalars())


def refresh(w: ViewWriter, workspace_id: str, dirty: Dirty) -> None:
    as_of = strength_views.newest(w, workspace_id)
    moved = strength_views.clock(w, workspace_id) != as_of
    if dirty.everything:
        person_ids = _ids(w, select(people.c.id).where(people.c.workspace_id == workspace_id))
        kept = _ids(
            w,
            select(record_summaries.c.record_id).where(
                record_summaries.c.workspace_id == workspace_id, record_summaries.c.kind == "person"
            ),
        )
        person_ids |= kept  # merged since: their rows go
        company_ids = _ids(w, select(companies.c.id).where(companies.c.workspace_id == workspace_id))
        lead_ids = _ids(w, select(leads.c.id).where(leads.c.workspace_id == workspace_id))
    else:
        person_ids = set(dirty.persons) | _ids(
            w,
            select(person_addresses.c.person_id).where(
                person_addresses.c.workspace_id == workspace_id,
                person_addresses.c.address.in_(sorted(dirty.addresses)),
            ),
        )
        domains = set(dirty.domains) | _ids(
            w, select(person_addresses.c.domain).where(person_addresses.c.person_id.in_(sorted(person_ids)))
        )
        company_ids = set(dirty.companies) | _ids(
            w,
            select(companies.c.id).where(
                companies.c.workspace_id == workspace_id, companies.c.domain.in_(sorted(domains))
            ),
        )
        lead_ids = set(dirty.leads) | _ids(
            w, select(lead_contacts.c.lead_id).where(lead_contacts.c.person_id.in_(sorted(person_ids)))
        )
    company_domain = {
        r.id: r.domain
        for r in _chunked(w, select(companies.c.id, companies.c.domain), companies.c.id, company_ids)
    }
    members_of: dict[str, set[str]] = defaultdict(set)  # company -> its people
    by_domain = {d: c for c, d in company_domain.items()}
    for r in _chunked(
        w,
        select(person_addresses.c.person_id, person_addresses.c.domain).where(
            person_addresses.c.workspace_id == workspace_id
        ),
        person_addresses.c.domain,
        set(by_domain),
    ):
        members_of[by_domain[r.domain]].add(r.person_id)
    everyone = person_ids | {p for ps in members_of.values() for p in ps}
    whole = dirty.everything  # every record: one query for all, not one a chunk of ids
    scores = _refresh_people(w, workspace_id, sorted(everyone), as_of, whole)
    _refresh_companies(w, workspace_id, company_domain, members_of, scores, whole)
    _refresh_leads(w, workspace_id, sorted(lead_ids))
    if moved and whole:  # every record was just scored as of `as_of`: only the clock moves
        if everyone or company_domain or lead_ids or as_of is not None:  # as live: nothing to score, no clock
            strength_views.set_clock(w, workspace_id, as_of)
    elif moved:
        strength_views.rescore(w, workspace_id, as_of)


def _ids(w: ViewWriter, statement: Any) -> set[str]:
    return set(w.execute(statement).scalars())


def _chunked(w: ViewWriter, statement: Any, column: Any, values: Iterable[str]) -> Iterator[Any]:
    ordered = sorted(values)
    for start in range(0, len(ordered), CHUNK):
        yield from w.execute(statement.where(column.in_(ordered[start : start + CHUNK])))


def _recipients() -> Any:
    r = email_participants.alias("recipients")
    return (
        select(func.count(func.distinct(r.c.address)))
        .where(r.c.copy_id == email_participants.c.copy_id, r.c.role.in_(("to", "cc")))
        .scalar_subquery()
    )


def _recipient_counts(w: ViewWriter, workspace_id: str) -> dict[str, int]:
    """Per copy of the workspace, its distinct To/Cc addresses (_recipients for every copy at
    once; read apart, as PostgreSQL plans a join with the grouped subquery on a freshly loaded
    store, without statistics, as a loop over it: 12 s instead of 0.2 at 3,000 messages)."""
    r = email_participants.c
    return dict(
        w.execute(
            select(r.copy_id, func.count(distinct(r.address)))
            .where(r.workspace_id == workspace_id, r.role.in_(("to", "cc")))
            .group_by(r.copy_id)
        ).all()
    )


def _person_rows(w: ViewWriter, workspace_id: str, person_ids: list[str], whole: bool) -> Iterator[Any]:
    """The visible participant rows of these people's addresses (whole: of everyone's)."""
    p = email_participants
    if whole:
        counts = _recipient_counts(w, workspace_id)
        statement = (
            select(
                person_addresses.c.person_id,
                p.c.sent_at,
                p.c.email_id,
                p.c.owner_id,
                p.c.direction,
                p.c.role,
                email_copies.c.bulk,
                p.c.copy_id,
            )
            .select_from(
                person_addresses.join(
                    p,
                    (p.c.workspace_id == person_addresses.c.workspace_id)
                    & (p.c.address == person_addresses.c.address),
                ).join(email_copies, email_copies.c.id == p.c.copy_id)
            )
            .where(person_addresses.c.workspace_id == workspace_id, p.c.hidden.is_(False))
        )
        return ((*r[:7], counts.get(r[7], 0)) for r in w.execute(statement))
    statement = (
        select(
            person_addresses.c.person_id,
            p.c.sent_at,
            p.c.email_id,
            p.c.owner_id,
            p.c.direction,
            p.c.role,
            email_copies.c.bulk,
            _recipients().label("recipients"),
        )
        .select_from(
            person_addresses.join(
                p,
                (p.c.workspace_id == person_addresses.c.workspace_id)
                & (p.c.address == person_addresses.c.address),
            ).join(email_copies, email_copies.c.id == p.c.copy_id)
        )
        .where(person_addresses.c.workspace_id == workspace_id, p.c.hidden.is_(False))
    )
    return _chunked(w, statement, person_addresses.c.person_id, person_ids)


PersonScores = dict[str, dict[str, float]]  # person -> viewer -> best score


def _refresh_people(
    w: ViewWriter, workspace_id: str, person_ids: list[str], as_of: datetime | None, whole: bool = False
) -> PersonScores:
    """Recompute these people's rows; answers every one's best score per viewer (for their companies)."""
    rows: dict[str, list[Row]] = defaultdict(list)
    touches: dict[str, list[tuple[str, Touch]]] = defaultdict(list)
    times: dict[str, datetime] = {}
    for person_id, sent_at, email_id, owner_id, direction, role, bulk, recipients in _person_rows(
        w, workspace_id, person_ids, whole
    ):  # plain tuples: most of a rebuild's summaries are this loop
        rows[person_id].append(Row(sent_at, email_id, owner_id, direction, role))
        found = touch_of(
            person_id, sent_at, owner_id, direction, role, email_id, bool(bulk), recipients or 0, times
        )
        if found is not None:
            touches[person_id].append(found)
    created = {
        r.id: r.created_at
        for r in _chunked(
            w,
            select(people.c.id, people.c.created_at).where(people.c.merged_into.is_(None)),
            people.c.id,
            person_ids,
        )
    }
    summaries: list[tuple[Any, ...]] = []
    members: list[tuple[Any, ...]] = []
    days: list[tuple[Any, ...]] = []
    scores: PersonScores = {}
    w.memo.setdefault("person_touches", {}).clear()
    for person_id in person_ids:
        if person_id not in created:
            continue  # merged into another: no rows
        pair_scores: dict[tuple[str, str], float] = {}
        for (member_id, variant), theirs in variants(touches[person_id]).items():
            member = member_of(theirs)
            window, score = score_of(member, as_of)
            pair_scores[(member_id, variant)] = score
            members.append(
                moment_row("person", person_id, member_id, variant, workspace_id, member, window, score)
            )
            days.extend(
                (person_id, member_id, variant, day, workspace_id, moment)
                for day, moment in member.latest.items()
            )
        w.memo["person_touches"][person_id] = touches[person_id]
        ends = ends_by_viewer(rows[person_id], {m for m, v in pair_scores if v != PUBLIC})
        best = best_by_viewer(pair_scores, ends)
        scores[person_id] = best
        summaries.extend(
            summary_row("person", person_id, viewer, workspace_id, created[person_id], e, best[viewer])
            for viewer, e in ends.items()
        )
    _replace(
        w,
        record_summaries,
        SUMMARY_COLUMNS,
        3,
        summaries,
        (record_summaries.c.kind == "person", record_summaries.c.record_id),
        person_ids,
    )
    _replace(
        w,
        record_members,
        MEMBER_COLUMNS,
        4,
        members,
        (record_members.c.kind == "person", record_members.c.record_id),
        person_ids,
    )
    _replace(w, strength_days, DAY_COLUMNS, 4, days, (None, strength_days.c.person_id), person_ids)
    return scores


def _refresh_companies(
    w: ViewWriter,
    workspace_id: str,
    company_domain: dict[str, str],
    members_of: dict[str, set[str]],
    scores: PersonScores,
    whole: bool = False,
) -> None:
    p = email_participants
    rows: dict[str, list[Row]] = defaultdict(list)
    by_domain = {d: c for c, d in company_domain.items()}
    statement = select(p.c.domain, p.c.sent_at, p.c.email_id, p.c.owner_id, p.c.direction, p.c.role).where(
        p.c.workspace_id == workspace_id, p.c.hidden.is_(False)
    )
    if whole:
        of_companies = select(companies.c.domain).where(companies.c.workspace_id == workspace_id)
        found = w.execute(statement.where(p.c.domain.in_(of_companies)))
    else:
        found = _chunked(w, statement, p.c.domain, set(by_domain))
    for r in found:
        if r[0] in by_domain:
            rows[by_domain[r[0]]].append(Row._make(r[1:]))
    created = {
        r.id: r.created_at
        for r in _chunked(w, select(companies.c.id, companies.c.created_at), companies.c.id, company_domain)
    }
    person_touches: dict[str, list[tuple[str, Touch]]] = w.memo.get("person_touches", {})
    summaries: list[tuple[Any, ...]] = []
    members: list[tuple[Any, ...]] = []
    for company_id in sorted(company_domain):
        people_ids = sorted(members_of.get(company_id, set()))
        found = variants(t for person_id in people_ids for t in person_touches.get(person_id, []))
        for (member_id, variant), theirs in found.items():
            members.append(
                moment_row(
                    "company",
                    company_id,
                    member_id,
                    variant,
                    workspace_id,
                    member_of(theirs, strength=False),
                    0,
                    0.0,
                )
            )
        own = {v for person_id in people_ids for v in scores.get(person_id, {}) if v != PUBLIC}
        ends = ends_by_viewer(rows[company_id], own)
        for viewer, e in ends.items():
            best = max(
                (scores[q].get(viewer, scores[q][PUBLIC]) for q in people_ids if q in scores), default=0.0
            )
            summaries.append(
                summary_row("company", company_id, viewer, workspace_id, created[company_id], e, best)
            )
    ids = sorted(company_domain)
    _replace(
        w,
        record_summaries,
        SUMMARY_COLUMNS,
        3,
        summaries,
        (record_summaries.c.kind == "company", record_summaries.c.record_id),
        ids,
    )
    _replace(
        w,
        record_members,
        MEMBER_COLUMNS,
        4,
        members,
        (record_members.c.kind == "company", record_members.c.record_id),
        ids,
    )


def _refresh_leads(w: ViewWriter, workspace_id: str, lead_ids: list[str]) -> None:
    p = email_participants
    statement = (
        select(lead_contacts.c.lead_id, p.c.sent_at, p.c.email_id, p.c.owner_id, p.c.direction, p.c.role)
        .distinct()
        .select_from(
            lead_contacts.join(
                person_addresses, person_addresses.c.person_id == lead_contacts.c.person_id
            ).join(
                p,
                (p.c.workspace_id == person_addresses.c.workspace_id)
                & (p.c.address == person_addresses.c.address),
            )
        )
        .where(p.c.workspace_id == workspace_id, p.c.hidden.is_(False))
    )
    rows: dict[str, list[Row]] = defaultdict(list)
    for r in _chunked(w, statement, lead_contacts.c.lead_id, lead_ids):
        rows[r.lead_id].append(Row(r.sent_at, r.email_id, r.owner_id, r.direction, r.role))
    created = {
        r.id: r.created_at for r in _chunked(w, select(leads.c.id, leads.c.created_at), leads.c.id, lead_ids)
    }
    summaries = [
        summary_row("lead", lead_id, viewer, workspace_id, created[lead_id], e, 0.0)
        for lead_id in lead_ids
        if lead_id in created
        for viewer, e in ends_by_viewer(rows[lead_id]).items()
    ]
    _replace(
        w,
        record_summaries,
        SUMMARY_COLUMNS,
        3,
        summaries,
        (record_summaries.c.kind == "lead", record_summaries.c.record_id),
        lead_ids,
    )


def _replace(
    w: ViewWriter,
    table: Table,
    columns: tuple[str, ...],
    key_size: int,
    rows: list[tuple[Any, ...]],
    scope: tuple[Any, Any],
    ids: list[str],
) -> None:
    """Make the rows of `table` for `ids` (scope: (extra condition or None, the id column)) be
    `rows`, writing only what differs. The first `key_size` columns are the primary key."""
    condition, column = scope
    new = {row[:key_size]: row for row in rows}
    if w.memo.get(FRESH):
        w.insert_rows(table, columns, new.values())
        return
    statement = select(*(table.c[c] for c in columns))
    if condition is not None:
        statement = statement.where(condition)
    old = {tuple(r)[:key_size]: tuple(r) for r in _chunked(w, statement, column, ids)}
    gone = [key for key, row in old.items() if new.get(key) != row]
    names = columns[:key_size]
    if gone:  # by primary key, one parameter set a row (SQLite scans the table for a row-value IN list)
        w.execute(
            delete(table).where(*(table.c[c] == bindparam(f"k_{c}") for c in names)),
            [{f"k_{c}": value for c, value in zip(names, key)} for key in gone],
        )
    w.insert_rows(table, columns, [row for key, row in new.items() if old.get(key) != row])
