"""Reads of the people, companies, members, mailboxes and settings views."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, ColumnElement, exists, func, select

from domain.visibility import Viewer
from projections.email_queries import VISIBLE_COPY, email_summaries, visible_email_ids
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


def person_rows(conn: Connection, viewer: Viewer, offset: int, limit: int, person_id: str | None = None) -> list[dict[str, Any]]:
    statement = select(people).where(people.c.workspace_id == viewer.workspace_id)
    if person_id is not None:
        statement = statement.where(people.c.id == person_id)
    statement = statement.order_by(people.c.created_at, people.c.id).offset(offset).limit(limit)
    rows = list(conn.execute(statement))
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
    return [
        {
            "id": r.id,
            "name": r.name,
            "emails": addresses[r.id],
            "company_ids": sorted({company_by_domain[d] for d in domains[r.id] if d in company_by_domain}),
            "created_at": r.created_at,
            "origin": r.origin,
            "last_interaction": last_interaction(
                conn, viewer, email_participants.c.address.in_(addresses[r.id])
            ),
        }
        for r in rows
    ]


def company_rows(conn: Connection, viewer: Viewer, offset: int, limit: int, company_id: str | None = None) -> list[dict[str, Any]]:
    statement = select(companies).where(companies.c.workspace_id == viewer.workspace_id)
    if company_id is not None:
        statement = statement.where(companies.c.id == company_id)
    statement = statement.order_by(companies.c.created_at, companies.c.id).offset(offset).limit(limit)
    return [
        {
            "id": r.id,
            "name": r.name,
            "domain": r.domain,
            "created_at": r.created_at,
            "last_interaction": last_interaction(conn, viewer, email_participants.c.domain == r.domain),
        }
        for r in conn.execute(statement)
    ]


def _by_participant(viewer: Viewer, match: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(
        email_participants.c.email_id == emails.c.id,
        email_participants.c.workspace_id == viewer.workspace_id,
        match,
    )


def last_interaction(conn: Connection, viewer: Viewer, match: ColumnElement[bool]) -> str | None:
    """Time of the latest email visible to the viewer with a matching participant."""
    ids = visible_email_ids(conn, viewer, _by_participant(viewer, match), 0, 1)
    if not ids:
        return None
    return conn.execute(select(emails.c.sent_at).where(emails.c.id == ids[0])).scalar()


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
        "exclusions": r.exclusions,
        "legal_hold": r.legal_hold,
    }
