"""The fates of messages a mailbox skipped or rejected: what diagnostics answers them by."""

from __future__ import annotations

from sqlalchemy import select

from domain.mailbox import Mailbox
from projections.tables import mailboxes, message_fates
from projections.writer import Handler, ViewWriter

COLUMNS = ("mailbox_id", "fate_hash", "reason", "entry", "workspace_id", "position", "occurred_at")


def fates_recorded(event: Mailbox.BatchRecorded, w: ViewWriter, position: int) -> None:
    """The first time a message met each fate is kept: a re-import that skips it again adds nothing."""
    if not event.fates:
        return
    mailbox_id = str(event.originator_id)
    workspace_id = w.execute(
        select(mailboxes.c.workspace_id).where(mailboxes.c.id == mailbox_id)
    ).scalar_one()
    at = event.timestamp.isoformat()
    rows = {(h, reason): entry for h, reason, entry in event.fates}
    w.insert_rows(
        message_fates,
        COLUMNS,
        ((mailbox_id, h, reason, entry, workspace_id, position, at) for (h, reason), entry in rows.items()),
        ignore_conflict=True,
    )


HANDLERS: dict[type, Handler] = {Mailbox.BatchRecorded: fates_recorded}
