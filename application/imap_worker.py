"""Keep every connected mailbox in sync: a pass, then IDLE (or a poll interval), again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import closing

from application.graph_notifications import GraphNotifications
from application.imap_sync import MICROSOFT365, ImapSync, SyncReport, unchanged
from application.ports import MailServerError
from domain.mailbox import ACTIVE, Mailbox

log = logging.getLogger(__name__)


class ImapWorker:
    """One thread per active mailbox; mailboxes in `error` wait for new credentials."""

    def __init__(self, sync: ImapSync, poll_seconds: float = 60.0, rescan_seconds: float = 10.0,
                 after_pass: Callable[[SyncReport], None] | None = None,
                 graph_poll_seconds: float = 300.0, notifications: GraphNotifications | None = None) -> None:  # fmt: skip
        self.sync = sync
        self.graph_poll_seconds = graph_poll_seconds
        self.notifications = notifications
        self.poll_seconds = poll_seconds
        self.rescan_seconds = rescan_seconds
        self.after_pass = after_pass or (lambda report: None)

    def run_once(self) -> list[SyncReport]:
        reports = []
        for mailbox_id in self.sync.connected(include_errors=False):
            reports.append(self.sync.sync(mailbox_id))
            self.after_pass(reports[-1])
        return reports

    def run(self, stop: threading.Event, max_seconds: float | None = None) -> None:
        deadline = time.monotonic() + max_seconds if max_seconds is not None else None
        threads: dict[str, threading.Thread] = {}
        while not stop.is_set():
            for mailbox_id in self.sync.connected(include_errors=False):
                thread = threads.get(mailbox_id)
                if thread is None or not thread.is_alive():
                    thread = threading.Thread(target=self._watch, args=(mailbox_id, stop),
                                              name=f"sync-{mailbox_id[:8]}", daemon=True)  # fmt: skip
                    threads[mailbox_id] = thread
                    thread.start()
            wait = self.rescan_seconds
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            stop.wait(wait)
        stop.set()
        for thread in threads.values():
            thread.join(timeout=30)

    def _watch(self, mailbox_id: str, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                report = self.sync.sync(mailbox_id)
            except Exception:  # one mailbox must not stop the others
                log.exception("mailbox %s: sync pass failed", mailbox_id)
                stop.wait(self.poll_seconds)
                continue
            self.after_pass(report)
            if report.status != ACTIVE:
                return  # picked up again once active (e.g. after new credentials)
            self._wait_for_change(mailbox_id, stop)

    def _wait_for_change(self, mailbox_id: str, stop: threading.Event) -> None:
        mailbox = self.sync.app.load(Mailbox, mailbox_id)
        if mailbox.provider == MICROSOFT365:  # Graph: the next delta query after the poll interval
            if self.notifications is not None:
                self.notifications.ensure(mailbox_id)  # notifications sync sooner, through the API
            stop.wait(self.graph_poll_seconds)
            return
        try:
            server = self.sync.connector.connect(
                mailbox.connection, self.sync.secret(mailbox_id, mailbox.connection)
            )
            with closing(server):
                folders = server.folders(mailbox.connection.get("folders") or None)
                cursors = self.sync.app.load(Mailbox, mailbox_id).cursors
                # The folder to IDLE on is compared as opened: mail that lands after that is
                # told during IDLE; mail that landed between a STATUS and the EXAMINE was not.
                states = [server.status(f) for f in folders[1:]] + [server.open(folders[0])]
                if any(s.name not in cursors or not unchanged(cursors[s.name], s) for s in states):
                    return  # changed since the pass: no IDLE, or this change would go unnoticed
                if server.wait_for_change(folders[0], self.poll_seconds, stop.is_set):
                    log.info("mailbox %s: %s changed", mailbox_id, folders[0])
        except MailServerError as error:
            log.warning("mailbox %s: waiting for changes failed: %s", mailbox_id, error)
            stop.wait(self.poll_seconds)
