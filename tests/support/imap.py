"""Helpers for the IMAP tests: a Dovecot fixture, fast mailbox filling, a cutting TCP proxy."""

from __future__ import annotations

import itertools
import os
import pwd
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest
from imapclient.exceptions import LoginError
from sqlalchemy import select

from api.runtime import Runtime
from application.imap_sync import SyncReport
from domain.mailbox import Mailbox
from domain.visibility import Viewer
from projections.email_queries import VISIBLE_COPY
from projections.record_queries import mailbox_rows
from projections.tables import email_copies, emails, mailboxes
from tests.support.dovecot import DovecotServer, find_dovecot
from tests.support.messages import message

requires_dovecot = pytest.mark.skipif(
    find_dovecot() is None, reason="dovecot is not installed (apt-get install -y dovecot-imapd)"
)
_counter = itertools.count()


def new_user(server: DovecotServer, prefix: str = "user") -> tuple[str, str]:
    """A fresh account on a shared server, so tests never see each other's mail."""
    user = f"{prefix}{os.getpid()}x{next(_counter)}"
    password = f"pw-{user}"
    change_password(server, user, password)  # the first login creates the Maildir (and Sent)
    return user, password


def change_password(server: DovecotServer, user: str, password: str) -> None:
    """Set a password and wait until dovecot accepts it (it notices the passwd-file by mtime)."""
    server.add_user(user, password)
    deadline = time.monotonic() + 5
    while True:
        try:
            with server.connect(user):
                return
        except LoginError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def fill_maildir(server: DovecotServer, user: str, messages: Iterable[tuple[str, bytes]]) -> int:
    """Write messages straight into the user's Maildir (far faster than APPEND)."""
    root = server.maildir_path(user)
    owner = pwd.getpwnam(server.mail_user)
    stamp = time.time_ns()
    count = 0
    for count, (folder, raw) in enumerate(messages, 1):
        directory = root if folder.upper() == "INBOX" else root / f".{folder}"
        target = directory / "cur" / f"{stamp}.{count}.mailtrail:2,"
        if not target.parent.exists():
            for sub in ("cur", "new", "tmp"):
                (directory / sub).mkdir(parents=True, exist_ok=True)
                os.chown(directory / sub, owner.pw_uid, owner.pw_gid)
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        target.write_bytes(raw)
        os.chown(target, owner.pw_uid, owner.pw_gid)
    return count


def seen_flags(server: DovecotServer, user: str, folder: str) -> int:
    with server.connect(user) as client:
        client.select_folder(folder, readonly=True)
        return len(client.search(["SEEN"]))


class CuttingProxy:
    """A loopback TCP proxy to `upstream`; counts server bytes and can cut connections.

    `cut_after(n, times)` drops the next `times` connections once they have relayed
    `n` bytes from the server: a connection lost in the middle of a FETCH. With
    `stall=True` they go silent instead, open, until the client gives up (a timeout)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.bytes_from_server = 0
        self.connections = 0
        self.cuts = 0
        self._cut_at: int | None = None
        self._cuts_left = 0
        self._stall = False
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, n: int, times: int = 1, stall: bool = False) -> None:
        with self._lock:
            self._cut_at, self._cuts_left, self._stall = n, times, stall

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self.connections += 1
                limit = self._cut_at if self._cuts_left > 0 else None
                if limit is not None:
                    self._cuts_left -= 1
            threading.Thread(target=self._pipe, args=(client, server, None, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, limit, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, limit: int | None, from_server: bool) -> None:
        relayed = 0
        try:
            while data := source.recv(65536):
                if limit is not None and relayed + len(data) >= limit:
                    sink.sendall(data[: max(0, limit - relayed)])
                    with self._lock:
                        self.cuts += 1
                    if self._stall:
                        self._closing.wait(60)
                    break
                sink.sendall(data)
                relayed += len(data)
                if from_server:
                    with self._lock:
                        self.bytes_from_server += len(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._closed = True
        self._closing.set()
        self._listener.close()


class ImapAccount:
    """A Dovecot user connected as a mailtrail mailbox, synced in-process."""

    def __init__(self, server: DovecotServer, runtime: Runtime, port: int | None = None,
                 address: str = "bob@acme.com", login: tuple[str, str] | None = None) -> None:  # fmt: skip
        self.server, self.runtime = server, runtime
        self.user, self.password = login or new_user(server)
        domain = address.rpartition("@")[2]
        self.workspace_id, self.member_id, _ = runtime.services.workspaces.create_workspace(
            "Acme", domain, "Bob", address
        )
        self.connection = {"host": "127.0.0.1", "port": port or server.port, "security": "none",
                           "username": self.user, "folders": None, "auth": "password"}  # fmt: skip
        self.mailbox_id = runtime.services.mailboxes.register(
            self.workspace_id, self.member_id, "imap", address, [], self.connection
        ).id
        self.service = runtime.imap_sync(timeout=10)
        self.service.backoff = 0.05
        self.service.keystore.put(self.mailbox_id, {"password": self.password})

    def sync(self) -> SyncReport:
        report = self.service.sync(self.mailbox_id)
        self.runtime.catch_up()
        return report

    def append(self, folder: str, raw: bytes) -> int:
        return self.server.append(self.user, folder, raw)

    def visible_subjects(self) -> list[str]:
        """Subjects of this mailbox's copies that the views show (not hidden)."""
        query = (
            select(emails.c.subject)
            .select_from(
                email_copies.join(emails, emails.c.id == email_copies.c.email_id).join(
                    mailboxes, mailboxes.c.id == email_copies.c.mailbox_id
                )
            )
            .where(email_copies.c.mailbox_id == self.mailbox_id, VISIBLE_COPY)
        )
        with self.runtime.engine.connect() as conn:
            return sorted(r.subject for r in conn.execute(query))

    def copies(self) -> dict[str, bool]:
        """Every copy of this mailbox in the views: copy id -> expunged on the server."""
        query = select(email_copies.c.id, email_copies.c.expunged_at).where(
            email_copies.c.mailbox_id == self.mailbox_id
        )
        with self.runtime.engine.connect() as conn:
            return {r.id: r.expunged_at is not None for r in conn.execute(query)}

    def view(self) -> dict[str, Any]:
        """The mailbox as GET /mailboxes/{id} shows it to its owner."""
        return mailbox_view(self.runtime, self.mailbox_id)


def mailbox_view(runtime: Runtime, mailbox_id: str) -> dict[str, Any]:
    mailbox = runtime.app.load(Mailbox, mailbox_id)
    viewer = Viewer(mailbox.workspace_id, mailbox.owner_id, "admin")
    with runtime.engine.connect() as conn:
        return mailbox_rows(conn, viewer, mailbox_id)[0]


def external(n: int, subject: str = "Deal", folder: str = "INBOX") -> tuple[str, bytes]:
    """A message between Bob (acme.com) and an outside contact; Sent ones go out from Bob."""
    outside = f"contact{n}@example.org"
    sender, to = ("bob@acme.com", outside) if folder == "Sent" else (outside, "bob@acme.com")
    return folder, message(sender, to, f"{subject} {n}", message_id=f"<{subject.lower()}-{n}@example.org>")
