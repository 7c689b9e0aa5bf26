"""The outbox worker: sends what is due, within each mailbox's limits, never twice.

For each due send: an `Attempted` event (with the mailbox's `Outbox` slot, saved together, so
two workers cannot both take it) is saved BEFORE the message goes to the server, `Sent` or
`Failed` after. A send found still `sending` once its lease has run out was interrupted
between the two (a crash, a kill): its Message-ID is looked for in the mailbox's synced
folders first (IMAP SEARCH HEADER Message-ID); found, it is marked sent without sending
again; not found, it is tried again. Transient failures wait with backoff; permanent ones
fail with the server's reason. A sent message is recorded at once as a copy in the mailbox
through the batch path, which the later sync of the Sent folder dedupes by Message-ID.

The time is the `Clock` port's: tests move it, nothing here sleeps on it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta

from application.app import MailTrail
from application.batch_recorder import BatchRecorder, BatchResult
from application.compose import compose, envelope
from application.errors import ConflictError, DomainError
from application.ports import (
    Clock,
    KeyStore,
    MailConnector,
    MailServerError,
    SendIndex,
    SentFolder,
    TransientTransportError,
    TransportError,
    Transports,
)
from application.services.ingest import Parser
from domain.mailbox import DISCONNECTED, REMOVED, Mailbox
from domain.outbox import Outbox, next_slot
from domain.send import MAX_ATTEMPTS, SENDING, Send, backoff
from domain.synced_message import email_id_for, email_identity
from domain.workspace import Workspace

log = logging.getLogger(__name__)
SENT_FOLDER = "Sent"  # the folder the copy recorded at once is filed under


@dataclass
class OutboxPass:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    reconciled: int = 0


class ImapSentFolder:
    """The SentFolder port over the IMAP connector: is this Message-ID in a synced folder?"""

    def __init__(self, app: MailTrail, keystore: KeyStore, connector: MailConnector) -> None:
        self.app = app
        self.keystore = keystore
        self.connector = connector

    def holds(self, mailbox_id: str, message_id: str) -> bool | None:
        mailbox = self.app.load(Mailbox, mailbox_id)
        secret = self.keystore.get(mailbox_id)
        if mailbox.provider != "imap" or not secret:
            return None
        try:
            with closing(self.connector.connect(mailbox.connection, secret)) as server:
                folders = server.folders(mailbox.connection.get("folders") or None)
                return any(server.holds_message_id(f, message_id) for f in reversed(folders))
        except MailServerError as error:
            log.warning("mailbox %s: looking for %s failed: %s", mailbox_id, message_id, error)
            return None


class OutboxWorker:
    def __init__(
        self,
        app: MailTrail,
        keystore: KeyStore,
        transports: Transports,
        sent_folder: SentFolder,
        index: SendIndex,
        clock: Clock,
        parse: Parser,
        catch_up: Callable[[], object] = lambda: None,
        lease: timedelta = timedelta(minutes=5),
        group: int = 20,
    ) -> None:
        self.app = app
        self.keystore = keystore
        self.transports = transports
        self.sent_folder = sent_folder
        self.index = index
        self.clock = clock
        self.parse = parse
        self.catch_up = catch_up
        self.lease = lease  # how long an attempt may take before it counts as interrupted
        self.group = group  # a mailbox's sends attempted in one write (and recorded sent in one)

    def run_once(self, limit: int = 100) -> OutboxPass:
        """Every send due now (the views caught up first, so they list them), a mailbox's sends
        `group` at a time: their attempts saved in one write, then sent, then their `Sent`
        events saved with the copies that record them in one more."""
        self.catch_up()
        done = OutboxPass()
        by_mailbox: dict[str, list[str]] = {}
        for due in self.index.due(self.clock.now(), limit):
            by_mailbox.setdefault(due.mailbox_id, []).append(due.send_id)
        for mailbox_id, send_ids in by_mailbox.items():
            for start in range(0, len(send_ids), self.group):
                try:
                    self.process(mailbox_id, send_ids[start : start + self.group], done)
                except ConflictError:  # another worker moved them first
                    continue
                except Exception:  # one mailbox must not stop the others
                    log.exception("mailbox %s: sending failed", mailbox_id)
        if done.sent or done.failed or done.deferred or done.reconciled:
            self.catch_up()
        return done

    def process(self, mailbox_id: str, send_ids: list[str], done: OutboxPass | None = None) -> None:
        done = done if done is not None else OutboxPass()
        now = self.clock.now()
        mailbox = self.app.load(Mailbox, mailbox_id)
        outbox = self._outbox(mailbox_id)
        going: list[Send] = []
        for send_id in send_ids:
            send = self.app.load(Send, send_id)
            if send.due(now) and self._may_go(send, mailbox, outbox, now, done):
                outbox.take(str(send.id), now, send.spaced)
                send.attempt(now, now + self.lease)
                going.append(send)
        if going:
            self.app.save_all(*going, outbox)  # saved before the messages leave: a crash is looked for
            self._deliver(going, mailbox, done)

    def _may_go(self, send: Send, mailbox: Mailbox, outbox: Outbox, now: datetime, done: OutboxPass) -> bool:
        """Whether the send may be attempted now; otherwise what happened to it is saved."""
        if mailbox.status == REMOVED or "erased" in send.headers or "erased" in send.content:
            send.fail(now, "the mailbox was removed")
            done.failed += 1
        elif send.status == SENDING and (found := self._found(send)) is not False:  # interrupted: sent?
            if found:
                send.mark_sent(
                    now, "found in the mailbox's Sent folder after an interruption", reconciled=True
                )
                done.reconciled += 1
            else:
                send.defer(
                    now + backoff(send.attempts), "interrupted; the Sent folder could not be checked yet"
                )
                done.deferred += 1
        elif mailbox.status == DISCONNECTED:
            send.defer(now + timedelta(hours=1), "the mailbox is disconnected")
            done.deferred += 1
        else:
            workspace = self.app.load(Workspace, send.workspace_id)
            slot = next_slot(outbox.times(), outbox.spaced_at(), now, workspace.limits(), send.spaced)
            if slot <= now:
                return True
            send.defer(slot, "waiting for the mailbox's sending limits")
            done.deferred += 1
        self.app.save_all(send)
        return False

    def _found(self, send: Send) -> bool | None:
        return self.sent_folder.holds(send.mailbox_id, send.message_id.strip("<>"))

    def _outbox(self, mailbox_id: str) -> Outbox:
        outbox_id = Outbox.create_id(mailbox_id)
        return (
            self.app.load(Outbox, outbox_id) if self.app.exists(outbox_id) else Outbox(mailbox_id=mailbox_id)
        )

    def _deliver(self, going: list[Send], mailbox: Mailbox, done: OutboxPass) -> None:
        """Each message to the server; whatever it took is saved as sent, even if a later one breaks."""
        sent: list[tuple[Send, bytes, str]] = []
        others: list[Send] = []
        try:
            transport = self.transports.for_mailbox(
                mailbox.provider, mailbox.connection, self._secret(mailbox)
            )
        except TransportError as error:
            for send in going:
                send.fail(self.clock.now(), str(error))
            self.app.save_all(*going)
            done.failed += len(going)
            return
        try:
            for send in going:
                raw = compose(send.headers, send.content, datetime.fromisoformat(send.headers["date"]))
                sender, recipients = envelope(send.headers)
                try:
                    receipt = transport.send(raw, sender, recipients)
                except TransientTransportError as error:
                    reason = str(error) or "the server was not reachable"
                    if send.attempts >= MAX_ATTEMPTS:
                        send.fail(self.clock.now(), f"gave up after {send.attempts} attempts: {reason}")
                        done.failed += 1
                    else:
                        send.defer(self.clock.now() + backoff(send.attempts), reason)
                        done.deferred += 1
                    others.append(send)
                except TransportError as error:  # permanent: the server's reason
                    send.fail(self.clock.now(), str(error))
                    others.append(send)
                    done.failed += 1
                else:
                    sent.append((send, raw, receipt.reply))
        finally:
            transport.close()
            if others:
                self.app.save_all(*others)
            if sent:
                self._record_sent(mailbox, sent)
                done.sent += len(sent)

    def _secret(self, mailbox: Mailbox) -> Mapping[str, str]:
        return self.keystore.get(str(mailbox.id)) or {}

    def _record_sent(self, mailbox: Mailbox, sent: list[tuple[Send, bytes, str]]) -> None:
        """`Sent` events, saved with the copies that put the messages on the records at once (the
        copies the Sent folder's sync will find again): one write. When the mailbox cannot take
        them now, the `Sent` events alone; the sync records the messages later."""
        now = self.clock.now()
        items = [self.parse(raw) for _, raw, _ in sent]
        email_ids = [str(email_id_for(mailbox.workspace_id, email_identity(i.message_id, i.fingerprint)))
                     for i in items]  # fmt: skip

        def sent_with(result: BatchResult) -> list[Send]:
            stored = {email_id for _, email_id in result.copies}
            fresh = []
            for (send, _, reply), email_id in zip(sent, email_ids, strict=True):
                again = self.app.load(Send, send.id)
                again.mark_sent(now, reply, email_id if email_id in stored else None)
                fresh.append(again)
            return fresh

        try:
            BatchRecorder(self.app, str(mailbox.id)).record(SENT_FOLDER, list(items), None, also=sent_with)
        except DomainError as error:
            log.warning("mailbox %s: recording sent copies failed: %s", mailbox.id, error)
            for send, _, reply in sent:
                send.mark_sent(now, reply)
            self.app.save_all(*(send for send, _, _ in sent))


class OutboxLoop:
    """The worker in a thread: a pass when woken (a send queued) or every `poll_seconds`."""

    def __init__(self, worker: OutboxWorker, poll_seconds: float = 5.0) -> None:
        self.worker = worker
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, args=(self._stop,), name="outbox", daemon=True)
            self._thread.start()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                self.worker.run_once()
            except (
                Exception
            ) as error:  # the views behind (another process applies), a store hiccup: next pass
                log.warning("outbox pass failed: %s: %s", type(error).__name__, error)
                log.debug("outbox pass failed", exc_info=True)
            self._wake.wait(self.poll_seconds)
            if stop.is_set() or self._stop.is_set():
                return

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
