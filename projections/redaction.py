"""Point-in-time views under today's rules: what a current exclusion or blocklist hides stays hidden.

An as-of view says what was visible then (participants, times, levels), but the content
of a copy that a workspace exclusion or its mailbox's blocklist hides NOW is redacted:
the subject and `has_body` come only from copies that no current rule hides. An erased
mailbox needs nothing here: its events decode to "erased" and never reach a rebuilt view."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select

from domain.filtering import matches_any
from domain.values import SharingLevel
from domain.visibility import Viewer, copy_level
from projections.email_queries import copies_by_email
from projections.internal import internal_set_of
from projections.tables import email_participants, mailboxes


def redact_now_hidden(
    as_of: Connection, live: Connection, viewer: Viewer, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`items` (email summaries read from the as-of store) with the content that current rules
    hide taken out and marked `"redacted": "excluded" | "blocklisted"`."""
    with_content = [item["id"] for item in items if "subject" in item or item.get("has_body")]
    if not with_content:
        return items
    copies = copies_by_email(as_of, with_content)
    addresses: dict[str, list[str]] = defaultdict(list)
    copy_ids = [c.id for found in copies.values() for c in found]
    for row in as_of.execute(
        select(email_participants.c.copy_id, email_participants.c.address).where(
            email_participants.c.copy_id.in_(copy_ids)
        )
    ):
        addresses[row.copy_id].append(row.address)
    _, exclusions = internal_set_of(live, viewer.workspace_id)
    blocklists = {
        row.id: list(row.blocklist)
        for row in live.execute(
            select(mailboxes.c.id, mailboxes.c.blocklist).where(
                mailboxes.c.id.in_({c.mailbox_id for found in copies.values() for c in found})
            )
        )
    }
    for item in items:
        reasons: set[str] = set()
        allowed: list[SharingLevel] = []
        for copy in copies.get(item["id"], []):
            level = copy_level(viewer, copy.access)
            if level is SharingLevel.NONE:
                continue
            reason = _hidden_now(addresses[copy.id], exclusions, blocklists.get(copy.mailbox_id, []))
            if reason is None:
                allowed.append(level)
            else:
                reasons.add(reason)
        _redact(item, SharingLevel.highest(allowed), reasons)
    return items


def _hidden_now(addresses: list[str], exclusions: list[str], blocklist: list[str]) -> str | None:
    if any(matches_any(a, exclusions) for a in addresses):
        return "excluded"
    if any(matches_any(a, blocklist) for a in addresses):
        return "blocklisted"
    return None


def _redact(item: dict[str, Any], allowed: SharingLevel, reasons: set[str]) -> None:
    redacted = False
    if "subject" in item and allowed.rank < SharingLevel.SUBJECT.rank:
        del item["subject"]
        redacted = True
    if item.get("has_body") and allowed is not SharingLevel.FULL:
        del item["has_body"]
        redacted = True
    if redacted:
        item["redacted"] = "excluded" if "excluded" in reasons else "blocklisted"
