"""Reads of the threads view: a page of threads (of a person, a company or a lead), newest
activity first, and one thread with its emails, each as the viewer may see it.

A thread's subject is its first email's, shown only when the viewer's level on that email
includes subjects (the same rule as the email itself)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, select, tuple_

from domain.visibility import Viewer
from projections.email_queries import email_summaries
from projections.tables import (
    companies,
    emails,
    lead_emails,
    leads,
    people,
    person_addresses,
    thread_addresses,
    threads,
)

ThreadKey = tuple[str, str]  # (last_at, thread id), newest first
MAX_THREAD_EMAILS = 200


def _scope(conn: Connection, viewer: Viewer, person: str | None, company: str | None,
           lead: str | None) -> Select[Any] | None:  # fmt: skip
    """The thread ids of the record asked for (None: the record is not the viewer's workspace's)."""
    ws = viewer.workspace_id
    a = thread_addresses.c
    if person is not None:
        found = conn.execute(
            select(people.c.id).where(people.c.id == person, people.c.workspace_id == ws)
        ).first()
        if found is None:
            return None
        addresses = select(person_addresses.c.address).where(person_addresses.c.person_id == person)
        return select(a.thread_id).where(a.workspace_id == ws, a.address.in_(addresses))
    if company is not None:
        domain = conn.execute(
            select(companies.c.domain).where(companies.c.id == company, companies.c.workspace_id == ws)
        ).scalar()
        if domain is None:
            return None
        return select(a.thread_id).where(a.workspace_id == ws, a.domain == domain)
    if lead is not None:
        if (
            conn.execute(select(leads.c.id).where(leads.c.id == lead, leads.c.workspace_id == ws)).first()
            is None
        ):
            return None
        keys = (
            select(emails.c.thread_key)
            .join(lead_emails, lead_emails.c.email_id == emails.c.id)
            .where(lead_emails.c.lead_id == lead, lead_emails.c.bcc_owner.in_(["", viewer.member_id]))
        )
        return select(threads.c.id).where(threads.c.workspace_id == ws, threads.c.thread_key.in_(keys))
    return select(threads.c.id).where(threads.c.workspace_id == ws)


def thread_rows(conn: Connection, viewer: Viewer, after: ThreadKey | None, limit: int, *,
                person: str | None = None, company: str | None = None,
                lead: str | None = None) -> tuple[list[ThreadKey], list[dict[str, Any]]] | None:  # fmt: skip
    """A page of threads newest activity first (None when the record is not found)."""
    scope = _scope(conn, viewer, person, company, lead)
    if scope is None:
        return None
    statement = select(threads).where(threads.c.workspace_id == viewer.workspace_id, threads.c.id.in_(scope))
    if after is not None:
        statement = statement.where(tuple_(threads.c.last_at, threads.c.id) < tuple_(after[0], after[1]))
    rows = list(conn.execute(statement.order_by(threads.c.last_at.desc(), threads.c.id.desc()).limit(limit)))
    return [(r.last_at, r.id) for r in rows], _shown(conn, viewer, rows)


def _shown(conn: Connection, viewer: Viewer, rows: list[Any]) -> list[dict[str, Any]]:
    firsts = {e["id"]: e for e in email_summaries(conn, viewer, [r.first_email_id for r in rows])}
    addresses: dict[str, list[str]] = {r.id: [] for r in rows}
    for a in conn.execute(
        select(thread_addresses.c.thread_id, thread_addresses.c.address)
        .where(thread_addresses.c.thread_id.in_(list(addresses)))
        .order_by(thread_addresses.c.address)
    ):
        addresses[a.thread_id].append(a.address)
    result = []
    for r in rows:
        item: dict[str, Any] = {
            "id": r.id,
            "first_at": r.first_at or None,
            "last_activity_at": r.last_at or None,
            "email_count": r.emails,
            "participants": addresses[r.id],
        }
        first = firsts.get(r.first_email_id)
        if first is not None and "subject" in first:
            item["subject"] = first["subject"]
        result.append(item)
    return result


def thread_detail(conn: Connection, viewer: Viewer, thread_id: str) -> dict[str, Any] | None:
    """The thread with its emails, oldest first, as the viewer may see them (None: not found)."""
    row = conn.execute(
        select(threads).where(threads.c.id == thread_id, threads.c.workspace_id == viewer.workspace_id)
    ).first()
    if row is None:
        return None
    ids = [
        r.id
        for r in conn.execute(
            select(emails.c.id)
            .where(emails.c.workspace_id == viewer.workspace_id, emails.c.thread_key == row.thread_key)
            .order_by(emails.c.sent_at, emails.c.id)
            .limit(MAX_THREAD_EMAILS)
        )
    ]
    return {**_shown(conn, viewer, [row])[0], "emails": email_summaries(conn, viewer, ids)}
