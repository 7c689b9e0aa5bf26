"""Pausing Python's cyclic garbage collector over one bounded batch of work.

A page of events allocates hundreds of thousands of containers (notifications,
decoded headers, row tuples) that all live until the page is written; the collector
scans them again and again as they age, which was a third of a replay's time.
Reference counting still frees everything as usual; only reference cycles wait for
the end of the pause. Pauses nest and overlap across threads: the collector comes
back when the last one ends, if it was on when the first began."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_state = {"holders": 0, "restore": False}


@contextmanager
def collector_paused() -> Iterator[None]:
    with _lock:
        if _state["holders"] == 0:
            _state["restore"] = gc.isenabled()
            gc.disable()
        _state["holders"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["holders"] -= 1
            if _state["holders"] == 0 and _state["restore"]:
                gc.enable()
