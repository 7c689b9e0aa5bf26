"""`mailtrail worker` killed (SIGKILL) while sending: restarted, nothing is sent twice.

The SMTP server (aiosmtpd on loopback) files what it accepts in the Dovecot mailbox's Sent
folder, as Gmail or Microsoft 365 do, then the worker is killed before it can save that the
server took the message. The restarted worker finds the Message-ID there and marks the send
sent without sending again. Killed before the server took it, the message is not there and
is sent once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from adapters.settings import Settings
from api.runtime import Runtime
from application.services.sending import Outgoing
from domain.send import Send
from domain.visibility import Viewer
from projections.send_queries import send_rows
from tests.support.dovecot import DovecotServer
from tests.support.imap import fill_maildir, new_user, requires_dovecot
from tests.support.smtp import Received, SmtpServer

pytestmark = requires_dovecot
MAILTRAIL = str(Path(sys.executable).with_name("mailtrail"))


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _queued(
    tmp_path: Path, dovecot: DovecotServer, smtp: SmtpServer
) -> tuple[Runtime, dict[str, str], str, str]:
    """A store with one queued send from a Dovecot mailbox that submits to `smtp`."""
    url = f"sqlite:///{tmp_path / 'mailtrail.db'}"
    env = {**os.environ, "MAILTRAIL_DATABASE_URL": url, "MAILTRAIL_ALLOW_PRIVATE_HOSTS": "1",
           "MAILTRAIL_SEND_LEASE_SECONDS": "0", "MAILTRAIL_OUTBOX_POLL_SECONDS": "0.2"}  # fmt: skip
    env.pop("MAILTRAIL_MASTER_KEY", None)
    runtime = Runtime.open(Settings(database_url=url, allow_private_hosts=True, master_key=None))
    user, password = new_user(dovecot)
    smtp.add_user(user, password)
    workspace_id, member_id, _ = runtime.services.workspaces.create_workspace(
        "Acme", "acme.com", "Bob", "bob@acme.com"
    )
    connection = {"host": "127.0.0.1", "port": dovecot.port, "security": "none", "username": user,
                  "folders": None, "auth": "password", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                  "smtp_security": "none", "smtp_username": None}  # fmt: skip
    mailbox_id = runtime.services.mailboxes.register(workspace_id, member_id, "imap", "bob@acme.com", [],
                                                     connection).id  # fmt: skip
    runtime.keystore.put(mailbox_id, {"password": password})
    queued = runtime.services.sending.send(
        workspace_id, mailbox_id, member_id, "once", Outgoing(["carol@example.org"], "Proposal", "Hello")
    )
    runtime.wait_for(queued.position)
    return runtime, env, user, queued.id


def _worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([MAILTRAIL, "worker", "--no-sync", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip


def _restart(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [MAILTRAIL, "worker", "--no-sync", "--once"], check=False, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    outcome: dict[str, Any] = json.loads(done.stdout)["outbox"]
    return outcome


def test_killed_after_the_server_took_the_message_it_is_found_in_sent_and_not_sent_again(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    runtime, env, user, send_id = _queued(tmp_path, dovecot, smtp_server)
    worker: list[subprocess.Popen[bytes]] = []

    def filed_then_killed(received: Received) -> None:
        fill_maildir(dovecot, user, [("Sent", received.raw)])  # the provider files the submission
        os.kill(worker[0].pid, signal.SIGKILL)  # before the 250 reaches it, so before `Sent` is saved

    smtp_server.handler.on_accept = filed_then_killed
    try:
        worker.append(_worker(env))
        assert worker[0].wait(timeout=60) == -signal.SIGKILL
        assert runtime.app.load(Send, send_id).status == "sending"  # accepted, but not known to be

        smtp_server.handler.on_accept = None
        assert _restart(env) == {"sent": 0, "failed": 0, "deferred": 0, "reconciled": 1}
        send = runtime.app.load(Send, send_id)
        assert send.status == "sent" and "found in the mailbox's Sent folder" in _reason(runtime, send_id)
        assert len(smtp_server.received) == 1
        assert runtime.outbox.run_once().sent == 0 and len(smtp_server.received) == 1
    finally:
        for process in worker:
            if process.poll() is None:
                process.kill()
        runtime.close()


def test_killed_before_the_server_took_the_message_it_is_sent_once_after_the_restart(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    runtime, env, _, send_id = _queued(tmp_path, dovecot, smtp_server)
    worker: list[subprocess.Popen[bytes]] = []
    smtp_server.handler.before_accept = lambda: os.kill(worker[0].pid, signal.SIGKILL)
    try:
        worker.append(_worker(env))
        assert worker[0].wait(timeout=60) == -signal.SIGKILL
        assert runtime.app.load(Send, send_id).status == "sending" and smtp_server.received == []

        restarted = Runtime.open(Settings(database_url=env["MAILTRAIL_DATABASE_URL"], allow_private_hosts=True,
                                          master_key=None, send_lease_seconds=0))  # fmt: skip
        try:
            assert asdict(restarted.outbox.run_once()) == {
                "sent": 1,
                "failed": 0,
                "deferred": 0,
                "reconciled": 0,
            }
        finally:
            restarted.close()
        assert runtime.app.load(Send, send_id).status == "sent"
        [received] = smtp_server.received
        assert received.rcpt_tos == ["carol@example.org"]
    finally:
        for process in worker:
            if process.poll() is None:
                process.kill()
        runtime.close()


def _reason(runtime: Runtime, send_id: str) -> str:
    """What GET /sends/{id} shows as the send's reason."""
    runtime.catch_up()
    send = runtime.app.load(Send, send_id)
    with runtime.engine.connect() as conn:
        rows = send_rows(conn, Viewer(send.workspace_id, send.sender_id, "admin"), send_id)[1]
    return str(rows[0]["reason"])
