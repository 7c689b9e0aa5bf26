"""Sync diagnostics: "why isn't this email here?", one message of each fate, asked through the
API by the member who owns the mailbox, by another member and by an admin.

Acme: acme.com is internal; Bob (bob@acme.com) is the admin, Alice (alice@acme.com) and
Carol (carol@acme.com) are members with an upload mailbox each."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from domain.message import MAX_MESSAGE_BYTES
from projections.record_queries import sync_progress
from projections.tables import message_fates
from tests.support.dsl import Member, Workspace, assert_problem
from tests.support.messages import message


@pytest.fixture
def team(acme: Workspace) -> tuple[Member, str, Member, str]:
    alice = acme.add_member("Alice", "alice@acme.com")
    carol = acme.add_member("Carol", "carol@acme.com")
    return (
        alice,
        acme.connect_upload(alice, "alice@acme.com"),
        carol,
        acme.connect_upload(carol, "carol@acme.com"),
    )


def upload(ws: Workspace, member: Member, mailbox_id: str, raw: bytes) -> dict[str, Any]:
    response = ws.post_message(member, mailbox_id, raw)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def fates(ws: Workspace, member: Member, **query: str) -> dict[str, dict[str, Any]]:
    response = ws.client.get("/diagnostics/messages", params=query, headers=member.headers)
    assert response.status_code == 200, response.text
    return {box["address"]: box for box in response.json()["mailboxes"]}


def test_a_stored_message_and_one_never_seen(acme: Workspace, team: tuple[Member, str, Member, str]) -> None:
    alice, alice_box, _, _ = team
    stored = upload(
        acme, alice, alice_box, message("alice@acme.com", "sue@initech.com", message_id="<s1@acme.com>")
    )
    seen = fates(acme, acme.admin, message_id="s1@acme.com")
    assert seen["alice@acme.com"]["fate"] == "stored"
    assert seen["alice@acme.com"]["email_id"] == stored["email_id"]
    assert seen["alice@acme.com"]["stored"]["event_type"] == "SyncedMessage.Recorded"
    assert seen["carol@acme.com"]["fate"] == "not_seen"
    # with or without the angle brackets
    assert fates(acme, acme.admin, message_id="<s1@acme.com>")["alice@acme.com"]["fate"] == "stored"


def test_skipped_messages_say_why_and_which_entry(
    acme: Workspace, team: tuple[Member, str, Member, str]
) -> None:
    alice, alice_box, _, _ = team
    internal = upload(
        acme, alice, alice_box, message("alice@acme.com", "sue@acme.com", message_id="<i1@acme.com>")
    )
    assert internal["status"] == "skipped"
    response = acme.client.post(
        f"/mailboxes/{alice_box}/blocklist", json={"entry": "spam.example"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    upload(
        acme,
        alice,
        alice_box,
        message("x@news.spam.example", "alice@acme.com", message_id="<b1@spam.example>"),
    )
    response = acme.client.patch(
        "/settings", json={"exclusions": ["initech.com"]}, headers=acme.admin.headers
    )
    assert response.status_code == 200, response.text
    upload(acme, alice, alice_box, message("alice@acme.com", "joe@initech.com", message_id="<e1@acme.com>"))

    skipped = fates(acme, alice, message_id="i1@acme.com")["alice@acme.com"]
    assert (skipped["fate"], skipped["reason"], skipped["entry"]) == ("skipped", "internal_only", "")
    blocked = fates(acme, alice, message_id="b1@spam.example")["alice@acme.com"]
    assert (blocked["fate"], blocked["reason"], blocked["entry"]) == (
        "skipped",
        "blocklisted",
        "spam.example",
    )
    assert blocked["at"] and blocked["position"] > 0
    excluded = fates(acme, alice, message_id="e1@acme.com")["alice@acme.com"]
    assert (excluded["fate"], excluded["reason"], excluded["entry"]) == ("skipped", "excluded", "initech.com")


def test_a_message_hidden_later_names_the_rule_and_the_event(
    acme: Workspace, team: tuple[Member, str, Member, str]
) -> None:
    alice, alice_box, _, _ = team
    upload(acme, alice, alice_box, message("alice@acme.com", "sue@initech.com", message_id="<h1@acme.com>"))
    response = acme.client.post(
        f"/mailboxes/{alice_box}/blocklist", json={"entry": "sue@initech.com"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    hidden = fates(acme, alice, message_id="h1@acme.com")["alice@acme.com"]
    assert (hidden["fate"], hidden["reason"], hidden["entry"]) == ("hidden", "blocklist", "sue@initech.com")
    assert hidden["event_type"].startswith("Mailbox.") and hidden["at"]


def test_a_removed_mailbox_says_its_mail_was_retracted(
    acme: Workspace, team: tuple[Member, str, Member, str]
) -> None:
    alice, alice_box, _, _ = team
    upload(acme, alice, alice_box, message("alice@acme.com", "sue@initech.com", message_id="<r1@acme.com>"))
    assert acme.client.delete(f"/mailboxes/{alice_box}", headers=alice.headers).status_code == 204
    gone = fates(acme, acme.admin, message_id="r1@acme.com")["alice@acme.com"]
    assert (gone["fate"], gone["reason"], gone["event_type"]) == (
        "retracted",
        "mailbox_removed",
        "Mailbox.Removed",
    )


def test_a_rejected_message_gives_its_defect(acme: Workspace, team: tuple[Member, str, Member, str]) -> None:
    alice, alice_box, _, _ = team
    big = message(
        "sue@initech.com", "alice@acme.com", message_id="<big@initech.com>", body="x" * MAX_MESSAGE_BYTES
    )
    totals = acme.runtime.services.ingest.import_raw(alice_box, [("INBOX", "mbox:1", big)])
    acme.runtime.wait_for(totals.position)
    rejected = fates(acme, alice, message_id="big@initech.com")["alice@acme.com"]
    assert (rejected["fate"], rejected["reason"]) == ("rejected", "too_large")


def test_bulk_mail_is_stored_with_a_note_that_it_made_no_record(
    acme: Workspace, team: tuple[Member, str, Member, str]
) -> None:
    alice, alice_box, _, _ = team
    response = acme.client.patch("/settings", json={"record_creation": "all"}, headers=acme.admin.headers)
    assert response.status_code == 200, response.text
    bulk = message(
        "news@initech.com",
        "alice@acme.com",
        message_id="<n1@initech.com>",
        headers={"List-Unsubscribe": "<mailto:u@initech.com>"},
    )
    upload(acme, alice, alice_box, bulk)
    box = fates(acme, alice, message_id="n1@initech.com")["alice@acme.com"]
    assert box["fate"] == "stored"
    assert [(n["reason"], n["entry"]) for n in box["notes"]] == [("no_records", "bulk")]


def test_a_message_without_a_message_id_is_found_by_sender_and_minute(
    acme: Workspace, team: tuple[Member, str, Member, str]
) -> None:
    alice, alice_box, _, _ = team
    date = "Mon, 02 Jun 2025 10:00:27 +0200"
    upload(acme, alice, alice_box, message("sue@initech.com", "alice@acme.com", message_id=None, date=date))
    upload(acme, alice, alice_box, message("sue@acme.com", "alice@acme.com", message_id=None, date=date))
    query = {"date": "2025-06-02T08:00:00+00:00"}
    assert fates(acme, alice, **{"from": "Sue@Initech.com", **query})["alice@acme.com"]["fate"] == "stored"
    assert (
        fates(acme, alice, **{"from": "sue@acme.com", **query})["alice@acme.com"]["reason"] == "internal_only"
    )
    assert (
        fates(acme, alice, **{"from": "sue@acme.com", "date": "2025-06-02T08:01:00+00:00"})["alice@acme.com"][
            "fate"
        ]
        == "not_seen"
    )


def test_a_member_cannot_learn_of_another_members_skipped_message(
    acme: Workspace, team: tuple[Member, str, Member, str]
) -> None:
    alice, alice_box, carol, _ = team
    upload(acme, alice, alice_box, message("alice@acme.com", "sue@acme.com", message_id="<secret@acme.com>"))
    assert set(fates(acme, carol, message_id="secret@acme.com")) == {"carol@acme.com"}
    assert fates(acme, carol, message_id="secret@acme.com")["carol@acme.com"]["fate"] == "not_seen"
    assert fates(acme, acme.admin, message_id="secret@acme.com")["alice@acme.com"]["fate"] == "skipped"


def test_a_question_without_a_message_id_or_a_sender_is_a_422(acme: Workspace) -> None:
    for query in ({}, {"from": "sue@initech.com"}, {"from": "not an address", "date": "2025-06-02T08:00:00+00:00"},
                  {"from": "sue@initech.com", "date": "2025-06-02T08:00:00"}):  # fmt: skip
        assert_problem(
            acme.client.get("/diagnostics/messages", params=query, headers=acme.admin.headers), 422
        )


def test_a_full_sync_under_way_shows_each_folders_progress() -> None:
    cursors = {
        "INBOX": {"uidvalidity": 1, "last_uid": 400, "fetched": 400, "pending": 600},
        "Sent": {"uidvalidity": 1, "last_uid": 90, "fetched": 90, "pending": 0},
        "Archive": {"uidvalidity": 7},
    }
    assert sync_progress(cursors) == [{"folder": "INBOX", "done": 400, "total": 1000}]


def test_a_message_with_no_participant_at_all_is_skipped_for_that(
    acme: Workspace, team: tuple[Member, str, Member, str]
) -> None:
    alice, alice_box, _, _ = team
    raw = b"Subject: nobody\r\nMessage-ID: <nobody@acme.com>\r\nDate: Mon, 02 Jun 2025 10:00:00 +0000\r\n\r\nHi\r\n"
    assert upload(acme, alice, alice_box, raw)["status"] == "skipped"
    box = fates(acme, alice, message_id="nobody@acme.com")["alice@acme.com"]
    assert (box["fate"], box["reason"]) == ("skipped", "no_participants")


def test_the_console_shows_each_fate_as_the_api_does(
    acme: Workspace, team: tuple[Member, str, Member, str]
) -> None:
    alice, alice_box, carol, carol_box = team
    upload(acme, alice, alice_box, message("alice@acme.com", "sue@initech.com", message_id="<kept@acme.com>"))
    upload(acme, alice, alice_box, message("alice@acme.com", "sue@acme.com", message_id="<inner@acme.com>"))
    upload(acme, alice, alice_box, message("alice@acme.com", "max@hooli.com", message_id="<later@acme.com>"))
    response = acme.client.post(
        f"/mailboxes/{alice_box}/blocklist", json={"entry": "hooli.com"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    big = message(
        "sue@initech.com", "alice@acme.com", message_id="<huge@initech.com>", body="x" * MAX_MESSAGE_BYTES
    )
    acme.runtime.wait_for(
        acme.runtime.services.ingest.import_raw(alice_box, [("INBOX", "mbox:1", big)]).position
    )
    upload(acme, carol, carol_box, message("carol@acme.com", "sue@initech.com", message_id="<gone@acme.com>"))
    assert acme.client.delete(f"/mailboxes/{carol_box}", headers=carol.headers).status_code == 204

    acme.client.cookies.set("mailtrail_console", acme.admin.token)
    expected = {
        "kept": "stored",
        "inner": "skipped",
        "later": "hidden",
        "huge": "rejected",
        "gone": "retracted",
    }
    for local, fate in expected.items():
        message_id = f"{local}@{'initech.com' if local == 'huge' else 'acme.com'}"
        by_api = fates(acme, acme.admin, message_id=message_id)
        owner = "carol@acme.com" if local == "gone" else "alice@acme.com"
        assert by_api[owner]["fate"] == fate, (local, by_api[owner])
        page = acme.client.get("/console/diagnostics", params={"message_id": message_id})
        assert page.status_code == 200
        rows = re.findall(r"<tr><td>([^<]*)</td><td class=\"fate\">([^<]*)</td>", page.text)
        assert dict(rows) == {address: box["fate"] for address, box in by_api.items()}, local


def test_a_skip_by_an_address_entry_keeps_no_address_and_names_the_entry_while_it_is_set(
    acme: Workspace, team: tuple[Member, str, Member, str]
) -> None:
    alice, alice_box, _, _ = team
    path = f"/mailboxes/{alice_box}/blocklist"
    assert acme.client.post(path, json={"entry": "joe@globex.com"}, headers=alice.headers).status_code == 200
    upload(acme, alice, alice_box, message("joe@globex.com", "alice@acme.com", message_id="<j1@globex.com>"))
    box = fates(acme, alice, message_id="j1@globex.com")["alice@acme.com"]
    assert (box["fate"], box["reason"], box["entry"]) == ("skipped", "blocklisted", "joe@globex.com")
    with acme.runtime.engine.connect() as conn:
        kept = conn.execute(select(message_fates)).all()
    assert kept and "joe@globex.com" not in repr(kept) and "globex" not in repr(kept)
    response = acme.client.request("DELETE", path, json={"entry": "joe@globex.com"}, headers=alice.headers)
    assert response.status_code == 200, response.text
    box = fates(acme, alice, message_id="j1@globex.com")["alice@acme.com"]
    assert (box["fate"], box["entry"]) == ("skipped", "(an entry since removed)")
