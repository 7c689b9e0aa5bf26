"""Diagnostics: what happened to one message in each mailbox the caller may see.

The fates, most telling first: stored (visible), hidden later by a rule (which, by which event,
when), retracted (expunged from the server, or its mailbox removed), skipped at ingest (the
reason and the entry that matched), rejected (the defect), or never seen by a sync."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from domain.fates import entry_text
from domain.visibility import Viewer
from projections.tables import (
    audit_log,
    email_copies,
    email_participants,
    emails,
    mailboxes,
    message_fates,
    workspaces,
)
from projections.tables import mailbox_months as mailbox_months_table

SKIPPED = "skipped"
REJECTED = "rejected"
NOTES = ("no_records", "too_many_participants", "batch_record_limit")  # stored all the same
HIDING = (  # (column, rule) in the order explain lists them
    ("expunged_at", "expunged"),
    ("internal_at", "internal_only"),
    ("excluded_at", "workspace_exclusion"),
    ("blocklisted_at", "blocklist"),
)


def fates_of(
    conn: Connection,
    viewer: Viewer,
    fate_hash: str,
    message_id: str = "",
    sender: tuple[str, datetime, str | None] | None = None,
    keyed: Callable[[str], str] | None = None,
) -> list[dict[str, Any]]:
    """Per mailbox the caller may see (a member their own, an admin or auditor every one), the
    message's fate there. It is found by `message_id` (bare), or by `sender` (from address, the
    minute it was sent, optionally a recipient) for a message without one; skips and rejections
    by `fate_hash`, the keyed hash they were filed under. `keyed` is that hash: the entry a skip
    names is found again by it among the mailbox's blocklist and the workspace's exclusions."""
    boxes = select(mailboxes).where(mailboxes.c.workspace_id == viewer.workspace_id)
    if not (viewer.is_admin or viewer.is_auditor):
        boxes = boxes.where(mailboxes.c.owner_id == viewer.member_id)
    mailbox_rows = {r.id: r for r in conn.execute(boxes.order_by(mailboxes.c.created_at, mailboxes.c.id))}
    if not mailbox_rows:
        return []
    email_ids = _emails(conn, viewer.workspace_id, message_id, sender)
    copies: dict[str, list[Any]] = {}
    if email_ids:
        for row in conn.execute(
            select(email_copies).where(
                email_copies.c.email_id.in_(email_ids), email_copies.c.mailbox_id.in_(list(mailbox_rows))
            )
        ):
            copies.setdefault(row.mailbox_id, []).append(row)
    fates: dict[str, list[Any]] = {}
    for row in conn.execute(
        select(message_fates)
        .where(message_fates.c.fate_hash == fate_hash, message_fates.c.mailbox_id.in_(list(mailbox_rows)))
        .order_by(message_fates.c.position)
    ):
        fates.setdefault(row.mailbox_id, []).append(row)
    events = _events(conn, viewer.workspace_id, copies, fates, mailbox_rows)
    exclusions = conn.execute(
        select(workspaces.c.exclusions).where(workspaces.c.id == viewer.workspace_id)
    ).scalar()
    found = [
        _fate(box, copies.get(box.id, []), fates.get(box.id, []), events) for box in mailbox_rows.values()
    ]
    for box, answer in zip(mailbox_rows.values(), found, strict=True):
        if answer["fate"] == SKIPPED and answer["entry"]:
            settings = [*box.blocklist, *box.blocklist_at, *(exclusions or [])]
            answer["entry"] = next(
                (e for e in settings if keyed is not None and keyed(entry_text(e)) == answer["entry"]),
                "(an entry since removed)",
            )
    return found


def _emails(
    conn: Connection, workspace_id: str, message_id: str, sender: tuple[str, datetime, str | None] | None
) -> list[str]:
    if message_id:
        found = select(emails.c.id).where(
            emails.c.workspace_id == workspace_id, emails.c.message_id == message_id
        )
        return list(conn.execute(found.limit(100)).scalars())
    if sender is None:
        return []
    address, minute, recipient = sender
    # Stored times keep the sender's offset: a day either side bounds the scan to that sender's
    # mail of three days, read by its index, and the minute is compared in UTC below.
    low, high = ((minute + timedelta(days=d)).strftime("%Y-%m-%d") for d in (-1, 2))
    rows = conn.execute(
        select(email_participants.c.email_id, email_participants.c.sent_at)
        .where(
            email_participants.c.workspace_id == workspace_id,
            email_participants.c.address == address,
            email_participants.c.role == "from",
            email_participants.c.sent_at >= low,
            email_participants.c.sent_at < high,
        )
        .limit(5000)
    )
    ids = {r.email_id for r in rows if _same_minute(r.sent_at, minute)}
    if recipient and ids:
        ids = set(
            conn.execute(
                select(email_participants.c.email_id).where(
                    email_participants.c.email_id.in_(sorted(ids)), email_participants.c.address == recipient
                )
            ).scalars()
        )
    return sorted(ids)


def _same_minute(sent_at: str, minute: datetime) -> bool:
    try:
        at = datetime.fromisoformat(sent_at)
    except ValueError:
        return False
    return _utc_minute(at) == _utc_minute(minute)


def _utc_minute(at: datetime) -> datetime:
    utc = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return utc.replace(second=0, microsecond=0)


def _events(
    conn: Connection,
    workspace_id: str,
    copies: dict[str, list[Any]],
    fates: dict[str, list[Any]],
    boxes: dict[str, Any],
) -> dict[int, Any]:
    """The audit rows of the events the fates cite: what kind of event, and when."""
    positions = {
        p for rows in copies.values() for r in rows for c, _ in HIDING if (p := getattr(r, c)) is not None
    }
    positions |= {r.position for rows in copies.values() for r in rows}
    positions |= {b.removed_at for b in boxes.values() if b.removed_at is not None}
    if not positions:
        return {}
    rows = conn.execute(
        select(audit_log.c.position, audit_log.c.event_type, audit_log.c.occurred_at).where(
            audit_log.c.workspace_id == workspace_id, audit_log.c.position.in_(sorted(positions))
        )
    )
    return {r.position: r for r in rows}


def _cited(position: int | None, events: dict[int, Any]) -> dict[str, Any]:
    event = events.get(position) if position is not None else None
    return {
        "position": position,
        "event_type": event.event_type if event is not None else None,
        "at": event.occurred_at if event is not None else None,
    }


def _fate(box: Any, copies: list[Any], fates: list[Any], events: dict[int, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"mailbox_id": box.id, "address": box.address, "owner_id": box.owner_id}
    notes = [{"reason": f.reason, "entry": f.entry, "position": f.position, "at": f.occurred_at}
             for f in fates if f.reason in NOTES]  # fmt: skip
    if copies:
        copy = copies[0]
        hidden = [
            (rule, getattr(copy, column)) for column, rule in HIDING if getattr(copy, column) is not None
        ]
        answer |= {"email_id": copy.email_id, "stored": _cited(copy.position, events)}
        if hidden and hidden[0][0] == "expunged":
            answer |= {"fate": "retracted", "reason": "expunged", **_cited(hidden[0][1], events)}
        elif hidden:
            rule, position = hidden[0]
            entry = copy.blocklisted_entry if rule == "blocklist" else ""
            answer |= {"fate": "hidden", "reason": rule, "entry": entry or "", **_cited(position, events)}
        else:
            answer |= {"fate": "stored"}
        return answer | {"notes": notes}
    if box.removed_at is not None:
        return answer | {"fate": "retracted", "reason": "mailbox_removed", **_cited(box.removed_at, events)}
    skips = [f for f in fates if f.reason not in NOTES]
    if skips:
        last = skips[-1]
        fate = REJECTED if last.reason == REJECTED else SKIPPED
        reason = last.entry if fate == REJECTED else last.reason
        entry = "" if fate == REJECTED else last.entry
        return answer | {
            "fate": fate,
            "reason": reason,
            "entry": entry,
            "position": last.position,
            "at": last.occurred_at,
        }
    return answer | {"fate": "not_seen"}


def email_by_message_id(conn: Connection, viewer: Viewer, message_id: str) -> str | None:
    """The workspace's email with this (bare) Message-ID, if any."""
    found = select(emails.c.id).where(
        emails.c.workspace_id == viewer.workspace_id, emails.c.message_id == message_id
    )
    return conn.execute(found.limit(1)).scalar()


def timeline_links(conn: Connection, viewer: Viewer, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Where each audit row's aggregate can be looked at: a copy's email (to explain it), else
    the aggregate's own events."""
    copies = [r["aggregate_id"] for r in rows if r["aggregate_type"] == "SyncedMessage"]
    found = conn.execute(
        select(email_copies.c.id, email_copies.c.email_id).where(
            email_copies.c.id.in_(copies), email_copies.c.workspace_id == viewer.workspace_id
        )
    )
    return {r.id: r.email_id for r in found}


def mailbox_months(conn: Connection, viewer: Viewer, mailbox_id: str) -> list[dict[str, Any]]:
    """A mailbox's messages stored, skipped and rejected per month of syncing, oldest first."""
    rows = conn.execute(
        select(mailbox_months_table)
        .where(
            mailbox_months_table.c.mailbox_id == mailbox_id,
            mailbox_months_table.c.workspace_id == viewer.workspace_id,
        )
        .order_by(mailbox_months_table.c.month)
    )
    return [
        {"month": r.month, "stored": r.stored, "skipped": r.skipped, "rejected": r.rejected} for r in rows
    ]
