"""Reads of the people, companies, members, mailboxes and settings views."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, ColumnElement, exists, func, or_, select

from domain.visibility import Viewer
from projections.email_queries import VISIBLE_COPY, email_summaries, visible_email_ids
from projections.intelligence_queries import company_order, person_order
from projections.interaction_queries import by_addresses, by_domain, interactions
from projections.origin import visible_origins
from projections.tables import (
    companies,
    email_copies,
    email_participants,
    emails,
    mailboxes,
    members,
    people,
    person_addresses,
    workspaces,
)


def person_rows(conn: Connection, viewer: Viewer, offset: int, limit: int, person_id: str | None = None,
                sort: str | None = None) -> list[dict[str, Any]]:
    """People in creation order, or by `sort` (intelligence_queries.SORTS)."""
    statement = select(people).where(people.c.workspace_id == viewer.workspace_id, people.c.merged_into.is_(None))
    if person_id is not None:
        statement = statement.where(people.c.id == person_id)
    if sort is not None:
        rows = _in_order(conn, statement, people, person_order(conn, viewer, sort)[offset:offset + limit])
    else:
        rows = list(conn.execute(statement.order_by(people.c.created_at, people.c.id).offset(offset).limit(limit)))
    ids = [r.id for r in rows]
    addresses: dict[str, list[str]] = defaultdict(list)
    domains: dict[str, set[str]] = defaultdict(set)
    for a in conn.execute(
        select(person_addresses).where(person_addresses.c.person_id.in_(ids)).order_by(person_addresses.c.address)
    ):
        addresses[a.person_id].append(a.address)
        domains[a.person_id].add(a.domain)
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
    return [
        {
            "id": r.id,
            "name": r.name,
            "emails": addresses[r.id],
            "company_ids": sorted({company_by_domain[d] for d in domains[r.id] if d in company_by_domain}),
            "created_at": r.created_at,
            "origin": origins[r.id],
            **_interaction_fields(conn, viewer, by_addresses(addresses[r.id])),
        }
        for r in rows
    ]


def company_rows(conn: Connection, viewer: Viewer, offset: int, limit: int, company_id: str | None = None,
                 sort: str | None = None) -> list[dict[str, Any]]:
    """Companies in creation order, or by `sort` (intelligence_queries.SORTS)."""
    statement = select(companies).where(companies.c.workspace_id == viewer.workspace_id)
    if company_id is not None:
        statement = statement.where(companies.c.id == company_id)
    if sort is not None:
        found = _in_order(conn, statement, companies, company_order(conn, viewer, sort)[offset:offset + limit])
    else:
        found = list(conn.execute(statement.order_by(companies.c.created_at, companies.c.id).offset(offset).limit(limit)))
    return [
        {
            "id": r.id,
            "name": r.name,
            "domain": r.domain,
            "created_at": r.created_at,
            **_interaction_fields(conn, viewer, by_domain(r.domain)),
        }
        for r in found
    ]


def _in_order(conn: Connection, statement: Any, table: Any, ids: list[str]) -> list[Any]:
    """The rows of `statement` with these ids, in the order of `ids`."""
    found = {r.id: r for r in conn.execute(statement.where(table.c.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def _by_participant(viewer: Viewer, match: ColumnElement[bool]) -> ColumnElement[bool]:
    """A matching participant of the visible copy at hand (see visible_email_ids).

    Bcc counts only on the viewer's own copies: otherwise a record's email list would
    tell a colleague who was Bcc'd."""
    return exists().where(
        email_participants.c.copy_id == email_copies.c.id,
        email_participants.c.workspace_id == viewer.workspace_id,
        or_(email_participants.c.role != "bcc", mailboxes.c.owner_id == viewer.member_id),
        match,
    )


def _interaction_fields(conn: Connection, viewer: Viewer, match: ColumnElement[bool]) -> dict[str, Any]:
    """`last_interaction` (its time) and `interactions` (first and last: time, member, direction)."""
    found = interactions(conn, viewer, match)
    return {"last_interaction": found["last"]["at"] if found["last"] else None, "interactions": found}


def person_emails(conn: Connection, viewer: Viewer, person_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
    addresses = select(person_addresses.c.address).where(person_addresses.c.person_id == person_id)
    ids = visible_email_ids(
        conn, viewer, _by_participant(viewer, email_participants.c.address.in_(addresses)), offset, limit
    )
    return email_summaries(conn, viewer, ids)


def company_emails(conn: Connection, viewer: Viewer, domain: str, offset: int, limit: int) -> list[dict[str, Any]]:
    ids = visible_email_ids(
        conn, viewer, _by_participant(viewer, email_participants.c.domain == domain), offset, limit
    )
    return email_summaries(conn, viewer, ids)


def member_rows(conn: Connection, viewer: Viewer) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(members).where(members.c.workspace_id == viewer.workspace_id).order_by(members.c.created_at, members.c.id)
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
        }
        if r.owner_id == viewer.member_id or viewer.is_admin:
            item["blocklist"] = r.blocklist
            item["cursors"] = r.cursors
        result.append(item)
    return result


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
    }
