"""Stories of an attacker pointing a mailbox at something that is not their mail server:
a name that rebinds to loopback, an SSH port whose banner they would like to read."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.dsl import Workspace, assert_problem
from tests.support.outbound import Listener, only_loopback_answers, rebinding

SSH_BANNER = b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def private_hosts(acme: Workspace) -> Iterator[Workspace]:
    """A deployment with MAILTRAIL_ALLOW_PRIVATE_HOSTS=1 (the listeners are on loopback)."""
    acme.runtime.settings.allow_private_hosts = True
    yield acme
    acme.runtime.background.wait()


def _connect(ws: Workspace, **fields: Any) -> Any:
    body = {"provider": "imap", "address": "bob@acme.com", "username": "bob", "password": "x", **fields}
    return ws.client.post("/mailboxes", json=body, headers=ws.admin.headers)


@sqlite_only
def test_a_name_that_rebinds_to_loopback_is_resolved_once_and_loopback_sees_no_connection(
    acme: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker's DNS answers a public address twice, then 127.0.0.1 (the issue's resolver)."""
    assert not acme.runtime.settings.allow_private_hosts
    with Listener(b"* OK internal service ready\r\n") as listener:
        resolver = rebinding("mail.rebind.example", "8.8.8.8", public_answers=2)
        acme.runtime.resolver = resolver
        monkeypatch.setattr(socket, "getaddrinfo", resolver)  # a lookup anywhere else counts too
        dialled = only_loopback_answers(monkeypatch)

        response = _connect(acme, host="mail.rebind.example", port=listener.port, security="tls")

        body = assert_problem(response, 422)
        assert body["detail"] == f"could not connect to mail.rebind.example:{listener.port}"
        assert resolver.calls == ["mail.rebind.example"]
        assert dialled == [("8.8.8.8", listener.port)]
        assert listener.accepted == 0
    assert acme.client.get("/mailboxes", headers=acme.admin.headers).json()["items"] == []


@sqlite_only
@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
def test_an_ssh_port_answers_a_generic_422_and_its_banner_goes_to_the_log_only(
    private_hosts: Workspace, security: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with Listener(SSH_BANNER) as listener:
        response = _connect(private_hosts, host="127.0.0.1", port=listener.port, security=security)
    body = assert_problem(response, 422)
    assert body["detail"] == f"could not connect to 127.0.0.1:{listener.port}"
    assert "SSH" not in response.text and "OpenSSH" not in response.text
    assert listener.accepted == 1
    if security != "tls":  # over TLS the banner only fails the handshake
        assert "SSH-2.0-OpenSSH_8.9p1" in caplog.text
        assert all(r.levelno == logging.WARNING for r in caplog.records if "OpenSSH" in r.getMessage())


@sqlite_only
@pytest.mark.parametrize(
    ("greeting", "status", "reason"),
    [
        (SSH_BANNER, "active", "server unreachable, will retry: could not connect to 127.0.0.1:{port}"),
        (
            b"* BYE internal-auth-proxy 4.2 (10.1.2.3) busy\r\n",
            "error",
            "could not connect to 127.0.0.1:{port}",
        ),
    ],
)
def test_a_mailbox_whose_server_turned_into_something_else_shows_no_banner_in_its_status(
    private_hosts: Workspace, greeting: bytes, status: str, reason: str
) -> None:
    ws = private_hosts
    with Listener(greeting) as listener:
        connection = {"host": "127.0.0.1", "port": listener.port, "security": "none", "username": "bob",
                      "folders": None, "auth": "password"}  # fmt: skip
        mailbox_id = ws.runtime.services.mailboxes.register(
            ws.id, ws.admin.id, "imap", "bob@acme.com", [], connection
        ).id
        service = ws.runtime.imap_sync()
        service.keystore.put(mailbox_id, {"password": "x"})
        service.attempts, service.sleep = 1, lambda seconds: None
        service.sync(mailbox_id)
    ws.runtime.catch_up()

    shown = ws.client.get(f"/mailboxes/{mailbox_id}", headers=ws.admin.headers).json()
    assert (shown["status"], shown["status_reason"]) == (status, reason.format(port=listener.port))
    assert b"SSH" not in greeting or "SSH" not in str(shown)
    assert "internal-auth-proxy" not in str(shown) and "10.1.2.3" not in str(shown)
