"""A person's `origin` names the copy that created them only to those who may see that copy.

Acme: Bob (bob@acme.com, the admin) sends a proposal to Sue at client.example and Bcc's
his partner Pat at partner.example; Carol is a colleague, Audrey an auditor. Record creation
is `selective`, so both Sue and Pat become people."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dsl import Member, Workspace
from tests.support.messages import message

RULE = "selective:member_sent_to"


@pytest.fixture
def sent(acme: Workspace) -> dict[str, str]:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    raw = message("bob@acme.com", "sue@client.example", "Proposal", message_id="<proposal@acme.com>",
                  headers={"Bcc": "Pat <pat@partner.example>"})  # fmt: skip
    response = acme.post_message(acme.admin, mailbox, raw)
    assert response.json()["status"] == "stored", response.text
    return {"mailbox_id": mailbox, "copy_id": response.json()["copy_id"]}


def origins_seen_by(ws: Workspace, member: Member) -> dict[str, dict[str, Any]]:
    """address -> origin, from GET /people and from each GET /people/{id} (which must agree)."""
    response = ws.client.get("/people", headers=member.headers)
    assert response.status_code == 200, response.text
    seen: dict[str, dict[str, Any]] = {}
    for person in response.json()["items"]:
        one = ws.client.get(f"/people/{person['id']}", headers=member.headers).json()
        assert one["origin"] == person["origin"]
        seen[person["emails"][0]] = person["origin"]
    return seen


def test_a_bcc_only_recipients_origin_names_the_copy_to_its_sender_only(
    acme: Workspace, sent: dict[str, str]
) -> None:
    carol = acme.add_member("Carol", "carol@acme.com")
    audrey = acme.add_member("Audrey", "audrey@acme.com", role="auditor")
    named = {"rule": RULE, **sent}

    assert origins_seen_by(acme, acme.admin) == {"sue@client.example": named, "pat@partner.example": named}
    for colleague in (carol, audrey):
        seen = origins_seen_by(acme, colleague)
        assert seen["pat@partner.example"] == {"rule": RULE}
        assert seen["sue@client.example"] == named  # To: everyone sees the copy at metadata level


def test_an_origin_stops_naming_a_copy_once_it_is_hidden(acme: Workspace, sent: dict[str, str]) -> None:
    carol = acme.add_member("Carol", "carol@acme.com")
    blocklist = f"/mailboxes/{sent['mailbox_id']}/blocklist"
    blocked = acme.client.post(blocklist, json={"entry": "client.example"}, headers=acme.admin.headers)
    assert blocked.status_code == 200, blocked.text

    for member in (acme.admin, carol):
        assert origins_seen_by(acme, member)["sue@client.example"] == {"rule": RULE}

    acme.client.request("DELETE", blocklist, json={"entry": "client.example"}, headers=acme.admin.headers)
    assert origins_seen_by(acme, carol)["sue@client.example"] == {"rule": RULE, **sent}

    acme.client.delete(f"/mailboxes/{sent['mailbox_id']}", headers=acme.admin.headers)
    assert origins_seen_by(acme, acme.admin) == {"sue@client.example": {"rule": RULE},
                                                 "pat@partner.example": {"rule": RULE}}  # fmt: skip


def test_a_manual_persons_origin_is_shown_as_it_is(acme: Workspace) -> None:
    carol = acme.add_member("Carol", "carol@acme.com")
    sue = {"name": "Sue", "emails": ["sue@client.example"]}
    assert acme.client.post("/people", json=sue, headers=acme.admin.headers).status_code == 201

    assert origins_seen_by(acme, carol) == {"sue@client.example": {"manual": True}}
