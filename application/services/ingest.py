"""Ingest: raw messages into a mailbox, one upload at a time or an import batch by batch.

Every origin (uploads, mbox/Maildir imports, IMAP passes) records through BatchRecorder."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from application.app import MailTrail
from application.batch_recorder import BatchRecorder
from application.errors import RuleViolationError
from application.ports import Item, Rejected
from domain.authority import require_owner
from domain.mailbox import Mailbox
from domain.message import MAX_MESSAGE_BYTES, ParsedMessage

BATCH_SIZE = 1000

RawMessage = tuple[str, str, bytes]
Parser = Callable[[bytes], ParsedMessage]


@dataclass
class ImportTotals:
    seen: int = 0
    synced: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    position: int = 0


def to_item(raw: bytes, ref: str, parse: Parser) -> Item:
    if not raw.strip():
        return Rejected(ref, "empty")
    if len(raw) > MAX_MESSAGE_BYTES:
        return Rejected(ref, "too_large", header_message_id(raw))
    return parse(raw)


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]{1,900}>)", re.IGNORECASE | re.MULTILINE)


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID of a message not parsed (too large): looked for in its header only."""
    head = re.split(rb"\r?\n\r?\n", raw[:262144], maxsplit=1)[0]
    found = _MESSAGE_ID.search(head)
    return found.group(1).decode("ascii", "replace") if found else None


def batches(
    messages: Iterable[RawMessage], parse: Parser, size: int = BATCH_SIZE
) -> Iterator[tuple[str, list[Item]]]:
    """Messages parsed here, grouped by folder `size` at a time."""
    return group((folder, to_item(raw, ref, parse)) for folder, ref, raw in messages)


def group(items: Iterable[tuple[str, Item]], size: int = BATCH_SIZE) -> Iterator[tuple[str, list[Item]]]:
    """Parsed messages grouped by folder, `size` at a time (folders may interleave)."""
    pending: dict[str, list[Item]] = {}
    for folder, item in items:
        batch = pending.setdefault(folder, [])
        batch.append(item)
        if len(batch) >= size:
            yield folder, pending.pop(folder)
    yield from pending.items()


@dataclass(frozen=True)
class Upload:
    """One posted message: stored (with its email and copy ids) or skipped (with the reason)."""

    position: int
    copy_id: str | None = None
    email_id: str | None = None
    skipped: str | None = None


class Ingest:
    def __init__(self, app: MailTrail, parse: Parser) -> None:
        self.app = app
        self.parse = parse

    def upload(self, workspace_id: str, mailbox_id: str, actor_id: str, raw: bytes) -> Upload:
        """One raw RFC 822 message (forwarding, uploads) into the actor's own mailbox."""
        if not raw.strip():
            raise RuleViolationError("the message is empty")
        require_owner(self.app.load(Mailbox, mailbox_id, workspace_id).owner_id, actor_id)
        result = BatchRecorder(self.app, mailbox_id).record(
            "upload", [to_item(raw, "upload", self.parse)], None
        )
        if result.copies:
            copy_id, email_id = result.copies[0]
            return Upload(result.position, copy_id, email_id)
        return Upload(result.position, skipped=next(iter(result.skipped), "unknown"))

    def import_messages(
        self,
        mailbox_id: str,
        parsed: Iterable[tuple[str, list[Item]]],
        on_batch: Callable[[int], None] | None = None,
    ) -> ImportTotals:
        """Batches already parsed (grouped by folder), recorded in order; idempotent."""
        self.require_mailbox(mailbox_id)
        return import_batches(BatchRecorder(self.app, mailbox_id), parsed, on_batch)

    def require_mailbox(self, mailbox_id: str) -> None:
        """NotFoundError unless the mailbox exists: checked before an import reads any file."""
        self.app.load(Mailbox, mailbox_id)

    def import_raw(
        self, mailbox_id: str, messages: Iterable[RawMessage], on_batch: Callable[[int], None] | None = None
    ) -> ImportTotals:
        """(folder, ref, raw) messages, parsed here."""
        return self.import_messages(mailbox_id, batches(messages, self.parse), on_batch)


def import_batches(
    syncer: BatchRecorder,
    parsed: Iterable[tuple[str, list[Item]]],
    on_batch: Callable[[int], None] | None = None,
) -> ImportTotals:
    totals = ImportTotals()
    for folder, items in parsed:
        result = syncer.record(folder, items, None)
        totals.seen += len(items)
        totals.synced += result.synced
        totals.skipped.update(result.skipped)
        totals.rejected.update(r["reason"] for r in result.rejected)
        totals.position = result.position
        if on_batch is not None:
            on_batch(len(items))
    return totals
