"""Stories of a member connecting an IMAP account over the API (a real Dovecot behind it)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.dovecot import DovecotServer
from tests.support.dsl import Member, Workspace, assert_problem
from tests.support.imap import change_password, external, fill_maildir, new_user, requires_dovecot


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


@pytest.fixture
def private_hosts(acme: Workspace) -> Iterator[Workspace]:
    """A deployment with MAILTRAIL_ALLOW_PRIVATE_HOSTS=1 (Dovecot listens on loopback)."""
    acme.runtime.settings.allow_private_hosts = True
    yield acme
    acme.runtime.background.wait()  # no background sync may outlive the test


sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _connect(ws: Workspace, member: Member, **fields: Any) -> Any:
    body = {"provider": "imap", "address": "bob@acme.com", "host": "127.0.0.1", "security": "none", **fields}
    return ws.client.post("/mailboxes", json=body, headers=member.headers)


def _mailbox(ws: Workspace, mailbox_id: str, member: Member | None = None) -> dict[str, Any]:
    response = ws.client.get(f"/mailboxes/{mailbox_id}", headers=(member or ws.admin).headers)
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def _until(
    ws: Workspace, mailbox_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = _mailbox(ws, mailbox_id)
        if done(shown) or time.monotonic() > deadline:
            return shown
        time.sleep(0.1)


def test_a_host_on_a_private_address_is_refused_unless_the_deployment_allows_it(acme: Workspace) -> None:
    for host in ("127.0.0.1", "localhost", "10.0.0.7", "169.254.169.254"):
        response = _connect(
            acme, acme.admin, host=host, port=993, security="tls", username="bob", password="x"
        )
        assert response.status_code == 422, response.text
        assert "MAILTRAIL_ALLOW_PRIVATE_HOSTS" in response.json()["detail"]
    assert acme.client.get("/mailboxes", headers=acme.admin.headers).json()["items"] == []


@sqlite_only
def test_an_imap_mailbox_needs_a_host_and_a_password_and_oauth_ones_a_client(acme: Workspace) -> None:
    missing = acme.client.post("/mailboxes", json={"provider": "imap", "address": "bob@acme.com"},
                               headers=acme.admin.headers)  # fmt: skip
    assert missing.status_code == 422 and "host and password" in missing.json()["detail"]
    for provider in ("gmail", "microsoft365"):
        response = acme.client.post("/mailboxes", json={"provider": provider, "address": "bob@acme.com"},
                                    headers=acme.admin.headers)  # fmt: skip
        assert response.status_code == 422 and "not configured" in response.json()["detail"]


@sqlite_only
def test_plaintext_imap_is_refused_for_a_host_that_is_not_loopback(private_hosts: Workspace) -> None:
    response = _connect(
        private_hosts, private_hosts.admin, host="10.0.0.7", port=143, username="b", password="x"
    )
    assert response.status_code == 422
    assert "loopback" in response.json()["detail"]


@requires_dovecot
@sqlite_only
def test_a_wrong_password_is_refused_as_a_failed_login_and_the_servers_words_go_to_the_log(
    private_hosts: Workspace, dovecot: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    user, _ = new_user(dovecot)
    response = _connect(private_hosts, private_hosts.admin, port=dovecot.port, username=user, password="nope")
    detail = assert_problem(response, 422)["detail"]
    assert detail == f"login to 127.0.0.1:{dovecot.port} failed: the server refused the username or password"
    assert "Authentication failed" in caplog.text and "Authentication failed" not in response.text
    assert private_hosts.client.get("/mailboxes", headers=private_hosts.admin.headers).json()["items"] == []


@requires_dovecot
def test_connecting_syncs_the_history_and_the_password_is_never_shown_stored_or_logged(
    private_hosts: Workspace, dovecot: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ws = private_hosts
    user, password = new_user(dovecot)
    fill_maildir(
        dovecot, user, [external(n) for n in range(25)] + [external(n, "Quote", "Sent") for n in range(5)]
    )

    response = _connect(ws, ws.admin, port=dovecot.port, username=user, password=password)
    assert response.status_code == 201, response.text
    mailbox_id = response.json()["id"]
    shown = _until(ws, mailbox_id, lambda m: m["synced"] == 30)

    assert shown["status"] == "active" and shown["last_sync_at"]
    assert {f: c["pending"] for f, c in shown["cursors"].items()} == {"INBOX": 0, "Sent": 0}
    assert len(ws.client.get("/emails", headers=ws.admin.headers).json()["items"]) == 30
    assert password not in response.text + str(shown)
    assert password not in caplog.text
    with ws.runtime.engine.connect() as conn:
        events_table = ws.runtime.app.recorder.events_table_name  # type: ignore[attr-defined]
        for table in (events_table, "mailbox_secrets"):
            exists = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            assert exists, table
            stored = conn.execute(text(f"SELECT * FROM {table}")).all()
            assert password.encode() not in repr(stored).encode(), table


@requires_dovecot
@sqlite_only
def test_a_changed_password_puts_the_mailbox_in_error_until_new_credentials_resume_it(
    private_hosts: Workspace, dovecot: DovecotServer
) -> None:
    ws = private_hosts
    user, password = new_user(dovecot)
    fill_maildir(dovecot, user, [external(n) for n in range(10)])
    mailbox_id = _connect(ws, ws.admin, port=dovecot.port, username=user, password=password).json()["id"]
    _until(ws, mailbox_id, lambda m: m["synced"] == 10)

    change_password(dovecot, user, "rotated-password")
    fill_maildir(dovecot, user, [external(n, "Later") for n in range(3)])
    assert ws.client.post(f"/mailboxes/{mailbox_id}/sync", headers=ws.admin.headers).status_code == 202
    failed = _until(ws, mailbox_id, lambda m: m["status"] == "error")
    assert failed["status"] == "error"
    assert failed["status_reason"] == "login failed: the server refused the username or password"
    assert failed["last_error"] == failed["status_reason"] and failed["last_error_at"]

    change = f"/mailboxes/{mailbox_id}/connection"
    wrong = ws.client.patch(change, json={"password": "guess"}, headers=ws.admin.headers)
    assert wrong.status_code == 422 and _mailbox(ws, mailbox_id)["status"] == "error"
    fixed = ws.client.patch(change, json={"password": "rotated-password"}, headers=ws.admin.headers)
    assert fixed.status_code == 200 and fixed.json()["status"] == "active"
    resumed = _until(ws, mailbox_id, lambda m: m["synced"] == 13)

    assert resumed["status"] == "active" and resumed["status_reason"] == ""
    assert resumed["last_error"] == failed["last_error"]  # the last error stays, with its time
    assert resumed["last_synced_at"] >= failed["last_error_at"] and resumed["progress"] == []
    assert resumed["skipped"].get("duplicate", 0) == 0  # resumed from the cursor, nothing read twice
    assert resumed["cursors"]["INBOX"]["fetched"] == 13


@requires_dovecot
@sqlite_only
def test_only_the_owner_syncs_or_changes_the_credentials(
    private_hosts: Workspace, dovecot: DovecotServer
) -> None:
    ws = private_hosts
    user, password = new_user(dovecot)
    mailbox_id = _connect(ws, ws.admin, port=dovecot.port, username=user, password=password).json()["id"]
    carol = ws.add_member("Carol", "carol@acme.com")
    assert ws.client.post(f"/mailboxes/{mailbox_id}/sync", headers=carol.headers).status_code == 403
    patch = ws.client.patch(
        f"/mailboxes/{mailbox_id}/connection", json={"password": "x"}, headers=carol.headers
    )
    assert patch.status_code == 403
    upload = ws.connect_upload(carol, "carol@acme.com")
    assert ws.client.post(f"/mailboxes/{upload}/sync", headers=carol.headers).status_code == 422


def _subjects(ws: Workspace) -> list[str]:
    response = ws.client.get("/emails", headers=ws.admin.headers)
    assert response.status_code == 200, response.text
    return sorted(e["subject"] for e in response.json()["items"])


def _ledger_folders(ws: Workspace, mailbox_id: str) -> set[str]:
    with ws.runtime.engine.connect() as conn:
        query = text("SELECT DISTINCT folder FROM imap_uids WHERE mailbox_id = :m")
        rows = conn.execute(query, {"m": mailbox_id})
        return {r.folder for r in rows}


@requires_dovecot
def test_a_folder_deleted_on_the_server_takes_its_messages_out_of_the_views(
    private_hosts: Workspace, dovecot: DovecotServer
) -> None:
    ws = private_hosts
    user, password = new_user(dovecot)
    fill_maildir(dovecot, user, [external(n) for n in range(3)])
    plans = [external(n, "Plan", "Projects") for n in range(2)]
    fill_maildir(dovecot, user, [*plans, ("Projects", external(1)[1])])
    mailbox_id = _connect(ws, ws.admin, port=dovecot.port, username=user, password=password,
                          folders=["INBOX", "Projects"]).json()["id"]  # fmt: skip
    _until(ws, mailbox_id, lambda m: m["synced"] == 5)
    assert _subjects(ws) == ["Deal 0", "Deal 1", "Deal 2", "Plan 0", "Plan 1"]

    with dovecot.connect(user) as client:
        client.delete_folder("Projects")
    assert ws.client.post(f"/mailboxes/{mailbox_id}/sync", headers=ws.admin.headers).status_code == 202
    shown = _until(ws, mailbox_id, lambda m: "Projects" not in m["cursors"])

    assert _subjects(ws) == ["Deal 0", "Deal 1", "Deal 2"]  # Deal 1 is still in INBOX
    assert shown["synced"] == 3 and set(shown["cursors"]) == {"INBOX"}
    assert shown["status"] == "active" and "Projects" in shown["status_reason"]
    assert _ledger_folders(ws, mailbox_id) == {"INBOX"}

    dropped = ws.client.patch(f"/mailboxes/{mailbox_id}", json={"folders": ["INBOX"]},
                              headers=ws.admin.headers)  # fmt: skip
    assert dropped.status_code == 200, dropped.text
    ws.runtime.background.wait()
    assert _mailbox(ws, mailbox_id)["status_reason"] == "" and _subjects(ws) == ["Deal 0", "Deal 1", "Deal 2"]


@requires_dovecot
@sqlite_only
def test_a_folder_the_owner_drops_from_the_list_takes_its_messages_out_of_the_views(
    private_hosts: Workspace, dovecot: DovecotServer
) -> None:
    ws = private_hosts
    user, password = new_user(dovecot)
    notes = [external(n, "Note", "Archive") for n in range(2)]
    fill_maildir(dovecot, user, [external(n) for n in range(2)] + notes)
    fill_maildir(dovecot, user, [("Archive", external(0)[1])])
    mailbox_id = _connect(ws, ws.admin, port=dovecot.port, username=user, password=password,
                          folders=["INBOX", "Archive"]).json()["id"]  # fmt: skip
    _until(ws, mailbox_id, lambda m: m["synced"] == 4)

    dropped = ws.client.patch(f"/mailboxes/{mailbox_id}", json={"folders": ["INBOX"]},
                              headers=ws.admin.headers)  # fmt: skip
    assert dropped.status_code == 200, dropped.text
    shown = _until(ws, mailbox_id, lambda m: "Archive" not in m["cursors"])

    assert _subjects(ws) == ["Deal 0", "Deal 1"]
    assert shown["synced"] == 2 and shown["status"] == "active" and shown["status_reason"] == ""
    assert _ledger_folders(ws, mailbox_id) == {"INBOX"}
