"""Per mailbox, what its batches met: the fates of the messages it skipped or rejected (what
diagnostics answers them by) and the counts per month of syncing (the console's chart)."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from domain.mailbox import Mailbox
from projections.tables import mailbox_months, mailboxes, message_fates
from projections.writer import Handler, ViewWriter

COLUMNS = ("mailbox_id", "fate_hash", "reason", "entry", "workspace_id", "position", "occurred_at")


def batch_recorded(event: Mailbox.BatchRecorded, w: ViewWriter, position: int) -> None:
    mailbox_id = str(event.originator_id)
    skipped = sum(len(keys) for keys in (event.skipped_keys or {}).values())
    if not (event.synced or skipped or event.rejected or event.fates):
        return  # only a cursor moved
    workspace_id = w.execute(
        select(mailboxes.c.workspace_id).where(mailboxes.c.id == mailbox_id)
    ).scalar_one()
    _count(
        w,
        mailbox_id,
        workspace_id,
        event.timestamp.strftime("%Y-%m"),
        event.synced,
        skipped,
        len(event.rejected),
    )
    if not event.fates:
        return
    at = event.timestamp.isoformat()
    first = {(h, reason): entry for h, reason, entry in event.fates}  # a re-import adds nothing
    w.insert_rows(
        message_fates,
        COLUMNS,
        ((mailbox_id, h, reason, entry, workspace_id, position, at) for (h, reason), entry in first.items()),
        ignore_conflict=True,
    )


def _count(
    w: ViewWriter, mailbox_id: str, workspace_id: str, month: str, stored: int, skipped: int, rejected: int
) -> None:
    key = (mailbox_months.c.mailbox_id == mailbox_id) & (mailbox_months.c.month == month)
    row = w.execute(select(mailbox_months).where(key)).first()
    if row is None:
        w.execute(
            insert(mailbox_months).values(
                mailbox_id=mailbox_id, month=month, workspace_id=workspace_id,
                stored=stored, skipped=skipped, rejected=rejected,
            )
        )  # fmt: skip
    else:
        w.execute(
            update(mailbox_months)
            .where(key)
            .values(
                stored=row.stored + stored, skipped=row.skipped + skipped, rejected=row.rejected + rejected
            )
        )


HANDLERS: dict[type, Handler] = {Mailbox.BatchRecorded: batch_recorded}
