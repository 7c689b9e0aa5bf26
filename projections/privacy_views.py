"""Hiding rules on the emails view: internal-only, excluded and blocklisted copies.

Each rule is recomputed when its inputs change, so a change is retroactive and
undoing it shows the copies again. The position of the event that hid a copy is
kept for `explain`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, and_, exists, false, or_, select, update

from domain.mailbox import Mailbox
from domain.synced_message import SyncedMessage
from domain.workspace import Workspace
from projections import interaction_views
from projections.email_queries import HIDING_COLUMNS
from projections.internal import internal_set_of
from projections.tables import email_copies, email_participants, grants, mailboxes, unparsed_participants
from projections.writer import Handler, ViewWriter

# The events that change a workspace's internal addresses.
WorkspaceMembership = (
    Workspace.MemberAdded
    | Workspace.MemberEmailAdded
    | Workspace.MailboxRegistered
    | Workspace.MailboxUnregistered
    | Workspace.InternalDomainsSet
)


def _participant(copy_match: ColumnElement[bool]) -> Any:
    return exists().where(email_participants.c.copy_id == email_copies.c.id, copy_match)


def _matching(entries: list[str], table: Table = email_participants) -> ColumnElement[bool]:
    """A participant matches an address entry, or a domain entry or its subdomains."""
    addresses = [e for e in entries if "@" in e]
    domains = [e for e in entries if "@" not in e]
    clauses: list[ColumnElement[bool]] = []
    if addresses:
        clauses.append(table.c.address.in_(addresses))
    if domains:
        clauses.append(table.c.domain.in_(domains))
        clauses += [table.c.domain.endswith("." + d, autoescape=True) for d in domains]
    return or_(*clauses) if clauses else false()


def _screened(entries: list[str]) -> ColumnElement[bool]:
    """Blocklists and exclusions also match participants whose address did not normalise."""
    unparsed = exists().where(
        unparsed_participants.c.copy_id == email_copies.c.id, _matching(entries, unparsed_participants)
    )
    return or_(_participant(_matching(entries)), unparsed)


def _set_flag(
    w: ViewWriter, scope: ColumnElement[bool], column: str, hidden: Any, position: int, **extra: Any
) -> None:
    """Hide the copies in `scope` that match `hidden`; show the ones that no longer do."""
    flag = email_copies.c[column]
    w.execute(update(email_copies).where(scope, flag.is_(None), hidden).values({column: position, **extra}))
    cleared = {column: None, **{k: None for k in extra}}
    w.execute(update(email_copies).where(scope, flag.is_not(None), ~hidden).values(cleared))


HIDDEN_COPY = or_(*(email_copies.c[c].is_not(None) for c in HIDING_COLUMNS))


def sync_hidden(w: ViewWriter, scope: ColumnElement[bool], workspace_id: str) -> None:
    """Carry the copies' hiding in `scope` over to their participant rows (the record lists' index)."""
    for hidden, copies in ((True, HIDDEN_COPY), (False, ~HIDDEN_COPY)):
        flipping = and_(
            email_participants.c.hidden.is_(not hidden),
            email_participants.c.copy_id.in_(select(email_copies.c.id).where(scope, copies)),
        )
        interaction_views.note_participants(w, flipping)  # only their records' summaries change
        w.execute(update(email_participants).where(flipping).values(hidden=hidden))
    w.all_threads_changed(workspace_id)


def recompute_internal(event: WorkspaceMembership, w: ViewWriter, position: int) -> None:
    workspace_id = str(event.originator_id)
    w.flush()
    internal, _ = internal_set_of(w.conn, workspace_id)
    external = and_(
        email_participants.c.address.not_in(sorted(internal.addresses)),
        email_participants.c.domain.not_in(sorted(internal.domains)),
    )
    scope = email_copies.c.workspace_id == workspace_id
    _set_flag(w, scope, "internal_at", ~_participant(external), position)
    sync_hidden(w, scope, workspace_id)


def recompute_excluded(event: Workspace.ExclusionsSet, w: ViewWriter, position: int) -> None:
    scope = email_copies.c.workspace_id == str(event.originator_id)
    _set_flag(w, scope, "excluded_at", _screened(list(event.entries)), position)
    sync_hidden(w, scope, str(event.originator_id))


def recompute_blocklisted(
    event: Mailbox.BlocklistEntryAdded | Mailbox.BlocklistEntryRemoved, w: ViewWriter, position: int
) -> None:
    mailbox = w.execute(select(mailboxes).where(mailboxes.c.id == str(event.originator_id))).one()
    scope = email_copies.c.mailbox_id == mailbox.id
    if isinstance(event, Mailbox.BlocklistEntryAdded):
        hidden = _screened([event.entry])
        w.execute(
            update(email_copies)
            .where(scope, email_copies.c.blocklisted_at.is_(None), hidden)
            .values(blocklisted_at=position, blocklisted_entry=event.entry)
        )
        sync_hidden(w, scope, mailbox.workspace_id)
        return
    w.execute(
        update(email_copies)
        .where(scope, email_copies.c.blocklisted_entry == event.entry)
        .values(blocklisted_at=None, blocklisted_entry=None)
    )
    for entry in mailbox.blocklist:
        w.execute(
            update(email_copies)
            .where(scope, email_copies.c.blocklisted_at.is_(None), _screened([entry]))
            .values(blocklisted_at=mailbox.blocklist_at[entry], blocklisted_entry=entry)
        )
    sync_hidden(w, scope, mailbox.workspace_id)


def shared(event: SyncedMessage.Shared, w: ViewWriter, position: int) -> None:
    copy = w.execute(select(email_copies).where(email_copies.c.id == str(event.originator_id))).one()
    w.insert(
        grants,
        {
            "id": event.grant_id,
            "workspace_id": copy.workspace_id,
            "copy_id": copy.id,
            "mailbox_id": copy.mailbox_id,
            "email_id": copy.email_id,
            "thread_key": copy.thread_key,
            "thread": event.thread,
            "members": sorted(event.members),
            "everyone": event.everyone,
            "granted_by": event.by,
            "position": position,
            "revoked_at": None,
        },
    )


def share_revoked(event: SyncedMessage.ShareRevoked, w: ViewWriter, position: int) -> None:
    w.execute(update(grants).where(grants.c.id == event.grant_id).values(revoked_at=position))


HANDLERS: dict[type, Handler] = {
    Workspace.MemberAdded: recompute_internal,
    Workspace.MemberEmailAdded: recompute_internal,
    Workspace.MailboxRegistered: recompute_internal,
    Workspace.MailboxUnregistered: recompute_internal,
    Workspace.InternalDomainsSet: recompute_internal,
    Workspace.ExclusionsSet: recompute_excluded,
    Mailbox.BlocklistEntryAdded: recompute_blocklisted,
    Mailbox.BlocklistEntryRemoved: recompute_blocklisted,
    SyncedMessage.Shared: shared,
    SyncedMessage.ShareRevoked: share_revoked,
}
