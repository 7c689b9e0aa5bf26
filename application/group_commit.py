"""Group commit of single messages into one mailbox: messages that arrive while a batch of that
mailbox is being saved wait, and the next writer saves them all as one batch.

Concurrent SMTP connections capture into the same `forwarded` mailbox; saved one by one they
would race for the mailbox's version (optimistic concurrency) and retry. Here one thread per
mailbox writes at a time, and it takes everything that queued up meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from application.batch_recorder import BatchResult
from application.ports import Item

Record = Callable[[str, list[Item]], BatchResult]  # (mailbox id, items) -> the batch's result


@dataclass
class _Slot:
    item: Item
    result: BatchResult | None = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit:
    def __init__(self, record: Record, max_batch: int = 500) -> None:
        self.record_batch = record
        self.max_batch = max_batch
        self._guard = threading.Lock()
        self._queues: dict[str, list[_Slot]] = {}
        self._writers: dict[str, threading.Lock] = {}

    def record(self, mailbox_id: str, item: Item) -> BatchResult:
        """The result of the batch `item` was saved in (with whatever joined it)."""
        slot = _Slot(item)
        with self._guard:
            self._queues.setdefault(mailbox_id, []).append(slot)
            writer = self._writers.setdefault(mailbox_id, threading.Lock())
        while not slot.done:
            with writer:
                if slot.done:
                    break
                with self._guard:
                    queue = self._queues.get(mailbox_id, [])
                    batch, rest = queue[: self.max_batch], queue[self.max_batch :]
                    if rest:
                        self._queues[mailbox_id] = rest
                    else:
                        self._queues.pop(mailbox_id, None)
                try:
                    result = self.record_batch(mailbox_id, [s.item for s in batch])
                except Exception as error:  # noqa: BLE001 - every waiter of the batch hears of it
                    for waiting in batch:
                        waiting.error, waiting.done = error, True
                else:
                    for waiting in batch:
                        waiting.result, waiting.done = result, True
        if slot.error is not None:
            raise slot.error
        assert slot.result is not None
        return slot.result
