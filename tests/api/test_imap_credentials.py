"""A stolen token must not yield the IMAP password (issue 14.6), against a real Dovecot.

Pointing a mailbox at another host, port, security or account needs the password again; the
stored one is only ever sent to the server and account it was given for. The "other server"
is a loopback proxy in front of the same Dovecot, so it counts every connection made to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.dovecot import DovecotServer
from tests.support.dsl import Workspace, assert_problem
from tests.support.imap import CuttingProxy, external, fill_maildir, new_user, requires_dovecot

pytestmark = [requires_dovecot, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


@pytest.fixture
def other_server(dovecot: DovecotServer) -> Iterator[CuttingProxy]:
    """Another server as far as mailtrail can tell (another port); counts connections."""
    proxy = CuttingProxy(("127.0.0.1", dovecot.port))
    yield proxy
    proxy.close()


@pytest.fixture
def connected(acme: Workspace, dovecot: DovecotServer) -> Iterator[tuple[Workspace, str, str]]:
    """Bob's IMAP mailbox on Dovecot (private hosts allowed), synced; yields (ws, mailbox id, user)."""
    acme.runtime.settings.allow_private_hosts = True
    user, password = new_user(dovecot)
    fill_maildir(dovecot, user, [external(n) for n in range(3)])
    body = {"provider": "imap", "address": "bob@acme.com", "host": "127.0.0.1", "port": dovecot.port,
            "security": "none", "username": user, "password": password}  # fmt: skip
    response = acme.client.post("/mailboxes", json=body, headers=acme.admin.headers)
    assert response.status_code == 201, response.text
    mailbox_id = response.json()["id"]
    acme.runtime.background.wait()
    yield acme, mailbox_id, user
    acme.runtime.background.wait()  # no background sync may outlive the test


def _patch(ws: Workspace, mailbox_id: str, path: str = "", **body: Any) -> Any:
    return ws.client.patch(f"/mailboxes/{mailbox_id}{path}", json=body, headers=ws.admin.headers)


@pytest.mark.parametrize("path", ["", "/connection"])
def test_pointing_a_mailbox_at_another_server_without_the_password_is_422_and_nothing_connects(
    connected: tuple[Workspace, str, str], other_server: CuttingProxy, path: str
) -> None:
    ws, mailbox_id, _ = connected
    before = ws.client.get(f"/mailboxes/{mailbox_id}", headers=ws.admin.headers).json()

    moved = _patch(ws, mailbox_id, path, port=other_server.port)
    host_too = _patch(ws, mailbox_id, path, host="127.0.0.1", port=other_server.port, folders=["INBOX"])

    for refused in (moved, host_too):
        assert "port" in assert_problem(refused, 422)["detail"] and "password" in refused.json()["detail"]
    assert other_server.connections == 0  # the stored password went nowhere
    after = ws.client.get(f"/mailboxes/{mailbox_id}", headers=ws.admin.headers).json()
    assert after["status"] == "active" and after["cursors"] == before["cursors"]


def test_a_refused_server_change_changes_nothing_else_of_the_same_patch(
    connected: tuple[Workspace, str, str], other_server: CuttingProxy
) -> None:
    ws, mailbox_id, _ = connected
    refused = _patch(ws, mailbox_id, port=other_server.port, sharing="full", status="disconnected")
    assert_problem(refused, 422)
    shown = ws.client.get(f"/mailboxes/{mailbox_id}", headers=ws.admin.headers).json()
    assert (shown["sharing"], shown["status"]) == ("metadata", "active")
    assert other_server.connections == 0


@pytest.mark.parametrize("change", [{"security": "tls"}, {"username": "someone-else"}, {"host": "localhost"}])
def test_changing_security_username_or_host_needs_the_password_again(
    connected: tuple[Workspace, str, str], change: dict[str, Any]
) -> None:
    ws, mailbox_id, _ = connected
    refused = _patch(ws, mailbox_id, **change)
    assert next(iter(change)) in assert_problem(refused, 422)["detail"]
    assert "password" in refused.json()["detail"]


def test_the_same_server_given_again_or_new_folders_keep_the_stored_password(
    connected: tuple[Workspace, str, str], dovecot: DovecotServer
) -> None:
    ws, mailbox_id, user = connected
    same = _patch(ws, mailbox_id, host=" 127.0.0.1 ", port=dovecot.port, security="none", username=user,
                  folders=["INBOX"])  # fmt: skip
    assert same.status_code == 200, same.text
    assert same.json()["status"] == "active"


def test_moving_to_another_server_with_the_password_logs_in_there(
    connected: tuple[Workspace, str, str], dovecot: DovecotServer, other_server: CuttingProxy
) -> None:
    ws, mailbox_id, _ = connected
    other_user, other_password = new_user(dovecot, "other")
    fill_maildir(dovecot, other_user, [external(n, "Elsewhere") for n in range(2)])

    wrong = _patch(ws, mailbox_id, port=other_server.port, username=other_user, password="the-old-one")
    moved = _patch(ws, mailbox_id, port=other_server.port, username=other_user, password=other_password)

    assert_problem(wrong, 422)
    assert moved.status_code == 200, moved.text
    assert other_server.connections >= 2  # both logins went to the new server, each with its given password
    ws.runtime.background.wait()
    shown = ws.client.get(f"/mailboxes/{mailbox_id}", headers=ws.admin.headers).json()
    assert shown["status"] == "active"
