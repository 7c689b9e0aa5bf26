"""Leads and the emails that attach to them.

An email attaches to a lead when a participant is one of its contacts. A reply
from an address on no record attaches to the lead of its thread when the
thread's earlier external participants belong to exactly one lead."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from domain.visibility import Viewer
from projections.email_queries import VISIBLE_COPY
from projections.interaction_queries import by_addresses, interactions
from projections.internal import internal_set_of
from projections.tables import email_copies, email_participants, emails, lead_contacts, leads, mailboxes, person_addresses


def lead_rows(conn: Connection, viewer: Viewer, offset: int, limit: int, lead_id: str | None = None) -> list[dict[str, Any]]:
    statement = select(leads).where(leads.c.workspace_id == viewer.workspace_id)
    if lead_id is not None:
        statement = statement.where(leads.c.id == lead_id)
    rows = list(conn.execute(statement.order_by(leads.c.created_at, leads.c.id).offset(offset).limit(limit)))
    contacts: dict[str, list[str]] = defaultdict(list)
    addresses: dict[str, list[str]] = defaultdict(list)
    for c in conn.execute(
        select(lead_contacts.c.lead_id, lead_contacts.c.person_id, person_addresses.c.address)
        .select_from(lead_contacts.outerjoin(person_addresses, person_addresses.c.person_id == lead_contacts.c.person_id))
        .where(lead_contacts.c.lead_id.in_([r.id for r in rows]))
    ):
        if c.person_id not in contacts[c.lead_id]:
            contacts[c.lead_id].append(c.person_id)
        if c.address:
            addresses[c.lead_id].append(c.address)
    result = []
    for r in rows:
        found = interactions(conn, viewer, by_addresses(addresses[r.id]))
        result.append({
            "id": r.id,
            "name": r.name,
            "contacts": sorted(contacts[r.id]),
            "created_at": r.created_at,
            "last_interaction": found["last"]["at"] if found["last"] else None,
            "interactions": found,
        })
    return result


def _visible_emails(conn: Connection, workspace_id: str) -> dict[str, Any]:
    """Every email with a copy not hidden from everyone: id -> (thread_key, sent_at)."""
    rows = conn.execute(
        select(emails.c.id, emails.c.thread_key, emails.c.sent_at, func.min(email_copies.c.position).label("arrived"))
        .select_from(emails.join(email_copies, email_copies.c.email_id == emails.c.id)
                     .join(mailboxes, mailboxes.c.id == email_copies.c.mailbox_id))
        .where(emails.c.workspace_id == workspace_id, VISIBLE_COPY)
        .group_by(emails.c.id, emails.c.thread_key, emails.c.sent_at)
    )
    return {r.id: r for r in rows}


def lead_email_ids(conn: Connection, workspace_id: str, lead_id: str) -> list[str]:
    """Ids of the emails attached to a lead, newest first (not yet filtered for a viewer)."""
    visible = _visible_emails(conn, workspace_id)
    participants: dict[str, set[str]] = defaultdict(set)
    senders: dict[str, set[str]] = defaultdict(set)
    for p in conn.execute(
        select(email_participants.c.email_id, email_participants.c.address, email_participants.c.role)
        .where(email_participants.c.workspace_id == workspace_id)
    ):
        participants[p.email_id].add(p.address)
        if p.role == "from":
            senders[p.email_id].add(p.address)
    owner = {r.address: r.person_id for r in conn.execute(
        select(person_addresses).where(person_addresses.c.workspace_id == workspace_id))}
    leads_of: dict[str, set[str]] = defaultdict(set)
    for c in conn.execute(select(lead_contacts).where(lead_contacts.c.workspace_id == workspace_id)):
        leads_of[c.person_id].add(c.lead_id)
    internal, _ = internal_set_of(conn, workspace_id)

    def leads_of_address(address: str) -> set[str]:
        person = owner.get(address)
        return leads_of.get(person, set()) if person else set()

    attached = {e for e in visible if any(lead_id in leads_of_address(a) for a in participants[e])}
    threads: dict[str, list[Any]] = defaultdict(list)
    for row in visible.values():
        threads[row.thread_key].append(row)
    for key in {visible[e].thread_key for e in attached}:
        ordered = sorted(threads[key], key=lambda r: (r.sent_at or "", r.arrived))
        for n, row in enumerate(ordered):
            if row.id in attached or not senders[row.id] or any(s in owner for s in senders[row.id]):
                continue
            earlier = {a for r in ordered[:n] for a in participants[r.id] if not internal.is_internal(a)}
            thread_leads = set().union(*(leads_of_address(a) for a in earlier)) if earlier else set()
            if thread_leads == {lead_id}:
                attached.add(row.id)
    return sorted(attached, key=lambda e: (visible[e].sent_at or "", e), reverse=True)
