"""The workspace's internal set as the views know it."""

from __future__ import annotations

from sqlalchemy import Connection, select

from domain.filtering import InternalSet
from projections.tables import workspaces


def internal_set_of(conn: Connection, workspace_id: str) -> tuple[InternalSet, list[str]]:
    """(the internal set, the exclusions) of a workspace."""
    row = conn.execute(select(workspaces).where(workspaces.c.id == workspace_id)).one()
    addresses = {*row.member_addresses}
    for mailbox_addresses in row.mailbox_addresses.values():
        addresses.update(mailbox_addresses)
    return InternalSet(frozenset(row.internal_domains), frozenset(addresses)), list(row.exclusions)
