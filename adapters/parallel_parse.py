"""Parse raw messages in worker processes while the caller saves: the two cores overlap.

Work is handed out in bounded windows, so memory stays flat whatever the mailbox size."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice

from adapters.mime import parse_message
from application.ports import Item
from application.services.ingest import RawMessage, to_item

CHUNK = 200
IN_FLIGHT = 4


def _parse_chunk(chunk: list[RawMessage]) -> list[tuple[str, Item]]:
    return [(folder, to_item(raw, ref, parse_message)) for folder, ref, raw in chunk]


def default_workers() -> int:
    """One parser per spare core; none on a single core."""
    return max(0, (os.cpu_count() or 1) - 1)


def parsed(messages: Iterable[RawMessage], workers: int | None = None) -> Iterator[tuple[str, Item]]:
    """(folder, item) for each raw message, in order."""
    workers = default_workers() if workers is None else workers
    iterator = iter(messages)
    if workers == 0:
        for chunk in iter(lambda: list(islice(iterator, CHUNK)), []):
            yield from _parse_chunk(chunk)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pending: deque[multiprocessing.pool.AsyncResult[list[tuple[str, Item]]]] = deque()
        for chunk in iter(lambda: list(islice(iterator, CHUNK)), []):
            pending.append(pool.apply_async(_parse_chunk, (chunk,)))
            if len(pending) >= IN_FLIGHT * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
