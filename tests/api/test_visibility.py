"""Stories of who sees what of a colleague's email: metadata, subject, body, Bcc."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dsl import Member, Workspace
from tests.support.messages import message

SUBJECT = "Acquisition of Initech"
BODY = "The price is 4 million; keep it quiet."


def get_email(ws: Workspace, viewer: Member, email_id: str) -> dict[str, Any]:
    response = ws.client.get(f"/emails/{email_id}", headers=viewer.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def list_emails(ws: Workspace, viewer: Member) -> list[dict[str, Any]]:
    response = ws.client.get("/emails", headers=viewer.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def list_of(ws: Workspace, viewer: Member, path: str) -> list[dict[str, Any]]:
    response = ws.client.get(path, headers=viewer.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def set_sharing(ws: Workspace, owner: Member, mailbox_id: str, level: str) -> None:
    response = ws.client.patch(f"/mailboxes/{mailbox_id}", json={"sharing": level}, headers=owner.headers)
    assert response.status_code == 200, response.text


def body_status(ws: Workspace, viewer: Member, email_id: str) -> int:
    return int(ws.client.get(f"/emails/{email_id}/body", headers=viewer.headers).status_code)


class Office:
    """Acme with Bob (admin, mailbox owner), Alice (member) and Audrey (auditor)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.bob = ws.admin
        self.alice = ws.add_member("Alice", "alice@acme.com")
        self.audrey = ws.add_member("Audrey", "audrey@acme.com", role="auditor")
        self.mailbox = ws.connect_upload(self.bob, "bob@acme.com")
        raw = message("Bob <bob@acme.com>", "Sue <sue@initech.com>", SUBJECT, body=BODY)
        response = ws.post_message(self.bob, self.mailbox, raw)
        assert response.status_code == 201, response.text
        self.email_id: str = response.json()["email_id"]


@pytest.fixture
def office(acme: Workspace) -> Office:
    return Office(acme)


def test_a_colleague_sees_who_and_when_of_a_metadata_shared_email_but_not_its_subject(office: Office) -> None:
    seen = get_email(office.ws, office.alice, office.email_id)

    assert "subject" not in seen
    assert SUBJECT not in str(seen)
    assert seen["level"] == "metadata"
    assert {p["address"] for p in seen["participants"]} == {"bob@acme.com", "sue@initech.com"}
    assert seen["sent_at"].startswith("2025-06-02")
    listed = list_emails(office.ws, office.alice)
    assert [e["id"] for e in listed] == [office.email_id]
    assert "subject" not in listed[0]


def test_a_colleague_cannot_read_the_body_of_a_metadata_shared_email(office: Office) -> None:
    response = office.ws.client.get(f"/emails/{office.email_id}/body", headers=office.alice.headers)

    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert BODY not in response.text and SUBJECT not in response.text


def test_sharing_the_subject_shows_the_subject_but_not_the_body(office: Office) -> None:
    set_sharing(office.ws, office.bob, office.mailbox, "subject")

    seen = get_email(office.ws, office.alice, office.email_id)

    assert seen["subject"] == SUBJECT
    assert seen["level"] == "subject"
    assert list_emails(office.ws, office.alice)[0]["subject"] == SUBJECT
    assert body_status(office.ws, office.alice, office.email_id) == 404


def test_sharing_in_full_shows_the_body(office: Office) -> None:
    set_sharing(office.ws, office.bob, office.mailbox, "full")

    seen = get_email(office.ws, office.alice, office.email_id)
    body = office.ws.client.get(f"/emails/{office.email_id}/body", headers=office.alice.headers)

    assert seen["subject"] == SUBJECT
    assert seen["level"] == "full"
    assert body.status_code == 200, body.text
    assert BODY in body.json()["text"]
    assert body.json()["subject"] == SUBJECT


def test_lowering_sharing_again_hides_the_subject_and_body_again(office: Office) -> None:
    set_sharing(office.ws, office.bob, office.mailbox, "full")
    set_sharing(office.ws, office.bob, office.mailbox, "metadata")

    assert "subject" not in get_email(office.ws, office.alice, office.email_id)
    assert body_status(office.ws, office.alice, office.email_id) == 404


@pytest.mark.parametrize("level", ["metadata", "subject", "full"])
def test_the_owner_always_sees_subject_and_body_of_their_own_copy(office: Office, level: str) -> None:
    set_sharing(office.ws, office.bob, office.mailbox, level)

    seen = get_email(office.ws, office.bob, office.email_id)
    body = office.ws.client.get(f"/emails/{office.email_id}/body", headers=office.bob.headers)

    assert seen["subject"] == SUBJECT
    assert seen["level"] == "full"
    assert body.status_code == 200, body.text
    assert BODY in body.json()["text"]


def test_a_member_sees_subject_and_body_of_their_own_copy_at_metadata(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    mailbox = acme.connect_upload(alice, "alice@acme.com")
    raw = message("alice@acme.com", "sue@initech.com", "Hers", body="Mine")
    email_id = acme.post_message(alice, mailbox, raw).json()["email_id"]

    assert get_email(acme, alice, email_id)["subject"] == "Hers"
    assert "Mine" in acme.client.get(f"/emails/{email_id}/body", headers=alice.headers).json()["text"]
    assert "subject" not in get_email(acme, acme.admin, email_id)


def assert_auditor_sees_only_metadata(office: Office) -> None:
    seen = get_email(office.ws, office.audrey, office.email_id)
    listed = list_emails(office.ws, office.audrey)
    assert [e["id"] for e in listed] == [office.email_id]
    assert "subject" not in seen
    assert "subject" not in listed[0]
    assert SUBJECT not in str(listed)
    assert body_status(office.ws, office.audrey, office.email_id) == 404


def test_an_auditor_sees_metadata_but_no_subject_or_body_of_someone_elses_mailbox(office: Office) -> None:
    assert_auditor_sees_only_metadata(office)


@pytest.mark.parametrize("level", ["subject", "full"])
def test_an_auditor_sees_metadata_only_whatever_the_sharing_gives(office: Office, level: str) -> None:
    """Issue 14.4: an auditor verifies filtering; a subject or a body is never theirs to read."""
    set_sharing(office.ws, office.bob, office.mailbox, level)

    alice = get_email(office.ws, office.alice, office.email_id)

    assert alice["level"] == level and alice["subject"] == SUBJECT
    assert get_email(office.ws, office.audrey, office.email_id)["level"] == "metadata"
    assert_auditor_sees_only_metadata(office)


def test_a_share_with_named_members_does_not_reach_the_auditor(office: Office) -> None:
    shared = office.ws.client.post(
        f"/emails/{office.email_id}/shares", json={"members": [office.alice.id]}, headers=office.bob.headers
    )
    assert shared.status_code == 201, shared.text

    assert body_status(office.ws, office.alice, office.email_id) == 200
    assert_auditor_sees_only_metadata(office)


def test_a_colleague_sees_no_subject_in_a_records_email_list_at_metadata(office: Office) -> None:
    person = office.ws.client.get("/people", headers=office.alice.headers).json()["items"][0]
    company = office.ws.client.get("/companies", headers=office.alice.headers).json()["items"][0]

    by_person = list_of(office.ws, office.alice, f"/people/{person['id']}/emails")
    by_company = list_of(office.ws, office.alice, f"/companies/{company['id']}/emails")

    assert [e["id"] for e in by_person] == [office.email_id]
    assert [e["id"] for e in by_company] == [office.email_id]
    assert "subject" not in by_person[0] and "subject" not in by_company[0]


def test_bcc_is_visible_only_to_the_owner_of_the_copy(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    raw = message("bob@acme.com", "sue@initech.com", "Offer", headers={"Bcc": "Lawyer <lawyer@counsel.com>"})
    email_id = acme.post_message(acme.admin, mailbox, raw).json()["email_id"]
    set_sharing(acme, acme.admin, mailbox, "full")

    as_owner = get_email(acme, acme.admin, email_id)["participants"]
    as_colleague = get_email(acme, alice, email_id)["participants"]
    colleague_list = list_emails(acme, alice)[0]["participants"]

    assert {"role": "bcc", "address": "lawyer@counsel.com"} in [
        {"role": p["role"], "address": p["address"]} for p in as_owner
    ]
    assert "lawyer@counsel.com" not in {p["address"] for p in as_colleague}
    assert "lawyer@counsel.com" not in {p["address"] for p in colleague_list}
    assert {p["address"] for p in as_colleague} == {"bob@acme.com", "sue@initech.com"}
    body = acme.client.get(f"/emails/{email_id}/body", headers=alice.headers)
    assert body.status_code == 200
    assert "lawyer@counsel.com" not in body.text


def test_a_bcc_recipient_still_makes_the_email_appear_on_their_record_for_the_owner(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    raw = message("bob@acme.com", "sue@initech.com", "Offer", headers={"Bcc": "lawyer@counsel.com"})
    email_id = acme.post_message(acme.admin, mailbox, raw).json()["email_id"]

    people = acme.client.get("/people", headers=acme.admin.headers).json()["items"]

    assert sorted(p["emails"][0] for p in people) == ["lawyer@counsel.com", "sue@initech.com"]
    lawyer = next(p for p in people if p["emails"] == ["lawyer@counsel.com"])
    emails = acme.client.get(f"/people/{lawyer['id']}/emails", headers=acme.admin.headers).json()["items"]
    assert [e["id"] for e in emails] == [email_id]


def test_a_colleague_cannot_learn_a_bcc_recipient_from_their_record(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    raw = message("bob@acme.com", "sue@initech.com", "Offer", headers={"Bcc": "lawyer@counsel.com"})
    acme.post_message(acme.admin, mailbox, raw)
    lawyer = next(
        p
        for p in acme.client.get("/people", headers=alice.headers).json()["items"]
        if p["emails"] == ["lawyer@counsel.com"]
    )

    emails = acme.client.get(f"/people/{lawyer['id']}/emails", headers=alice.headers).json()["items"]
    person = acme.client.get(f"/people/{lawyer['id']}", headers=alice.headers).json()

    assert emails == []
    assert person["last_interaction"] is None


def test_the_same_message_in_two_mailboxes_is_one_email_with_two_copies(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    bob_box = acme.connect_upload(acme.admin, "bob@acme.com")
    alice_box = acme.connect_upload(alice, "alice@acme.com")
    raw = message("bob@acme.com", ["sue@initech.com", "alice@acme.com"], "Kick-off")

    from_bob = acme.post_message(acme.admin, bob_box, raw).json()
    from_alice = acme.post_message(alice, alice_box, raw).json()

    assert from_bob["status"] == from_alice["status"] == "stored"
    assert from_bob["email_id"] == from_alice["email_id"]
    assert from_bob["copy_id"] != from_alice["copy_id"]
    bobs = list_emails(acme, acme.admin)
    assert len(bobs) == 1
    assert bobs[0]["copies"] == 2
    assert bobs[0]["direction"] == "sent"
    assert bobs[0]["subject"] == "Kick-off"
    alices = list_emails(acme, alice)
    assert [e["id"] for e in alices] == [from_bob["email_id"]]
    assert alices[0]["direction"] == "received"
    assert alices[0]["subject"] == "Kick-off"
    assert get_email(acme, acme.admin, from_bob["email_id"])["copies"] == 2
    for box in (bob_box, alice_box):
        assert acme.client.get(f"/mailboxes/{box}", headers=acme.admin.headers).json()["synced"] == 1


def test_a_viewer_gets_the_highest_level_any_copy_grants(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    carol = acme.add_member("Carol", "carol@acme.com")
    bob_box = acme.connect_upload(acme.admin, "bob@acme.com")
    alice_box = acme.connect_upload(alice, "alice@acme.com")
    raw = message("bob@acme.com", ["sue@initech.com", "alice@acme.com"], "Kick-off", body="Agenda")
    email_id = acme.post_message(acme.admin, bob_box, raw).json()["email_id"]
    acme.post_message(alice, alice_box, raw)

    set_sharing(acme, alice, alice_box, "full")

    seen = get_email(acme, carol, email_id)
    assert seen["level"] == "full"
    assert seen["subject"] == "Kick-off"
    assert "Agenda" in acme.client.get(f"/emails/{email_id}/body", headers=carol.headers).json()["text"]


def test_an_unknown_email_is_not_found(acme: Workspace) -> None:
    for path in ["/emails/00000000-0000-0000-0000-000000000000", "/emails/nope", "/emails/nope/body"]:
        response = acme.client.get(path, headers=acme.admin.headers)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
