"""Removing a mailbox retracts its copies at once and erases their content for good."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from api.replay import replay_digests
from tests.support.dsl import Workspace
from tests.support.messages import message

CANARY = "CANARY-7f3a9c-do-not-keep"


def stored_bytes(ws: Workspace) -> bytes:
    """Every byte of the stores: the SQLite files, or PostgreSQL's files of this database."""
    store = ws.runtime.store
    if not store.is_postgres:
        directory = store.sqlite_path.parent
        return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())
    with ws.runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("CHECKPOINT")
        data_dir = conn.execute(text("SHOW data_directory")).scalar()
        oid = conn.execute(text("SELECT oid FROM pg_database WHERE datname = current_database()")).scalar()
    base = Path(data_dir) / "base" / str(oid)
    return b"".join(p.read_bytes() for p in sorted(base.iterdir()) if p.is_file())


def canary_message(n: int, to: str = "client@corp.com", sender: str = "bob@acme.com") -> bytes:
    return message(
        sender, to, f"{CANARY} subject {n}", message_id=f"<canary{n}@acme.com>", body=f"{CANARY} body {n}"
    )


def test_removing_a_mailbox_retracts_its_emails_but_keeps_the_records(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    assert acme.post_message(acme.admin, mailbox, canary_message(1)).status_code == 201
    people_before = acme.client.get("/people", headers=acme.admin.headers).json()["items"]
    assert [p["emails"] for p in people_before] == [["client@corp.com"]]

    assert acme.client.delete(f"/mailboxes/{mailbox}", headers=acme.admin.headers).status_code == 204

    assert acme.client.get("/emails", headers=acme.admin.headers).json()["items"] == []
    person = people_before[0]["id"]
    assert acme.client.get(f"/people/{person}/emails", headers=acme.admin.headers).json()["items"] == []
    assert acme.client.get(f"/people/{person}", headers=acme.admin.headers).status_code == 200
    assert acme.client.get(f"/mailboxes/{mailbox}", headers=acme.admin.headers).json()["status"] == "removed"


def test_an_email_held_by_another_mailbox_stays_visible_through_that_copy(acme: Workspace) -> None:
    carol = acme.add_member("Carol", "carol@acme.com")
    bob_box = acme.connect_upload(acme.admin, "bob@acme.com")
    carol_box = acme.connect_upload(carol, "carol@acme.com")
    raw = message(
        "client@corp.com", ["bob@acme.com", "carol@acme.com"], "Shared", message_id="<both@corp.com>"
    )
    email_id = acme.post_message(acme.admin, bob_box, raw).json()["email_id"]
    acme.post_message(carol, carol_box, raw)
    assert acme.client.get(f"/emails/{email_id}", headers=acme.admin.headers).json()["copies"] == 2

    acme.client.delete(f"/mailboxes/{bob_box}", headers=acme.admin.headers)

    seen_by_carol = acme.client.get(f"/emails/{email_id}", headers=carol.headers).json()
    assert seen_by_carol["copies"] == 1 and seen_by_carol["subject"] == "Shared"
    assert acme.client.get(f"/emails/{email_id}/body", headers=carol.headers).status_code == 200


def test_erasure_leaves_no_plaintext_of_the_removed_mailbox_anywhere(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    for n in range(3):
        acme.post_message(acme.admin, mailbox, canary_message(n))
    assert CANARY.encode() in stored_bytes(acme)  # the views hold subjects until removal

    acme.client.delete(f"/mailboxes/{mailbox}", headers=acme.admin.headers)

    assert CANARY.encode() not in stored_bytes(acme)


def test_a_replay_after_erasure_gives_the_same_views(acme: Workspace) -> None:
    carol = acme.add_member("Carol", "carol@acme.com")
    bob_box = acme.connect_upload(acme.admin, "bob@acme.com")
    carol_box = acme.connect_upload(carol, "carol@acme.com")
    raw = message("client@corp.com", ["bob@acme.com", "carol@acme.com"], "Both", message_id="<b@corp.com>")
    acme.post_message(acme.admin, bob_box, raw)
    acme.post_message(acme.admin, bob_box, canary_message(9))
    acme.post_message(carol, carol_box, raw)
    acme.client.delete(f"/mailboxes/{bob_box}", headers=acme.admin.headers)

    result = replay_digests(acme.runtime)

    assert result["equal"], result


def test_removal_under_legal_hold_keeps_the_content_until_the_hold_is_lifted(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    acme.post_message(acme.admin, mailbox, canary_message(1))
    acme.client.patch("/settings", json={"legal_hold": True}, headers=acme.admin.headers)

    acme.client.delete(f"/mailboxes/{mailbox}", headers=acme.admin.headers)

    assert acme.client.get("/emails", headers=acme.admin.headers).json()["items"] == []
    assert acme.runtime.sealer.exists(mailbox)  # the key survives: the content can still be replayed

    acme.client.patch("/settings", json={"legal_hold": False}, headers=acme.admin.headers)

    assert not acme.runtime.sealer.exists(mailbox)
    assert CANARY.encode() not in stored_bytes(acme)


@pytest.mark.parametrize(("plan", "allowed"), [("free", 1), ("plus", 1), ("pro", 2)])
def test_the_plan_limits_mailboxes_per_member(acme: Workspace, plan: str, allowed: int) -> None:
    acme.client.patch("/settings", json={"plan": plan}, headers=acme.admin.headers)
    for n in range(allowed):
        acme.add_email(acme.admin, f"bob{n}@acme.com")
        acme.connect_upload(acme.admin, f"bob{n}@acme.com")
    acme.add_email(acme.admin, "bobx@acme.com")
    refused = acme.client.post(
        "/mailboxes", json={"provider": "upload", "address": "bobx@acme.com"}, headers=acme.admin.headers
    )
    assert refused.status_code == 422
    assert "per member" in refused.json()["detail"]


def test_disconnect_and_reconnect_keep_the_mailbox_and_its_history(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    acme.post_message(acme.admin, mailbox, canary_message(1))

    off = acme.client.patch(
        f"/mailboxes/{mailbox}", json={"status": "disconnected"}, headers=acme.admin.headers
    )
    assert off.json()["status"] == "disconnected" and off.json()["synced"] == 1
    assert len(acme.client.get("/emails", headers=acme.admin.headers).json()["items"]) == 1
    refused = acme.client.post(
        "/mailboxes", json={"provider": "upload", "address": "bob2@acme.com"}, headers=acme.admin.headers
    )
    assert refused.status_code == 422  # a disconnected mailbox still counts against the plan

    on = acme.client.patch(f"/mailboxes/{mailbox}", json={"status": "active"}, headers=acme.admin.headers)
    assert on.json()["status"] == "active" and on.json()["synced"] == 1
