"""Leads and their emails (kept in lead_emails by projections/lead_views.py)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select, tuple_

from domain.visibility import Viewer
from projections import summary_queries
from projections.email_queries import EmailKey
from projections.tables import lead_contacts, lead_emails, leads, person_addresses

LeadKey = tuple[str, str]  # (created_at, id)


def lead_rows(
    conn: Connection, viewer: Viewer, after: LeadKey | None, limit: int, lead_id: str | None = None
) -> tuple[list[LeadKey], list[dict[str, Any]]]:
    """Leads in creation order after `after`, with their contacts and interactions."""
    statement = select(leads).where(leads.c.workspace_id == viewer.workspace_id)
    if lead_id is not None:
        statement = statement.where(leads.c.id == lead_id)
    if after is not None:
        statement = statement.where(tuple_(leads.c.created_at, leads.c.id) > tuple_(after[0], after[1]))
    rows = list(conn.execute(statement.order_by(leads.c.created_at, leads.c.id).limit(limit)))
    contacts: dict[str, list[str]] = defaultdict(list)
    addresses: dict[str, list[str]] = defaultdict(list)
    for c in conn.execute(
        select(lead_contacts.c.lead_id, lead_contacts.c.person_id, person_addresses.c.address)
        .select_from(
            lead_contacts.outerjoin(
                person_addresses, person_addresses.c.person_id == lead_contacts.c.person_id
            )
        )
        .where(lead_contacts.c.lead_id.in_([r.id for r in rows]))
    ):
        if c.person_id not in contacts[c.lead_id]:
            contacts[c.lead_id].append(c.person_id)
        if c.address:
            addresses[c.lead_id].append(c.address)
    result = []
    kept = summary_queries.read(conn, viewer, "lead", [r.id for r in rows])
    for r in rows:
        result.append(
            {
                "id": r.id,
                "name": r.name,
                "contacts": sorted(contacts[r.id]),
                "created_at": r.created_at,
                **summary_queries.fields(kept.get(r.id)),
            }
        )
    return [(r.created_at, r.id) for r in rows], result


def lead_exists(conn: Connection, viewer: Viewer, lead_id: str) -> bool:
    """The lead is in the viewer's workspace (one lookup by primary key)."""
    workspace_id = conn.execute(select(leads.c.workspace_id).where(leads.c.id == lead_id)).scalar()
    return workspace_id == viewer.workspace_id


def lead_email_keys(
    conn: Connection, viewer: Viewer, lead_id: str, after: EmailKey | None, limit: int
) -> list[EmailKey]:
    """The lead's emails this viewer sees, newest first (no date last): one range of its index.

    An association through a Bcc of a member's own copy is that member's only."""
    statement = select(lead_emails.c.sent_at, lead_emails.c.email_id).where(
        lead_emails.c.lead_id == lead_id, lead_emails.c.bcc_owner.in_(["", viewer.member_id])
    )
    if after is not None:
        statement = statement.where(
            tuple_(lead_emails.c.sent_at, lead_emails.c.email_id) < tuple_(after[0], after[1])
        )
    rows = conn.execute(
        statement.order_by(lead_emails.c.sent_at.desc(), lead_emails.c.email_id.desc()).limit(limit)
    )
    return [(r.sent_at, r.email_id) for r in rows]
