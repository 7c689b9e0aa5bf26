"""What a viewer may see of a record's `origin` (the rule, mailbox and copy that created it).

The origin names its copy (`copy_id`, `mailbox_id`) only when that copy is visible now
and, when the record's addresses were only Bcc recipients on it, only to the copy's
owner: the Bcc rule (a Bcc counts only on the owner's own copies) holds for what record
creation leaves behind. Anyone else gets the origin without those two ids (its `rule`
stays). Called by the people queries for a page of people at a time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from domain.visibility import Viewer
from projections.email_queries import HIDING_COLUMNS, hidden_reason
from projections.tables import email_copies, email_participants, mailboxes

COPY_KEYS = ("copy_id", "mailbox_id")


class _CopyOf:
    """A copy row with its mailbox's `removed_at`, as `hidden_reason` reads them."""

    def __init__(self, row: Any, removed_at: str | None) -> None:
        self._row, self.removed_at = row, removed_at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def visible_origins(
    conn: Connection,
    viewer: Viewer,
    origins: Mapping[str, dict[str, Any]],
    addresses: Mapping[str, list[str]],
) -> dict[str, dict[str, Any]]:
    """Each record's origin as `viewer` may see it; `origins` and `addresses` by record id."""
    copy_ids = {str(o["copy_id"]) for o in origins.values() if o.get("copy_id")}
    if not copy_ids:
        return dict(origins)
    # Two lookups by primary key: joined, SQLite walks a mailbox's (or the workspace's) copies.
    copies = [
        r
        for r in conn.execute(
            select(
                email_copies.c.id,
                email_copies.c.workspace_id,
                email_copies.c.mailbox_id,
                *(email_copies.c[column] for column in HIDING_COLUMNS),
            ).where(email_copies.c.id.in_(copy_ids))
        )
        if r.workspace_id == viewer.workspace_id
    ]
    boxes = {
        r.id: r
        for r in conn.execute(
            select(mailboxes.c.id, mailboxes.c.owner_id, mailboxes.c.removed_at).where(
                mailboxes.c.id.in_({r.mailbox_id for r in copies})
            )
        )
    }
    owners = {
        row.id: boxes[row.mailbox_id].owner_id
        for row in copies
        if row.mailbox_id in boxes and hidden_reason(_CopyOf(row, boxes[row.mailbox_id].removed_at)) is None
    }
    wanted = {a for record_id, o in origins.items() if o.get("copy_id") for a in addresses.get(record_id, [])}
    roles: dict[tuple[str, str], set[str]] = defaultdict(set)
    # By copy alone, the addresses picked here: `address IN` beside `copy_id IN` made SQLite
    # seek every (copy, address) pair of the page, about 2,500 seeks for a page of 50 people.
    for row in (
        conn.execute(
            select(
                email_participants.c.copy_id, email_participants.c.address, email_participants.c.role
            ).where(email_participants.c.copy_id.in_(list(owners)))
        )
        if owners and wanted
        else ()
    ):
        if row.address in wanted:
            roles[(row.copy_id, row.address)].add(row.role)
    shown: dict[str, dict[str, Any]] = {}
    for record_id, origin in origins.items():
        copy_id = origin.get("copy_id")
        if copy_id is None:
            shown[record_id] = origin
            continue
        on_copy = {r for a in addresses.get(record_id, []) for r in roles.get((copy_id, a), ())}
        bcc_only = on_copy == {"bcc"}
        visible = copy_id in owners and (not bcc_only or owners[copy_id] == viewer.member_id)
        shown[record_id] = origin if visible else {k: v for k, v in origin.items() if k not in COPY_KEYS}
    return shown
