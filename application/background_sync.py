"""Background scheduling of IMAP passes started by a request: at most one per mailbox in this
process, the views caught up as each pass goes (`caught_up`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from application.imap_sync import ImapSync, Progress

log = logging.getLogger(__name__)


class BackgroundSyncs:
    def __init__(self, imap_sync: Callable[[Progress], ImapSync], catch_up: Callable[[], object]) -> None:
        self.imap_sync = imap_sync  # a pass that reports its progress to the given callback
        self.catch_up = catch_up
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, mailbox_id: str) -> bool:
        """False when a pass of this mailbox is running already."""
        with self._lock:
            running = self._threads.get(mailbox_id)
            if running is not None and running.is_alive():
                return False
            thread = threading.Thread(target=self._run, args=(mailbox_id,), name=f"sync-{mailbox_id[:8]}",
                                      daemon=True)  # fmt: skip
            self._threads[mailbox_id] = thread
            thread.start()
            return True

    def _run(self, mailbox_id: str) -> None:
        try:
            self.imap_sync(lambda *_: self._catch_up()).sync(mailbox_id)
        except Exception:  # a background sync logs; the next one retries
            log.exception("background sync of mailbox %s failed", mailbox_id)
        finally:
            self._catch_up()

    def _catch_up(self) -> None:
        try:
            self.catch_up()
        except Exception:  # the next catch-up applies the same events
            log.exception("catching up the views failed")

    def wait(self, timeout: float = 60.0) -> None:
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)
