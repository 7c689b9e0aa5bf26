"""Workspaces, members and mailboxes views."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEvent
from sqlalchemy import select, update

from domain.mailbox import ERROR, REMOVED, Mailbox, merge_skip_counts
from domain.workspace import Workspace
from projections.tables import mailboxes, members, workspaces
from projections.writer import Handler, ViewWriter


def _stamp(event: DomainEvent) -> str:
    return event.timestamp.isoformat()


def workspace_created(event: Workspace.Created, w: ViewWriter, position: int) -> None:
    w.insert(
        workspaces,
        {
            "id": str(event.originator_id),
            "name": event.name,
            "signup_domain": event.signup_domain,
            "plan": event.plan,
            "record_creation": event.record_policy,
            "internal_domains": [event.signup_domain],
            "exclusions": [],
            "member_addresses": [],
            "mailbox_addresses": {},
            "legal_hold": False,
            "created_at": _stamp(event),
            "auto_internal_domains": event.auto_internal_domains,
        },
    )


def _update_workspace(w: ViewWriter, event: DomainEvent, **values: Any) -> None:
    w.execute(update(workspaces).where(workspaces.c.id == str(event.originator_id)).values(**values))


def mailbox_registered(event: Workspace.MailboxRegistered, w: ViewWriter, position: int) -> None:
    row = _workspace_row(w, str(event.originator_id))
    _update_workspace(
        w, event, mailbox_addresses={**row.mailbox_addresses, event.mailbox_id: event.addresses}
    )


def mailbox_unregistered(event: Workspace.MailboxUnregistered, w: ViewWriter, position: int) -> None:
    row = _workspace_row(w, str(event.originator_id))
    remaining = {k: v for k, v in row.mailbox_addresses.items() if k != event.mailbox_id}
    _update_workspace(w, event, mailbox_addresses=remaining)


def internal_domains_set(event: Workspace.InternalDomainsSet, w: ViewWriter, position: int) -> None:
    _update_workspace(w, event, internal_domains=event.domains)


def exclusions_set(event: Workspace.ExclusionsSet, w: ViewWriter, position: int) -> None:
    _update_workspace(w, event, exclusions=event.entries)


def record_policy_set(event: Workspace.RecordPolicySet, w: ViewWriter, position: int) -> None:
    _update_workspace(w, event, record_creation=event.policy)


def plan_set(event: Workspace.PlanSet, w: ViewWriter, position: int) -> None:
    _update_workspace(w, event, plan=event.plan)


def legal_hold_set(event: Workspace.LegalHoldSet, w: ViewWriter, position: int) -> None:
    _update_workspace(w, event, legal_hold=event.held)


def auto_internal_domains_set(event: Workspace.AutoInternalDomainsSet, w: ViewWriter, position: int) -> None:
    _update_workspace(w, event, auto_internal_domains=event.enabled)


def _workspace_row(w: ViewWriter, workspace_id: str) -> Any:
    return w.execute(workspaces.select().where(workspaces.c.id == workspace_id)).one()


def member_added(event: Workspace.MemberAdded, w: ViewWriter, position: int) -> None:
    row = _workspace_row(w, str(event.originator_id))
    _update_workspace(w, event, member_addresses=sorted({*row.member_addresses, *event.emails}))
    w.insert(
        members,
        {
            "id": event.member_id,
            "workspace_id": str(event.originator_id),
            "name": event.name,
            "role": event.role,
            "emails": event.emails,
            "created_at": _stamp(event),
        },
    )


def member_email_added(event: Workspace.MemberEmailAdded, w: ViewWriter, position: int) -> None:
    row = _workspace_row(w, str(event.originator_id))
    _update_workspace(w, event, member_addresses=sorted({*row.member_addresses, event.address}))
    emails = w.execute(select(members.c.emails).where(members.c.id == event.member_id)).scalar_one()
    w.execute(update(members).where(members.c.id == event.member_id).values(emails=[*emails, event.address]))


def mailbox_created(event: Mailbox.Created, w: ViewWriter, position: int) -> None:
    w.insert(
        mailboxes,
        {
            "id": str(event.originator_id),
            "workspace_id": event.workspace_id,
            "owner_id": event.owner_id,
            "provider": event.provider,
            "address": event.address,
            "aliases": event.aliases,
            "sharing": event.sharing,
            "status": event.status,
            "status_reason": "",
            "blocklist": [],
            "blocklist_at": {},
            "cursors": {},
            "synced": 0,
            "skipped": {},
            "rejected": 0,
            "sharing_at": position,
            "removed_at": None,
            "erased_at": None,
            "last_sync_at": None,
            "created_at": _stamp(event),
        },
    )


def _mailbox_row(w: ViewWriter, mailbox_id: str) -> Any:
    return w.execute(mailboxes.select().where(mailboxes.c.id == mailbox_id)).one()


def _update_mailbox(w: ViewWriter, event: DomainEvent, **values: Any) -> None:
    w.execute(update(mailboxes).where(mailboxes.c.id == str(event.originator_id)).values(**values))


def sharing_changed(event: Mailbox.SharingChanged, w: ViewWriter, position: int) -> None:
    _update_mailbox(w, event, sharing=event.level, sharing_at=position)


def blocklist_changed(
    event: Mailbox.BlocklistEntryAdded | Mailbox.BlocklistEntryRemoved, w: ViewWriter, position: int
) -> None:
    row = _mailbox_row(w, str(event.originator_id))
    entries = [e for e in row.blocklist if e != event.entry]
    added_at = {e: p for e, p in row.blocklist_at.items() if e != event.entry}
    if isinstance(event, Mailbox.BlocklistEntryAdded):
        entries.append(event.entry)
        added_at[event.entry] = position
    _update_mailbox(w, event, blocklist=entries, blocklist_at=added_at)


def batch_recorded(event: Mailbox.BatchRecorded, w: ViewWriter, position: int) -> None:
    row = _mailbox_row(w, str(event.originator_id))
    cursors = dict(row.cursors)
    if event.cursor is not None:
        cursors[event.folder] = event.cursor
    _update_mailbox(
        w,
        event,
        synced=row.synced + event.synced,
        skipped=merge_skip_counts(row.skipped, event.skipped),
        rejected=row.rejected + len(event.rejected),
        cursors=cursors,
        last_sync_at=_stamp(event),
    )


def folder_forgotten(event: Mailbox.FolderForgotten, w: ViewWriter, position: int) -> None:
    row = _mailbox_row(w, str(event.originator_id))
    _update_mailbox(w, event, cursors={k: v for k, v in row.cursors.items() if k != event.folder})


def address_set(event: Mailbox.AddressSet, w: ViewWriter, position: int) -> None:
    _update_mailbox(w, event, address=event.address)


def status_changed(event: Mailbox.StatusChanged, w: ViewWriter, position: int) -> None:
    error = {"last_error": event.reason, "last_error_at": _stamp(event)} if event.status == ERROR else {}
    _update_mailbox(w, event, status=event.status, status_reason=event.reason, **error)


def mailbox_removed(event: Mailbox.Removed, w: ViewWriter, position: int) -> None:
    """The mailbox stays listed as removed; email_views.mailbox_retracted retracts its copies."""
    _update_mailbox(w, event, status=REMOVED, removed_at=position)


def mailbox_erased(event: Mailbox.Erased, w: ViewWriter, position: int) -> None:
    _update_mailbox(w, event, erased_at=position)


HANDLERS: dict[type, Handler] = {
    Workspace.Created: workspace_created,
    Workspace.MemberAdded: member_added,
    Workspace.MemberEmailAdded: member_email_added,
    Workspace.MailboxRegistered: mailbox_registered,
    Workspace.MailboxUnregistered: mailbox_unregistered,
    Workspace.InternalDomainsSet: internal_domains_set,
    Workspace.ExclusionsSet: exclusions_set,
    Workspace.RecordPolicySet: record_policy_set,
    Workspace.PlanSet: plan_set,
    Workspace.LegalHoldSet: legal_hold_set,
    Workspace.AutoInternalDomainsSet: auto_internal_domains_set,
    Mailbox.Created: mailbox_created,
    Mailbox.SharingChanged: sharing_changed,
    Mailbox.BlocklistEntryAdded: blocklist_changed,
    Mailbox.BlocklistEntryRemoved: blocklist_changed,
    Mailbox.BatchRecorded: batch_recorded,
    Mailbox.StatusChanged: status_changed,
    Mailbox.AddressSet: address_set,
    Mailbox.FolderForgotten: folder_forgotten,
    Mailbox.Removed: mailbox_removed,
    Mailbox.Erased: mailbox_erased,
}
