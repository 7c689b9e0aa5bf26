"""Emails view: one email per message, one copy per mailbox, participants per copy; a removed
mailbox's copies retracted."""

from __future__ import annotations

from sqlalchemy import and_, delete, exists, select, update

from domain.mailbox import Mailbox
from domain.synced_message import SyncedMessage
from domain.threads import thread_key
from projections import interaction_views
from projections.email_queries import HIDING_COLUMNS
from projections.tables import (
    email_copies,
    email_participants,
    emails,
    grants,
    mailboxes,
    unparsed_participants,
)
from projections.writer import Handler, ViewWriter

ROLES = ("from", "sender", "reply_to", "to", "cc", "bcc")
# Column orders of the rows written for every recorded copy (as tuples: the hot path).
EMAIL_COLUMNS = (
    "id",
    "workspace_id",
    "message_id",
    "subject",
    "sent_at",
    "from_address",
    "in_reply_to",
    "thread_key",
)
COPY_COLUMNS = (
    "id",
    "email_id",
    "workspace_id",
    "mailbox_id",
    "folder",
    "direction",
    "sent_at",
    "thread_key",
    "position",
    "bulk",
)
PARTICIPANT_COLUMNS = (
    "copy_id",
    "address",
    "role",
    "email_id",
    "workspace_id",
    "name",
    "domain",
    "sent_at",
    "owner_id",
    "direction",
)
UNPARSED_COLUMNS = ("copy_id", "address", "workspace_id", "domain")


def message_recorded(event: SyncedMessage.Recorded, w: ViewWriter, position: int) -> None:
    headers = event.headers
    if "erased" in headers:
        return  # content erased by crypto-shredding; its mailbox's removal retracted the copy
    copy_id = str(event.originator_id)
    email_id, workspace_id = event.email_id, event.workspace_id
    thread = thread_key(headers, email_id)
    sent_at = headers["date"]
    sender = headers["from"][0][0] if headers["from"] else None
    w.insert_row(
        emails,
        EMAIL_COLUMNS,
        (
            email_id,
            workspace_id,
            headers["message_id"],
            headers["subject"],
            sent_at,
            sender,
            headers["in_reply_to"],
            thread,
        ),
        ignore_conflict=True,
    )
    w.insert_row(
        email_copies,
        COPY_COLUMNS,
        (
            copy_id,
            email_id,
            workspace_id,
            event.mailbox_id,
            event.folder,
            event.direction,
            sent_at,
            thread,
            position,
            bool(headers.get("bulk", False)),
        ),
    )
    named: dict[tuple[str, str], str] = {}  # (address, role) -> the first name given
    for role in ROLES:
        for address, name in headers[role]:
            named.setdefault((address, role), name)
    owner, direction, when = owner_of(w, event.mailbox_id), event.direction, sent_at or ""
    w.insert_rows(
        email_participants,
        PARTICIPANT_COLUMNS,
        [
            (
                copy_id,
                address,
                role,
                email_id,
                workspace_id,
                name,
                address.rpartition("@")[2],
                when,
                owner,
                direction,
            )
            for (address, role), name in named.items()
        ],
    )
    unparsed = headers.get("unparsed") or ()  # absent from copies recorded before it was kept
    if unparsed:
        w.insert_rows(
            unparsed_participants,
            UNPARSED_COLUMNS,
            [
                (copy_id, address, workspace_id, address.rpartition("@")[2])
                for address in dict.fromkeys(unparsed)
            ],
        )
    w.changed_threads(workspace_id).add(thread)


def owner_of(w: ViewWriter, mailbox_id: str) -> str:
    """The member whose mailbox it is (a mailbox never changes hands), read once a page."""
    owners: dict[str, str] = w.memo.setdefault("owners", {})
    owner = owners.get(mailbox_id)
    if owner is None:
        owner = owners[mailbox_id] = w.execute(
            select(mailboxes.c.owner_id).where(mailboxes.c.id == mailbox_id)
        ).scalar_one()
    return owner


def message_expunged(event: SyncedMessage.Expunged, w: ViewWriter, position: int) -> None:
    """Hidden as expunged; its mailbox's `synced` counts the copies it still holds."""
    _mark_expunged(w, str(event.originator_id), position)


def message_restored(event: SyncedMessage.Restored, w: ViewWriter, position: int) -> None:
    """Shown again: found on the server after its retraction."""
    _mark_expunged(w, str(event.originator_id), None)


def _mark_expunged(w: ViewWriter, copy_id: str, position: int | None) -> None:
    copy = email_copies.c
    held = copy.expunged_at.is_(None) if position is not None else copy.expunged_at.is_not(None)
    holder = select(copy.mailbox_id).where(copy.id == copy_id, held).scalar_subquery()
    step = -1 if position is not None else 1
    w.execute(update(mailboxes).where(mailboxes.c.id == holder).values(synced=mailboxes.c.synced + step))
    w.execute(update(email_copies).where(copy.id == copy_id).values(expunged_at=position))
    found = w.execute(select(email_copies).where(copy.id == copy_id)).first()
    if found is None:
        return
    hidden = any(getattr(found, column) is not None for column in HIDING_COLUMNS)
    w.execute(update(email_participants).where(email_participants.c.copy_id == copy_id).values(hidden=hidden))
    w.changed_threads(found.workspace_id).add(found.thread_key)


def mailbox_retracted(event: Mailbox.Removed, w: ViewWriter, position: int) -> None:
    """Retract every copy of the removed mailbox from the views at once; records stay."""
    mailbox_id = str(event.originator_id)
    copies = select(email_copies.c.id).where(email_copies.c.mailbox_id == mailbox_id)
    touched = select(email_copies.c.email_id).where(email_copies.c.mailbox_id == mailbox_id)
    retracted = email_participants.c.copy_id.in_(copies)
    interaction_views.note_participants(w, and_(retracted, email_participants.c.hidden.is_(False)))
    w.execute(delete(email_participants).where(retracted))
    w.execute(delete(unparsed_participants).where(unparsed_participants.c.copy_id.in_(copies)))
    w.execute(delete(grants).where(grants.c.mailbox_id == mailbox_id))
    orphans = select(emails.c.id).where(
        emails.c.id.in_(touched),
        ~exists().where(email_copies.c.email_id == emails.c.id, email_copies.c.mailbox_id != mailbox_id),
    )
    w.execute(delete(emails).where(emails.c.id.in_(orphans)))
    w.execute(delete(email_copies).where(email_copies.c.mailbox_id == mailbox_id))
    workspace_id = w.execute(
        select(mailboxes.c.workspace_id).where(mailboxes.c.id == mailbox_id)
    ).scalar_one()
    w.all_threads_changed(workspace_id)


HANDLERS: dict[type, Handler] = {
    SyncedMessage.Recorded: message_recorded,
    SyncedMessage.Expunged: message_expunged,
    SyncedMessage.Restored: message_restored,
    Mailbox.Removed: mailbox_retracted,
}
