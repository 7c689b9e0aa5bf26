"""Emails view: one email per message, one copy per mailbox, participants per copy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from domain.synced_message import SyncedMessage
from domain.threads import thread_key
from projections.tables import email_copies, email_participants, emails
from projections.writer import Handler, ViewWriter

ROLES = ("from", "sender", "reply_to", "to", "cc", "bcc")


def message_recorded(event: Any, w: ViewWriter, position: int) -> None:
    headers = event.headers
    if headers.get("erased"):
        return  # content erased by crypto-shredding; its mailbox's removal retracted the copy
    copy_id = str(event.originator_id)
    thread = thread_key(headers, event.email_id)
    sender = headers["from"][0][0] if headers["from"] else None
    w.insert(emails, {
        "id": event.email_id,
        "workspace_id": event.workspace_id,
        "message_id": headers["message_id"],
        "subject": headers["subject"],
        "sent_at": headers["date"],
        "from_address": sender,
        "in_reply_to": headers["in_reply_to"],
        "thread_key": thread,
    }, ignore_conflict=True)
    w.insert(email_copies, {
        "id": copy_id,
        "email_id": event.email_id,
        "workspace_id": event.workspace_id,
        "mailbox_id": event.mailbox_id,
        "folder": event.folder,
        "direction": event.direction,
        "sent_at": headers["date"],
        "thread_key": thread,
        "position": position,
        "bulk": bool(headers.get("bulk", False)),
    })
    seen: set[tuple[str, str]] = set()
    for role in ROLES:
        for address, name in headers[role]:
            if (address, role) in seen:
                continue
            seen.add((address, role))
            w.insert(email_participants, {
                "copy_id": copy_id,
                "address": address,
                "role": role,
                "email_id": event.email_id,
                "workspace_id": event.workspace_id,
                "name": name,
                "domain": address.rpartition("@")[2],
            })


def message_expunged(event: Any, w: ViewWriter, position: int) -> None:
    w.execute(
        update(email_copies)
        .where(email_copies.c.id == str(event.originator_id))
        .values(expunged_at=position)
    )


HANDLERS: dict[type, Handler] = {
    SyncedMessage.Recorded: message_recorded,
    SyncedMessage.Expunged: message_expunged,
}
