"""Workspaces, members and mailboxes views."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from domain.mailbox import Mailbox
from domain.workspace import Workspace
from projections.tables import mailboxes, members, workspaces
from projections.writer import Handler, ViewWriter


def _stamp(event: Any) -> str:
    return event.timestamp.isoformat()


def workspace_created(event: Workspace.Created, w: ViewWriter, position: int) -> None:
    w.insert(workspaces, {
        "id": str(event.originator_id),
        "name": event.name,
        "signup_domain": event.signup_domain,
        "plan": event.plan,
        "record_creation": "selective",
        "internal_domains": [event.signup_domain],
        "exclusions": [],
        "legal_hold": False,
        "created_at": _stamp(event),
    })


def _set_workspace(**values: Any) -> Handler:
    def handle(event: Any, w: ViewWriter, position: int) -> None:
        row = {column: getattr(event, attr) for column, attr in values.items()}
        w.execute(update(workspaces).where(workspaces.c.id == str(event.originator_id)).values(**row))
    return handle


def member_added(event: Any, w: ViewWriter, position: int) -> None:
    w.insert(members, {
        "id": event.member_id,
        "workspace_id": str(event.originator_id),
        "name": event.name,
        "role": event.role,
        "emails": event.emails,
        "created_at": _stamp(event),
    })


def mailbox_created(event: Mailbox.Created, w: ViewWriter, position: int) -> None:
    w.insert(mailboxes, {
        "id": str(event.originator_id),
        "workspace_id": event.workspace_id,
        "owner_id": event.owner_id,
        "provider": event.provider,
        "address": event.address,
        "aliases": event.aliases,
        "sharing": "metadata",
        "status": "active",
        "status_reason": "",
        "blocklist": [],
        "cursors": {},
        "synced": 0,
        "skipped": {},
        "rejected": 0,
        "last_sync_at": None,
        "created_at": _stamp(event),
    })


def _mailbox_row(w: ViewWriter, mailbox_id: str) -> Any:
    return w.execute(mailboxes.select().where(mailboxes.c.id == mailbox_id)).one()


def _update_mailbox(w: ViewWriter, event: Any, **values: Any) -> None:
    w.execute(update(mailboxes).where(mailboxes.c.id == str(event.originator_id)).values(**values))


def sharing_changed(event: Any, w: ViewWriter, position: int) -> None:
    _update_mailbox(w, event, sharing=event.level)


def blocklist_changed(event: Any, w: ViewWriter, position: int) -> None:
    row = _mailbox_row(w, str(event.originator_id))
    entries = [e for e in row.blocklist if e != event.entry]
    if isinstance(event, Mailbox.BlocklistEntryAdded):
        entries.append(event.entry)
    _update_mailbox(w, event, blocklist=entries)


def batch_recorded(event: Any, w: ViewWriter, position: int) -> None:
    row = _mailbox_row(w, str(event.originator_id))
    skipped = dict(row.skipped)
    for reason, count in event.skipped.items():
        skipped[reason] = skipped.get(reason, 0) + count
    cursors = dict(row.cursors)
    if event.cursor is not None:
        cursors[event.folder] = event.cursor
    _update_mailbox(
        w, event,
        synced=row.synced + event.synced,
        skipped=skipped,
        rejected=row.rejected + len(event.rejected),
        cursors=cursors,
        last_sync_at=_stamp(event),
    )


def status_changed(event: Any, w: ViewWriter, position: int) -> None:
    _update_mailbox(w, event, status=event.status, status_reason=event.reason)


def mailbox_removed(event: Any, w: ViewWriter, position: int) -> None:
    _update_mailbox(w, event, status="removed")


HANDLERS: dict[type, Handler] = {
    Workspace.Created: workspace_created,
    Workspace.MemberAdded: member_added,
    Workspace.InternalDomainsSet: _set_workspace(internal_domains="domains"),
    Workspace.ExclusionsSet: _set_workspace(exclusions="entries"),
    Workspace.RecordPolicySet: _set_workspace(record_creation="policy"),
    Workspace.PlanSet: _set_workspace(plan="plan"),
    Workspace.LegalHoldSet: _set_workspace(legal_hold="held"),
    Mailbox.Created: mailbox_created,
    Mailbox.SharingChanged: sharing_changed,
    Mailbox.BlocklistEntryAdded: blocklist_changed,
    Mailbox.BlocklistEntryRemoved: blocklist_changed,
    Mailbox.BatchRecorded: batch_recorded,
    Mailbox.StatusChanged: status_changed,
    Mailbox.Removed: mailbox_removed,
}
