"""Import a stream of raw messages into a mailbox, batch by batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from application.ports import Item, Rejected
from application.batch_recorder import BatchRecorder
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
        return Rejected(ref, "too_large")
    return parse(raw)


def batches(messages: Iterable[RawMessage], parse: Parser, size: int = BATCH_SIZE) -> Iterator[tuple[str, list[Item]]]:
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
