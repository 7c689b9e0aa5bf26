"""Reads of the people, companies, members, mailboxes and settings views."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, or_, select, tuple_

from domain.outbox import SendLimits
from domain.visibility import Viewer
from projections import meeting_queries, summary_queries
from projections.email_queries import VISIBLE_COPY, EmailKey, email_summaries
from projections.origin import visible_origins
from projections.record_emails import newest_emails
from projections.tables import (
    companies,
    email_copies,
    mailboxes,
    members,
    people,
    person_addresses,
    workspaces,
)

RecordKey = tuple[Any, ...]  # (created_at, id), or (sort value, created_at, id) for a `sort`
Page = tuple[list[RecordKey], list[dict[str, Any]]]


def _creation_page(
    conn: Connection, statement: Any, table: Any, after: RecordKey | None, limit: int
) -> list[Any]:
    """Rows in creation order after `after`: one range of the (workspace, created_at, id) index."""
    if after is not None:
        statement = statement.where(tuple_(table.c.created_at, table.c.id) > tuple_(after[0], after[1]))
    return list(conn.execute(statement.order_by(table.c.created_at, table.c.id).limit(limit)))


def _sorted_page(
    conn: Connection,
    viewer: Viewer,
    table: Any,
    kind: str,
    sort: str,
    after: RecordKey | None,
    limit: int,
) -> tuple[list[RecordKey], list[Any]]:
    """The `limit` records of the viewer's workspace (people not merged away) after `after` in
    `sort` order: keyset scans of the kept summaries' index, then the records by primary key."""
    chosen = summary_queries.sorted_ids(conn, viewer, kind, sort, after, limit)
    # By primary key alone, the workspace (and merge) checked here: with the workspace condition
    # in the statement, SQLite walked the (workspace, created_at, id) index over every record.
    found = {
        r.id: r
        for r in conn.execute(select(table).where(table.c.id.in_([i for _, i in chosen])))
        if r.workspace_id == viewer.workspace_id and getattr(r, "merged_into", None) is None
    }
    kept = [(k, found[i]) for k, i in chosen if i in found]
    return [k for k, _ in kept], [r for _, r in kept]


def _prefix(column: Any, q: str) -> Any:
    """`column` starts with `q`, or one of its words does; case-insensitive (q is lower-cased)."""
    lowered = func.lower(column)
    return or_(lowered.startswith(q, autoescape=True), lowered.contains(" " + q, autoescape=True))


def person_matches(q: str) -> Any:
    """People whose name, an address or an address's domain starts with `q`."""
    q = q.strip().lower()
    a = person_addresses.c
    by_address = select(a.person_id).where(or_(a.address.startswith(q, autoescape=True),
                                               a.domain.startswith(q, autoescape=True)))  # fmt: skip
    return or_(_prefix(people.c.name, q), people.c.id.in_(by_address))


def company_matches(q: str) -> Any:
    """Companies whose name or domain starts with `q`."""
    q = q.strip().lower()
    return or_(_prefix(companies.c.name, q), companies.c.domain.startswith(q, autoescape=True))


def _record_page(
    conn: Connection,
    viewer: Viewer,
    statement: Any,
    table: Any,
    kind: str,
    record_id: str | None,
    sort: str | None,
    after: RecordKey | None,
    limit: int,
) -> tuple[list[RecordKey], list[Any]]:
    """The records of `statement` (only `record_id`, when given) after `after`: in creation
    order, or (a whole list) in `sort` order through the kept summaries."""
    if record_id is not None:
        statement = statement.where(table.c.id == record_id)
    elif sort is not None:
        return _sorted_page(conn, viewer, table, kind, sort, after, limit)
    rows = _creation_page(conn, statement, table, after, limit)
    return [(r.created_at, r.id) for r in rows], rows


def person_rows(
    conn: Connection,
    viewer: Viewer,
    after: RecordKey | None,
    limit: int,
    person_id: str | None = None,
    sort: str | None = None,
    q: str | None = None,
) -> Page:
    """People in creation order, or by `sort` (intelligence_queries.SORTS), after the key `after`;
    with `q`, only those matching it (person_matches; creation order)."""
    statement = select(people).where(
        people.c.workspace_id == viewer.workspace_id, people.c.merged_into.is_(None)
    )
    if q:
        statement = statement.where(person_matches(q))
    keys, rows = _record_page(conn, viewer, statement, people, "person", person_id, sort, after, limit)
    ids = [r.id for r in rows]
    addresses: dict[str, list[str]] = defaultdict(list)
    bouncing: dict[str, list[str]] = defaultdict(list)
    domains: dict[str, set[str]] = defaultdict(set)
    for a in conn.execute(
        select(person_addresses)
        .where(person_addresses.c.person_id.in_(ids))
        .order_by(person_addresses.c.address)
    ):
        addresses[a.person_id].append(a.address)
        domains[a.person_id].add(a.domain)
        if a.bouncing:
            bouncing[a.person_id].append(a.address)
    all_domains = {d for ds in domains.values() for d in ds}
    company_by_domain = {
        c.domain: c.id
        for c in conn.execute(
            select(companies.c.id, companies.c.domain).where(
                companies.c.workspace_id == viewer.workspace_id, companies.c.domain.in_(all_domains)
            )
        )
    }
    origins = visible_origins(conn, viewer, {r.id: r.origin for r in rows}, addresses)
    kept = summary_queries.read(conn, viewer, "person", ids)
    met = meeting_queries.person_meeting_fields(conn, viewer, addresses)
    return keys, [
        {
            "id": r.id,
            "name": r.name,
            "emails": addresses[r.id],
            "bouncing": bouncing[r.id],  # addresses a delivery report said fail
            "company_ids": sorted({company_by_domain[d] for d in domains[r.id] if d in company_by_domain}),
            "created_at": r.created_at,
            "origin": origins[r.id],
            **summary_queries.fields(kept.get(r.id)),
            **met.get(r.id, meeting_queries.NO_MEETINGS),
        }
        for r in rows
    ]


def company_rows(
    conn: Connection,
    viewer: Viewer,
    after: RecordKey | None,
    limit: int,
    company_id: str | None = None,
    sort: str | None = None,
    q: str | None = None,
) -> Page:
    """Companies in creation order, or by `sort` (intelligence_queries.SORTS), after the key `after`;
    with `q`, only those matching it (company_matches; creation order)."""
    statement = select(companies).where(companies.c.workspace_id == viewer.workspace_id)
    if q:
        statement = statement.where(company_matches(q))
    keys, found = _record_page(conn, viewer, statement, companies, "company", company_id, sort, after, limit)
    kept = summary_queries.read(conn, viewer, "company", [r.id for r in found])
    met = meeting_queries.company_meeting_fields(conn, viewer, {r.id: r.domain for r in found})
    return keys, [
        {
            "id": r.id,
            "name": r.name,
            "domain": r.domain,
            "created_at": r.created_at,
            **summary_queries.fields(kept.get(r.id)),
            **met.get(r.id, meeting_queries.NO_MEETINGS),
        }
        for r in found
    ]


def person_exists(conn: Connection, viewer: Viewer, person_id: str) -> bool:
    """The person is in the viewer's workspace and not merged into another: what a person's own
    lists check before their page (one lookup by primary key, not the person's whole row)."""
    row = conn.execute(
        select(people.c.workspace_id, people.c.merged_into).where(people.c.id == person_id)
    ).first()
    return row is not None and row.workspace_id == viewer.workspace_id and row.merged_into is None


def person_emails(
    conn: Connection, viewer: Viewer, person_id: str, after: EmailKey | None, limit: int
) -> tuple[list[EmailKey], list[dict[str, Any]]]:
    addresses = conn.execute(
        select(person_addresses.c.address).where(person_addresses.c.person_id == person_id)
    )
    keys = newest_emails(conn, viewer, "address", [a for (a,) in addresses], after, limit)
    return keys, _summaries(conn, viewer, keys, limit)


def company_emails(
    conn: Connection, viewer: Viewer, domain: str, after: EmailKey | None, limit: int
) -> tuple[list[EmailKey], list[dict[str, Any]]]:
    keys = newest_emails(conn, viewer, "domain", [domain], after, limit)
    return keys, _summaries(conn, viewer, keys, limit)


def _summaries(conn: Connection, viewer: Viewer, keys: list[EmailKey], limit: int) -> list[dict[str, Any]]:
    """The emails of a page of `limit` keys, the last of which only says there is more."""
    shown = keys[: limit - 1] if len(keys) == limit else keys
    return email_summaries(conn, viewer, [email_id for _, email_id in shown])


def member_rows(conn: Connection, viewer: Viewer) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(members)
        .where(members.c.workspace_id == viewer.workspace_id)
        .order_by(members.c.created_at, members.c.id)
    )
    return [{"id": r.id, "name": r.name, "role": r.role, "emails": r.emails} for r in rows]


def member_role(conn: Connection, workspace_id: str, member_id: str) -> str | None:
    return conn.execute(
        select(members.c.role).where(members.c.id == member_id, members.c.workspace_id == workspace_id)
    ).scalar()


def mailbox_rows(conn: Connection, viewer: Viewer, mailbox_id: str | None = None) -> list[dict[str, Any]]:
    statement = select(mailboxes).where(mailboxes.c.workspace_id == viewer.workspace_id)
    if mailbox_id is not None:
        statement = statement.where(mailboxes.c.id == mailbox_id)
    result = []
    for r in conn.execute(statement.order_by(mailboxes.c.created_at, mailboxes.c.id)):
        item = {
            "id": r.id,
            "owner_id": r.owner_id,
            "provider": r.provider,
            "address": r.address,
            "aliases": r.aliases,
            "sharing": r.sharing,
            "status": r.status,
            "status_reason": r.status_reason,
            "synced": r.synced,
            "skipped": r.skipped,
            "rejected": r.rejected,
            "last_sync_at": r.last_sync_at,
            "last_synced_at": r.last_sync_at,
            "last_error": r.last_error,
            "last_error_at": r.last_error_at,
            "progress": sync_progress(r.cursors),
        }
        if r.owner_id == viewer.member_id or viewer.is_admin:
            item["blocklist"] = r.blocklist
            item["cursors"] = r.cursors
        result.append(item)
    return result


def sync_progress(cursors: dict[str, Any]) -> list[dict[str, Any]]:
    """Per folder with messages still to fetch (a full sync under way): done of total."""
    return [
        {"folder": folder, "done": c["fetched"], "total": c["fetched"] + c["pending"]}
        for folder, c in sorted(cursors.items())
        if isinstance(c, dict) and c.get("pending")
    ]


def visible_copy_count(conn: Connection, mailbox_id: str) -> int:
    return conn.execute(
        select(func.count())
        .select_from(email_copies.join(mailboxes, mailboxes.c.id == email_copies.c.mailbox_id))
        .where(email_copies.c.mailbox_id == mailbox_id, VISIBLE_COPY)
    ).scalar_one()


def settings_row(conn: Connection, viewer: Viewer) -> dict[str, Any]:
    r = conn.execute(select(workspaces).where(workspaces.c.id == viewer.workspace_id)).one()
    return {
        "workspace_id": r.id,
        "name": r.name,
        "signup_domain": r.signup_domain,
        "plan": r.plan,
        "record_creation": r.record_creation,
        "internal_domains": r.internal_domains,
        "auto_internal_domains": r.auto_internal_domains,
        "exclusions": r.exclusions,
        "legal_hold": r.legal_hold,
        "send_limits": r.send_limits or SendLimits().as_dict(),
    }
