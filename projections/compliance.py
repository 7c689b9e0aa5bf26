"""The compliance report: the privacy invariants, checked independently of the stored flags.

Each rule is re-derived from the participants and the current settings with the
domain's own functions, so a view row that was changed behind the projection's
back (or a projection bug) shows up as a violation."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select

from domain.filtering import InternalSet, matches_any
from domain.values import SharingLevel
from domain.visibility import Viewer
from projections.email_queries import VISIBLE_COPY, email_summaries, visible_email_ids
from projections.internal import internal_set_of
from projections.tables import email_copies, email_participants, mailboxes, members

SAMPLE_PER_VIEWER = 2000


def privacy_report(conn: Connection, workspace_id: str) -> dict[str, Any]:
    internal, exclusions = internal_set_of(conn, workspace_id)
    violations: list[dict[str, Any]] = []
    visible = list(
        conn.execute(
            select(
                email_copies.c.id,
                email_copies.c.email_id,
                mailboxes.c.id.label("mailbox_id"),
                mailboxes.c.blocklist,
                mailboxes.c.removed_at,
            )
            .select_from(email_copies.join(mailboxes, mailboxes.c.id == email_copies.c.mailbox_id))
            .where(email_copies.c.workspace_id == workspace_id, VISIBLE_COPY)
        )
    )
    participants: dict[str, list[str]] = defaultdict(list)
    for row in conn.execute(
        select(email_participants.c.copy_id, email_participants.c.address).where(
            email_participants.c.workspace_id == workspace_id
        )
    ):
        participants[row.copy_id].append(row.address)
    for copy in visible:
        addresses = participants.get(copy.id, [])
        found = _copy_violation(addresses, internal, exclusions, copy.blocklist)
        if found:
            violations.append({"rule": found, "copy_id": copy.id, "email_id": copy.email_id})
    removed = conn.execute(
        select(email_copies.c.id, email_copies.c.email_id)
        .select_from(email_copies.join(mailboxes, mailboxes.c.id == email_copies.c.mailbox_id))
        .where(email_copies.c.workspace_id == workspace_id, mailboxes.c.removed_at.is_not(None))
    )
    violations += [
        {"rule": "copy_of_removed_mailbox", "copy_id": r.id, "email_id": r.email_id} for r in removed
    ]
    checked_views = _check_levels(conn, workspace_id, violations)
    return {
        "checked": {"visible_copies": len(visible), "viewer_emails": checked_views},
        "violations": violations,
    }


def _copy_violation(
    addresses: list[str], internal: InternalSet, exclusions: list[str], blocklist: list[str]
) -> str | None:
    if not addresses:
        return "visible_copy_without_participants"
    if all(internal.is_internal(a) for a in addresses):
        return "visible_internal_only_email"
    if any(matches_any(a, exclusions) for a in addresses):
        return "visible_excluded_email"
    if any(matches_any(a, blocklist) for a in addresses):
        return "visible_blocklisted_copy"
    return None


def _check_levels(conn: Connection, workspace_id: str, violations: list[dict[str, Any]]) -> int:
    """No viewer is shown a field above their level."""
    checked = 0
    for member in conn.execute(select(members).where(members.c.workspace_id == workspace_id)):
        viewer = Viewer(workspace_id, member.id, member.role)
        ids = [email_id for _, email_id in visible_email_ids(conn, viewer, None, SAMPLE_PER_VIEWER)]
        for item in email_summaries(conn, viewer, ids):
            checked += 1
            level = SharingLevel(item["level"])
            if ("subject" in item and level.rank < SharingLevel.SUBJECT.rank) or (
                item.get("has_body") and level is not SharingLevel.FULL
            ):
                violations.append({"rule": "field_beyond_level", "email_id": item["id"], "viewer": member.id})
    return checked
