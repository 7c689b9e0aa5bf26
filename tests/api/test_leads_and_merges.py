"""Leads, reply association, merges and the record-creation policy over time."""

from __future__ import annotations

from api.replay import replay_digests
from tests.support.dsl import Member, Workspace
from tests.support.messages import message


def person_id(acme: Workspace, address: str) -> str:
    people = acme.client.get("/people", params={"limit": 200}, headers=acme.admin.headers).json()["items"]
    return next(p["id"] for p in people if address in p["emails"])


def new_person(acme: Workspace, address: str) -> str:
    response = acme.client.post(
        "/people", json={"name": address, "emails": [address]}, headers=acme.admin.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def lead(acme: Workspace, name: str, contacts: list[str]) -> str:
    response = acme.client.post(
        "/leads", json={"name": name, "contacts": contacts}, headers=acme.admin.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def lead_subjects(acme: Workspace, lead_id: str, member: Member | None = None) -> list[str]:
    headers = (member or acme.admin).headers
    items = acme.client.get(f"/leads/{lead_id}/emails", headers=headers).json()["items"]
    return sorted(e.get("subject", "?") for e in items)


def test_an_email_attaches_to_the_lead_of_any_contact_among_its_participants(acme: Workspace) -> None:
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    deal = lead(acme, "Globex deal", [new_person(acme, "hank@globex.com")])
    acme.post_message(
        acme.admin, box, message("bob@acme.com", "hank@globex.com", "Proposal", message_id="<p1@acme.com>")
    )
    acme.post_message(
        acme.admin, box, message("bob@acme.com", "zed@other.com", "Unrelated", message_id="<u1@acme.com>")
    )
    assert lead_subjects(acme, deal) == ["Proposal"]


def thread(acme: Workspace, box: str, first_to: list[str]) -> None:
    acme.post_message(
        acme.admin, box, message("bob@acme.com", first_to, "Pricing", message_id="<t1@acme.com>")
    )
    reply = message(
        "newcomer@globex.com",
        "bob@acme.com",
        "Re: Pricing",
        message_id="<t2@globex.com>",
        date="Tue, 03 Jun 2025 09:00:00 +0000",
        headers={"In-Reply-To": "<t1@acme.com>", "References": "<t1@acme.com>"},
    )
    acme.post_message(acme.admin, box, reply)


def test_a_reply_from_a_new_address_joins_the_lead_of_the_thread(acme: Workspace) -> None:
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    deal = lead(acme, "Globex deal", [new_person(acme, "hank@globex.com")])
    thread(acme, box, ["hank@globex.com"])
    assert lead_subjects(acme, deal) == ["Pricing", "Re: Pricing"]


def test_a_reply_dated_the_same_second_as_the_message_it_answers_joins_its_lead(acme: Workspace) -> None:
    """Earlier in a thread is an older Date or, at the same Date, recorded first: the reply
    comes from another member's mailbox, in the same second as the message it answers."""
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    alice = acme.add_member("Alice", "alice@acme.com")
    alice_box = acme.connect_upload(alice, "alice@acme.com")
    same_second = "Mon, 02 Jun 2025 10:00:00 +0000"
    first = acme.post_message(
        acme.admin,
        box,
        message("bob@acme.com", "hank@globex.com", "Pricing", message_id="<s1@acme.com>", date=same_second),
    ).json()
    reply = message(
        "newcomer@globex.com",
        "alice@acme.com",
        "Re: Pricing",
        message_id="<s2@globex.com>",
        date=same_second,
        headers={"In-Reply-To": "<s1@acme.com>", "References": "<s1@acme.com>"},
    )
    second = acme.post_message(alice, alice_box, reply).json()
    deal = lead(acme, "Globex deal", [person_id(acme, "hank@globex.com")])  # made by Bob's message

    def lead_emails() -> set[str]:
        items = acme.client.get(f"/leads/{deal}/emails", headers=acme.admin.headers).json()["items"]
        return {e["id"] for e in items}

    assert lead_emails() == {first["email_id"], second["email_id"]}
    response = acme.client.patch(
        "/settings", json={"exclusions": ["pat@initech.com"]}, headers=acme.admin.headers
    )
    assert response.status_code == 200, response.text
    assert lead_emails() == {first["email_id"], second["email_id"]}  # recomputed for the whole workspace
    assert replay_digests(acme.runtime)["equal"]


def test_a_reply_in_a_thread_of_two_leads_joins_neither(acme: Workspace) -> None:
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    first = lead(acme, "Globex", [new_person(acme, "hank@globex.com")])
    second = lead(acme, "Initech", [new_person(acme, "peter@initech.com")])
    thread(acme, box, ["hank@globex.com", "peter@initech.com"])
    assert lead_subjects(acme, first) == ["Pricing"]
    assert lead_subjects(acme, second) == ["Pricing"]


def test_merging_two_people_moves_their_addresses_and_emails(acme: Workspace) -> None:
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    acme.post_message(acme.admin, box, message("bob@acme.com", "sue@corp.com", "Work", message_id="<w@a>"))
    acme.post_message(acme.admin, box, message("bob@acme.com", "sue@gmail.com", "Home", message_id="<h@a>"))
    work, home = person_id(acme, "sue@corp.com"), person_id(acme, "sue@gmail.com")

    merged = acme.client.post(f"/people/{work}/merge", json={"person_id": home}, headers=acme.admin.headers)

    assert merged.status_code == 200, merged.text
    person = acme.client.get(f"/people/{work}", headers=acme.admin.headers).json()
    assert sorted(person["emails"]) == ["sue@corp.com", "sue@gmail.com"]
    subjects = [
        e["subject"]
        for e in acme.client.get(f"/people/{work}/emails", headers=acme.admin.headers).json()["items"]
    ]
    assert sorted(subjects) == ["Home", "Work"]
    for gone in (f"/people/{home}", f"/people/{home}/emails"):  # merged away: no row, no list
        assert acme.client.get(gone, headers=acme.admin.headers).status_code == 404
    log = acme.client.get(
        "/audit/events", params={"event_type": "Person.Merged"}, headers=acme.admin.headers
    ).json()
    assert [e["aggregate_id"] for e in log["items"]] == [home]
    again = acme.client.post(f"/people/{work}/merge", json={"person_id": home}, headers=acme.admin.headers)
    assert again.status_code == 422


def test_a_policy_change_is_not_retroactive_and_replays_to_the_same_records(acme: Workspace) -> None:
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    acme.post_message(
        acme.admin, box, message("ann@corp.com", "bob@acme.com", "In 1", message_id="<i1@corp.com>")
    )
    assert (
        acme.client.get("/people", headers=acme.admin.headers).json()["items"] == []
    )  # selective: received only

    acme.client.patch("/settings", json={"record_creation": "all"}, headers=acme.admin.headers)
    acme.post_message(
        acme.admin, box, message("cid@corp.com", "bob@acme.com", "In 2", message_id="<i2@corp.com>")
    )
    acme.client.patch("/settings", json={"record_creation": "none"}, headers=acme.admin.headers)
    acme.post_message(
        acme.admin, box, message("bob@acme.com", "dee@corp.com", "Out 3", message_id="<o3@acme.com>")
    )

    people = acme.client.get("/people", headers=acme.admin.headers).json()["items"]
    assert [p["emails"] for p in people] == [["cid@corp.com"]]  # nothing back-filled, nothing removed
    assert replay_digests(acme.runtime)["equal"]


def test_records_show_the_first_and_last_interaction_with_member_and_direction(acme: Workspace) -> None:
    carol = acme.add_member("Carol", "carol@acme.com")
    bob_box = acme.connect_upload(acme.admin, "bob@acme.com")
    carol_box = acme.connect_upload(carol, "carol@acme.com")
    acme.post_message(
        acme.admin,
        bob_box,
        message(
            "bob@acme.com",
            "hank@globex.com",
            "First",
            message_id="<f@a>",
            date="Mon, 02 Jun 2025 10:00:00 +0000",
        ),
    )
    acme.post_message(
        carol,
        carol_box,
        message(
            "hank@globex.com",
            "carol@acme.com",
            "Last",
            message_id="<l@g>",
            date="Fri, 06 Jun 2025 10:00:00 +0000",
        ),
    )
    hank = person_id(acme, "hank@globex.com")
    deal = lead(acme, "Globex", [hank])

    person = acme.client.get(f"/people/{hank}", headers=acme.admin.headers).json()
    first, last = person["interactions"]["first"], person["interactions"]["last"]
    assert (first["member_id"], first["direction"]) == (acme.admin.id, "sent")
    assert (last["member_id"], last["direction"]) == (carol.id, "received")
    assert person["last_interaction"] == last["at"] and last["at"].startswith("2025-06-06")
    company = acme.client.get("/companies", headers=acme.admin.headers).json()["items"][0]
    assert company["interactions"] == person["interactions"]
    assert (
        acme.client.get(f"/leads/{deal}", headers=acme.admin.headers).json()["interactions"]
        == person["interactions"]
    )

    acme.client.delete(f"/mailboxes/{carol_box}", headers=carol.headers)  # only visible copies count
    after = acme.client.get(f"/people/{hank}", headers=acme.admin.headers).json()["interactions"]
    assert after["last"]["member_id"] == acme.admin.id
