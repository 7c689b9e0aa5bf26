"""The privacy rules one by one, as a compliance team would check them through the HTTP API.

Acme: acme.com is internal; Bob (bob@acme.com) is the admin, Alice and Carol are
members, Audrey is an auditor. Every rule is checked from the side of the person
who must (or must not) see an email: GET /emails, GET /emails/{id}, its body,
and explain."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.dsl import Member, Workspace, assert_problem, make_workspace
from tests.support.messages import message

# helpers -----------------------------------------------------------------------------


def listed_ids(ws: Workspace, member: Member) -> set[str]:
    response = ws.client.get("/emails", headers=member.headers)
    assert response.status_code == 200, response.text
    return {e["id"] for e in response.json()["items"]}


def shown_to(ws: Workspace, member: Member, path: str) -> dict[str, Any] | None:
    """What GET `path` shows `member`, or None when it does not exist for them (404)."""
    response = ws.client.get(path, headers=member.headers)
    if response.status_code == 404:
        assert_problem(response, 404)
        return None
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def email_of(ws: Workspace, member: Member, email_id: str) -> dict[str, Any] | None:
    return shown_to(ws, member, f"/emails/{email_id}")


def body_of(ws: Workspace, member: Member, email_id: str) -> dict[str, Any] | None:
    return shown_to(ws, member, f"/emails/{email_id}/body")


def hidden_from(ws: Workspace, member: Member, email_id: str) -> bool:
    """The email does not exist for this member: not listed, 404, no body."""
    gone = email_of(ws, member, email_id) is None
    assert (email_id not in listed_ids(ws, member)) == gone, "the list and GET /emails/{id} disagree"
    if gone:
        assert body_of(ws, member, email_id) is None
    return gone


def store(ws: Workspace, member: Member, mailbox_id: str, raw: bytes) -> str:
    response = ws.post_message(member, mailbox_id, raw)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "stored", body
    return str(body["email_id"])


def skipped(ws: Workspace, member: Member, mailbox_id: str, raw: bytes) -> str:
    response = ws.post_message(member, mailbox_id, raw)
    assert response.status_code < 300, response.text
    body = response.json()
    assert body["status"] == "skipped", body
    assert "email_id" not in body
    return str(body["reason"])


def mailbox_of(ws: Workspace, member: Member, mailbox_id: str) -> dict[str, Any]:
    response = ws.client.get(f"/mailboxes/{mailbox_id}", headers=member.headers)
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def settings(ws: Workspace, **changes: Any) -> dict[str, Any]:
    response = ws.client.patch("/settings", json=changes, headers=ws.admin.headers)
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def block(ws: Workspace, member: Member, mailbox_id: str, entry: str) -> None:
    response = ws.client.post(
        f"/mailboxes/{mailbox_id}/blocklist", json={"entry": entry}, headers=member.headers
    )
    assert response.status_code == 200, response.text


def unblock(ws: Workspace, member: Member, mailbox_id: str, entry: str) -> None:
    response = ws.client.request(
        "DELETE", f"/mailboxes/{mailbox_id}/blocklist", json={"entry": entry}, headers=member.headers
    )
    assert response.status_code == 200, response.text


def set_sharing(ws: Workspace, member: Member, mailbox_id: str, level: str) -> None:
    response = ws.client.patch(f"/mailboxes/{mailbox_id}", json={"sharing": level}, headers=member.headers)
    assert response.status_code == 200, response.text
    assert response.json()["sharing"] == level


def share(ws: Workspace, member: Member, email_id: str, **body: Any) -> dict[str, Any]:
    response = ws.client.post(f"/emails/{email_id}/shares", json=body, headers=member.headers)
    assert response.status_code == 201, response.text
    shown: dict[str, Any] = response.json()
    return shown


def explain(ws: Workspace, caller: Member, email_id: str, viewer: Member) -> dict[str, Any]:
    response = ws.client.get(
        f"/audit/emails/{email_id}/explain", params={"viewer": viewer.id}, headers=caller.headers
    )
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def people_addresses(ws: Workspace) -> set[str]:
    response = ws.client.get("/people", params={"limit": 200}, headers=ws.admin.headers)
    assert response.status_code == 200, response.text
    return {a for p in response.json()["items"] for a in p["emails"]}


@pytest.fixture
def bob_box(acme: Workspace) -> str:
    return acme.connect_upload(acme.admin, "bob@acme.com")


@pytest.fixture
def alice(acme: Workspace) -> Member:
    return acme.add_member("Alice", "alice@acme.com")


@pytest.fixture
def alice_box(acme: Workspace, alice: Member) -> str:
    return acme.connect_upload(alice, "alice@acme.com")


@pytest.fixture
def carol(acme: Workspace) -> Member:
    return acme.add_member("Carol", "carol@acme.com")


@pytest.fixture
def audrey(acme: Workspace) -> Member:
    return acme.add_member("Audrey", "audrey@acme.com", role="auditor")


# internal mail ----------------------------------------------------------------------------


def test_internal_mail_is_not_stored_only_counted_without_any_content(acme: Workspace, bob_box: str) -> None:
    raw = message(
        "bob@acme.com",
        "sue@acme.com",
        "Salary review for Sue",
        message_id="<internal-1@acme.com>",
        body="The confidential figures are 123456.",
    )

    assert skipped(acme, acme.admin, bob_box, raw) == "internal_only"

    assert listed_ids(acme, acme.admin) == set()
    shown = mailbox_of(acme, acme.admin, bob_box)
    assert shown["synced"] == 0
    assert shown["skipped"] == {"internal_only": 1}
    text = json.dumps(shown)
    for secret in ("Salary review", "123456", "sue@acme.com", "internal-1@acme.com"):
        assert secret not in text
    # "not stored at all": nothing of its content reached the event log either
    notifications = acme.runtime.app.recorder.select_notifications(start=1, limit=100_000)
    assert notifications
    for notification in notifications:
        for secret in (b"Salary review", b"123456", b"sue@acme.com", b"internal-1@acme.com"):
            assert secret not in notification.state


def test_internal_mail_skipped_by_a_member_with_a_free_mail_address_is_counted_per_mailbox(
    acme: Workspace, bob_box: str
) -> None:
    karen = acme.add_member("Karen", "karen@gmail.com")
    karen_box = acme.connect_upload(karen, "karen@gmail.com")

    assert skipped(
        acme, acme.admin, bob_box, message("bob@acme.com", "karen@gmail.com", message_id="<k1@a>")
    ) == ("internal_only")
    stored = store(acme, karen, karen_box, message("karen@gmail.com", "sue@gmail.com", message_id="<k2@a>"))

    assert mailbox_of(acme, acme.admin, bob_box)["skipped"] == {"internal_only": 1}
    assert mailbox_of(acme, karen, karen_box)["skipped"] == {}
    assert listed_ids(acme, karen) == {stored}


def test_adding_an_internal_domain_hides_emails_that_become_all_internal_and_removing_it_shows_them(
    acme: Workspace, bob_box: str, alice: Member
) -> None:
    only_initech = store(
        acme,
        acme.admin,
        bob_box,
        message("bob@acme.com", "pat@initech.com", "Pricing", message_id="<p1@acme.com>"),
    )
    mixed = store(
        acme,
        acme.admin,
        bob_box,
        message("bob@acme.com", ["pat@initech.com", "sue@gmail.com"], "Intro", message_id="<p2@acme.com>"),
    )

    assert settings(acme, internal_domains=["acme.com", "initech.com"])["internal_domains"] == [
        "acme.com",
        "initech.com",
    ]

    assert hidden_from(acme, acme.admin, only_initech)
    assert hidden_from(acme, alice, only_initech)
    assert listed_ids(acme, acme.admin) == {mixed}
    assert email_of(acme, acme.admin, mixed)["subject"] == "Intro"  # type: ignore[index]

    settings(acme, internal_domains=["acme.com"])

    again = email_of(acme, acme.admin, only_initech)
    assert again is not None and again["subject"] == "Pricing" and again["level"] == "full"
    assert body_of(acme, acme.admin, only_initech) is not None
    assert listed_ids(acme, acme.admin) == {only_initech, mixed}
    assert email_of(acme, alice, only_initech) is not None


def test_an_internal_domain_makes_new_mail_with_it_skipped_and_removing_it_lets_new_mail_in(
    acme: Workspace, bob_box: str
) -> None:
    settings(acme, internal_domains=["acme.com", "initech.com"])
    assert skipped(
        acme, acme.admin, bob_box, message("bob@acme.com", "pat@initech.com", message_id="<n1@a>")
    ) == ("internal_only")

    settings(acme, internal_domains=["acme.com"])

    assert store(acme, acme.admin, bob_box, message("bob@acme.com", "pat@initech.com", message_id="<n2@a>"))


def test_adding_a_member_whose_address_was_the_only_external_participant_hides_the_email(
    acme: Workspace, bob_box: str
) -> None:
    to_dan = store(
        acme,
        acme.admin,
        bob_box,
        message("bob@acme.com", "dan@freelance.io", "Contract", message_id="<d1@acme.com>"),
    )
    to_dan_and_sue = store(
        acme,
        acme.admin,
        bob_box,
        message("bob@acme.com", ["dan@freelance.io", "sue@gmail.com"], "Kickoff", message_id="<d2@acme.com>"),
    )
    assert listed_ids(acme, acme.admin) == {to_dan, to_dan_and_sue}

    dan = acme.add_member("Dan", "dan@freelance.io")

    assert hidden_from(acme, acme.admin, to_dan)
    assert hidden_from(acme, dan, to_dan)
    assert listed_ids(acme, acme.admin) == {to_dan_and_sue}
    assert email_of(acme, dan, to_dan_and_sue) is not None


def test_a_members_own_mailbox_alias_counts_as_internal_even_on_a_foreign_domain(
    acme: Workspace, bob_box: str
) -> None:
    to_alias = store(
        acme, acme.admin, bob_box, message("bob@acme.com", "alice.a@outlook.com", message_id="<al@acme.com>")
    )
    alice = acme.add_member("Alice", "alice@acme.com")
    acme.add_email(alice, "alice.a@outlook.com")

    acme.connect_upload(alice, "alice@acme.com", aliases=["alice.a@outlook.com"])

    assert hidden_from(acme, acme.admin, to_alias)
    assert (
        "outlook.com"
        not in acme.client.get("/settings", headers=acme.admin.headers).json()["internal_domains"]
    )


# workspace exclusions ------------------------------------------------------------------------


def test_workspace_exclusions_hide_existing_emails_for_everyone_including_the_owner(
    acme: Workspace, bob_box: str, alice: Member, alice_box: str, audrey: Member
) -> None:
    set_sharing(acme, acme.admin, bob_box, "full")
    from_sue = store(
        acme,
        acme.admin,
        bob_box,
        message("sue@gmail.com", "bob@acme.com", "Sue's", message_id="<e1@gmail.com>"),
    )
    raw_initech = message(
        "ceo@sub.initech.com", ["bob@acme.com", "alice@acme.com"], "Board", message_id="<e2@initech.com>"
    )
    from_initech = store(acme, acme.admin, bob_box, raw_initech)
    assert store(acme, alice, alice_box, raw_initech) == from_initech  # two copies of one email
    from_globex = store(
        acme,
        acme.admin,
        bob_box,
        message("joe@globex.io", "bob@acme.com", "Globex", message_id="<e3@globex.io>"),
    )
    for viewer in (acme.admin, alice, audrey):
        assert listed_ids(acme, viewer) == {from_sue, from_initech, from_globex}

    shown = settings(acme, exclusions=["Sue@Gmail.com", "initech.com"])

    assert sorted(shown["exclusions"]) == ["initech.com", "sue@gmail.com"]
    for viewer in (acme.admin, alice, audrey):
        assert hidden_from(acme, viewer, from_sue)
        assert hidden_from(acme, viewer, from_initech)  # the domain covers its subdomain
        assert listed_ids(acme, viewer) == {from_globex}

    settings(acme, exclusions=[])

    for viewer in (acme.admin, alice, audrey):
        assert listed_ids(acme, viewer) == {from_sue, from_initech, from_globex}
    assert body_of(acme, alice, from_initech) is not None


def test_new_messages_matching_an_exclusion_are_skipped_as_excluded(acme: Workspace, bob_box: str) -> None:
    settings(acme, exclusions=["sue@gmail.com", "initech.com"])

    assert skipped(
        acme, acme.admin, bob_box, message("sue@gmail.com", "bob@acme.com", message_id="<x1@a>")
    ) == ("excluded")
    assert (
        skipped(
            acme,
            acme.admin,
            bob_box,
            message("bob@acme.com", ["pat@mail.initech.com", "joe@globex.io"], message_id="<x2@a>"),
        )
        == "excluded"
    )
    kept = store(acme, acme.admin, bob_box, message("bob@acme.com", "joe@globex.io", message_id="<x3@a>"))

    shown = mailbox_of(acme, acme.admin, bob_box)
    assert shown["skipped"] == {"excluded": 2}
    assert shown["synced"] == 1
    assert listed_ids(acme, acme.admin) == {kept}
    assert not people_addresses(acme) & {"sue@gmail.com", "pat@mail.initech.com"}


@pytest.mark.parametrize(
    "address", ["sue@gmail.com", "SUE@gmail.com", "pat@initech.com", "ceo@sub.initech.com"]
)
def test_an_excluded_address_never_becomes_a_person_even_by_hand(acme: Workspace, address: str) -> None:
    settings(acme, exclusions=["sue@gmail.com", "initech.com"])

    created = acme.client.post("/people", json={"name": "X", "emails": [address]}, headers=acme.admin.headers)
    assert_problem(created, 422)

    person = acme.client.post(
        "/people", json={"name": "Joe", "emails": ["joe@globex.io"]}, headers=acme.admin.headers
    )
    assert person.status_code == 201, person.text
    added = acme.client.post(
        f"/people/{person.json()['id']}/addresses", json={"address": address}, headers=acme.admin.headers
    )
    assert_problem(added, 422)
    assert people_addresses(acme) == {"joe@globex.io"}


# blocklists -----------------------------------------------------------------------------------


def test_a_blocklist_entry_hides_that_mailboxs_matching_copies_at_once_and_removing_it_shows_them(
    acme: Workspace, bob_box: str
) -> None:
    from_sub = store(
        acme,
        acme.admin,
        bob_box,
        message("ceo@sub.initech.com", "bob@acme.com", "Offer", message_id="<b1@initech.com>"),
    )
    cc_initech = store(
        acme,
        acme.admin,
        bob_box,
        message("sue@gmail.com", "bob@acme.com", "Fwd", cc=["pat@initech.com"], message_id="<b2@gmail.com>"),
    )
    lookalike = store(
        acme,
        acme.admin,
        bob_box,
        message("ann@notinitech.com", "bob@acme.com", "Lookalike", message_id="<b3@notinitech.com>"),
    )
    unrelated = store(
        acme,
        acme.admin,
        bob_box,
        message("sue@gmail.com", "bob@acme.com", "Unrelated", message_id="<b4@gmail.com>"),
    )

    block(acme, acme.admin, bob_box, "initech.com")

    assert hidden_from(acme, acme.admin, from_sub)  # a domain entry covers its subdomains
    assert hidden_from(acme, acme.admin, cc_initech)  # any participant, not only the sender
    assert listed_ids(acme, acme.admin) == {lookalike, unrelated}

    unblock(acme, acme.admin, bob_box, "initech.com")

    assert listed_ids(acme, acme.admin) == {from_sub, cc_initech, lookalike, unrelated}
    assert email_of(acme, acme.admin, from_sub)["subject"] == "Offer"  # type: ignore[index]
    assert body_of(acme, acme.admin, from_sub)["text"].strip() == "Hi there."  # type: ignore[index]


def test_an_address_entry_hides_only_that_address(acme: Workspace, bob_box: str) -> None:
    from_pat = store(
        acme, acme.admin, bob_box, message("pat@initech.com", "bob@acme.com", message_id="<a1@i>")
    )
    from_lee = store(
        acme, acme.admin, bob_box, message("lee@initech.com", "bob@acme.com", message_id="<a2@i>")
    )

    block(acme, acme.admin, bob_box, "Pat@Initech.com")

    assert hidden_from(acme, acme.admin, from_pat)
    assert listed_ids(acme, acme.admin) == {from_lee}


def test_removing_one_of_two_matching_entries_keeps_the_copy_hidden(acme: Workspace, bob_box: str) -> None:
    email = store(acme, acme.admin, bob_box, message("pat@initech.com", "bob@acme.com", message_id="<t1@i>"))
    block(acme, acme.admin, bob_box, "pat@initech.com")
    block(acme, acme.admin, bob_box, "initech.com")

    unblock(acme, acme.admin, bob_box, "pat@initech.com")
    assert hidden_from(acme, acme.admin, email)

    unblock(acme, acme.admin, bob_box, "initech.com")
    assert not hidden_from(acme, acme.admin, email)


def test_a_blocklisted_message_is_skipped_at_ingest_and_only_a_resync_brings_it_back(
    acme: Workspace, bob_box: str
) -> None:
    raw = message("pat@initech.com", "bob@acme.com", "Later", message_id="<r1@initech.com>")
    block(acme, acme.admin, bob_box, "initech.com")
    assert skipped(acme, acme.admin, bob_box, raw) == "blocklisted"
    assert mailbox_of(acme, acme.admin, bob_box)["skipped"] == {"blocklisted": 1}

    unblock(acme, acme.admin, bob_box, "initech.com")
    assert listed_ids(acme, acme.admin) == set()

    email = store(acme, acme.admin, bob_box, raw)
    assert listed_ids(acme, acme.admin) == {email}


def test_another_members_own_copy_of_the_same_message_stays_visible_to_them(
    acme: Workspace, bob_box: str, alice: Member, alice_box: str
) -> None:
    raw = message(
        "pat@initech.com",
        ["bob@acme.com", "alice@acme.com"],
        "Both of us",
        message_id="<both@initech.com>",
        body="Secret terms.",
    )
    email = store(acme, acme.admin, bob_box, raw)
    assert store(acme, alice, alice_box, raw) == email

    block(acme, acme.admin, bob_box, "initech.com")

    alices = email_of(acme, alice, email)
    assert alices is not None and alices["level"] == "full" and alices["subject"] == "Both of us"
    assert body_of(acme, alice, email)["text"].strip() == "Secret terms."  # type: ignore[index]
    # Bob's own copy is hidden; what is left for him is Alice's copy at her sharing level (metadata)
    bobs = email_of(acme, acme.admin, email)
    assert bobs is not None and bobs["level"] == "metadata" and bobs["copies"] == 1
    assert "subject" not in bobs
    assert body_of(acme, acme.admin, email) is None

    block(acme, alice, alice_box, "pat@initech.com")

    assert hidden_from(acme, alice, email)
    assert hidden_from(acme, acme.admin, email)


def test_a_reply_in_a_thread_whose_earlier_message_was_blocklisted_creates_no_person(
    acme: Workspace, bob_box: str
) -> None:
    block(acme, acme.admin, bob_box, "pat@initech.com")
    first = message(
        "pat@initech.com", "bob@acme.com", "Deal", cc=["lee@globex.io"], message_id="<root@initech.com>"
    )
    assert skipped(acme, acme.admin, bob_box, first) == "blocklisted"
    reply = message(
        "bob@acme.com",
        "lee@globex.io",
        "Re: Deal",
        message_id="<reply@acme.com>",
        headers={"In-Reply-To": "<root@initech.com>", "References": "<root@initech.com>"},
    )
    other = message("bob@acme.com", "ann@globex.io", "Hello Ann", message_id="<other@acme.com>")

    reply_id = store(acme, acme.admin, bob_box, reply)
    store(acme, acme.admin, bob_box, other)

    addresses = people_addresses(acme)
    assert "ann@globex.io" in addresses  # a sent message does make its recipient a person...
    assert "lee@globex.io" not in addresses  # ...but not in a thread touched by the blocklist
    assert "pat@initech.com" not in addresses
    assert email_of(acme, acme.admin, reply_id) is not None  # the reply itself is stored


# sharing ------------------------------------------------------------------------------------------


def test_sharing_level_changes_are_retroactive(
    acme: Workspace, bob_box: str, alice: Member, audrey: Member
) -> None:
    email = store(
        acme,
        acme.admin,
        bob_box,
        message("sue@gmail.com", "bob@acme.com", "Renewal", message_id="<s1@gmail.com>", body="Price is 42."),
    )

    for viewer in (alice, audrey):
        shown = email_of(acme, viewer, email)
        assert shown is not None and shown["level"] == "metadata" and "subject" not in shown
        assert {p["address"] for p in shown["participants"]} == {"sue@gmail.com", "bob@acme.com"}
        assert body_of(acme, viewer, email) is None

    set_sharing(acme, acme.admin, bob_box, "subject")
    shown = email_of(acme, alice, email)
    assert shown is not None and shown["level"] == "subject" and shown["subject"] == "Renewal"
    assert body_of(acme, alice, email) is None

    set_sharing(acme, acme.admin, bob_box, "full")
    assert email_of(acme, alice, email)["level"] == "full"  # type: ignore[index]
    assert body_of(acme, alice, email)["text"].strip() == "Price is 42."  # type: ignore[index]
    # the auditor: metadata whatever the sharing (issue 14.4)
    assert email_of(acme, audrey, email)["level"] == "metadata"  # type: ignore[index]
    assert body_of(acme, audrey, email) is None

    set_sharing(acme, acme.admin, bob_box, "metadata")
    for viewer in (alice, audrey):
        shown = email_of(acme, viewer, email)
        assert shown is not None and shown["level"] == "metadata" and "subject" not in shown
        assert body_of(acme, viewer, email) is None
    # the owner always sees all of their own copy
    assert email_of(acme, acme.admin, email)["level"] == "full"  # type: ignore[index]
    assert body_of(acme, acme.admin, email) is not None


def test_a_share_with_one_member_gives_them_the_body_but_not_a_third_member(
    acme: Workspace, bob_box: str, alice: Member, carol: Member, audrey: Member
) -> None:
    email = store(
        acme,
        acme.admin,
        bob_box,
        message("sue@gmail.com", "bob@acme.com", "Terms", message_id="<sh1@gmail.com>", body="Net 30."),
    )

    grant = share(acme, acme.admin, email, members=[alice.id])

    assert grant["members"] == [alice.id] and grant["workspace"] is False
    assert email_of(acme, alice, email)["level"] == "full"  # type: ignore[index]
    assert body_of(acme, alice, email)["text"].strip() == "Net 30."  # type: ignore[index]
    for other in (carol, audrey):
        shown = email_of(acme, other, email)
        assert shown is not None and shown["level"] == "metadata" and "subject" not in shown
        assert body_of(acme, other, email) is None


def test_a_workspace_share_reaches_every_member_but_not_the_auditor(
    acme: Workspace, bob_box: str, alice: Member, carol: Member, audrey: Member
) -> None:
    email = store(
        acme,
        acme.admin,
        bob_box,
        message(
            "sue@gmail.com",
            "bob@acme.com",
            "All hands",
            message_id="<sh2@gmail.com>",
            body="Everyone may read.",
        ),
    )
    unshared = store(
        acme,
        acme.admin,
        bob_box,
        message("sue@gmail.com", "bob@acme.com", "Private", message_id="<sh3@gmail.com>"),
    )

    share(acme, acme.admin, email, workspace=True)

    for viewer in (alice, carol):
        assert email_of(acme, viewer, email)["subject"] == "All hands"  # type: ignore[index]
        assert body_of(acme, viewer, email)["text"].strip() == "Everyone may read."  # type: ignore[index]
        assert body_of(acme, viewer, unshared) is None
    shown = email_of(acme, audrey, email)
    assert shown is not None and shown["level"] == "metadata" and "subject" not in shown
    assert body_of(acme, audrey, email) is None


def test_a_named_share_does_not_reach_an_auditor_even_when_named(
    acme: Workspace, bob_box: str, audrey: Member
) -> None:
    email = store(acme, acme.admin, bob_box, message("sue@gmail.com", "bob@acme.com", message_id="<sh4@g>"))

    share(acme, acme.admin, email, members=[audrey.id])

    assert email_of(acme, audrey, email)["level"] == "metadata"  # type: ignore[index]
    assert body_of(acme, audrey, email) is None


def test_a_thread_share_covers_a_later_reply_in_the_same_thread(
    acme: Workspace, bob_box: str, alice: Member, carol: Member
) -> None:
    first = store(
        acme,
        acme.admin,
        bob_box,
        message("sue@gmail.com", "bob@acme.com", "Project", message_id="<root@gmail.com>"),
    )
    share(acme, acme.admin, first, members=[alice.id], thread=True)

    reply = store(
        acme,
        acme.admin,
        bob_box,
        message(
            "bob@acme.com",
            "sue@gmail.com",
            "Re: Project",
            message_id="<reply1@acme.com>",
            body="Reply body.",
            headers={"In-Reply-To": "<root@gmail.com>", "References": "<root@gmail.com>"},
        ),
    )
    second_reply = store(
        acme,
        acme.admin,
        bob_box,
        message(
            "sue@gmail.com",
            "bob@acme.com",
            "Re: Re: Project",
            message_id="<reply2@gmail.com>",
            headers={"In-Reply-To": "<reply1@acme.com>", "References": "<root@gmail.com> <reply1@acme.com>"},
        ),
    )
    elsewhere = store(
        acme,
        acme.admin,
        bob_box,
        message("sue@gmail.com", "bob@acme.com", "Other topic", message_id="<other@gmail.com>"),
    )

    assert body_of(acme, alice, first) is not None
    assert body_of(acme, alice, reply)["text"].strip() == "Reply body."  # type: ignore[index]
    assert body_of(acme, alice, second_reply) is not None
    assert body_of(acme, alice, elsewhere) is None
    assert body_of(acme, carol, reply) is None


def test_a_single_message_share_does_not_cover_the_rest_of_its_thread(
    acme: Workspace, bob_box: str, alice: Member
) -> None:
    first = store(
        acme, acme.admin, bob_box, message("sue@gmail.com", "bob@acme.com", "Q", message_id="<q@g>")
    )
    share(acme, acme.admin, first, members=[alice.id])
    reply = store(
        acme,
        acme.admin,
        bob_box,
        message(
            "bob@acme.com",
            "sue@gmail.com",
            "Re: Q",
            message_id="<q2@acme.com>",
            headers={"In-Reply-To": "<q@g>", "References": "<q@g>"},
        ),
    )

    assert body_of(acme, alice, first) is not None
    assert body_of(acme, alice, reply) is None


def test_revoking_a_share_removes_access(acme: Workspace, bob_box: str, alice: Member) -> None:
    email = store(acme, acme.admin, bob_box, message("sue@gmail.com", "bob@acme.com", message_id="<rv@g>"))
    grant = share(acme, acme.admin, email, members=[alice.id], thread=True)
    listed = acme.client.get(f"/emails/{email}/shares", headers=acme.admin.headers)
    assert [s["id"] for s in listed.json()["items"]] == [grant["id"]]
    assert body_of(acme, alice, email) is not None

    revoked = acme.client.delete(f"/emails/{email}/shares/{grant['id']}", headers=acme.admin.headers)

    assert revoked.status_code == 204, revoked.text
    assert body_of(acme, alice, email) is None
    assert email_of(acme, alice, email)["level"] == "metadata"  # type: ignore[index]
    assert acme.client.get(f"/emails/{email}/shares", headers=acme.admin.headers).json()["items"] == []
    assert_problem(
        acme.client.delete(f"/emails/{email}/shares/{grant['id']}", headers=acme.admin.headers), 404
    )


def test_the_recipient_of_a_share_cannot_revoke_it(acme: Workspace, bob_box: str, alice: Member) -> None:
    email = store(acme, acme.admin, bob_box, message("sue@gmail.com", "bob@acme.com", message_id="<rv2@g>"))
    grant = share(acme, acme.admin, email, members=[alice.id])

    assert_problem(acme.client.delete(f"/emails/{email}/shares/{grant['id']}", headers=alice.headers), 403)

    assert body_of(acme, alice, email) is not None


def test_a_member_without_a_copy_gets_403_when_sharing(
    acme: Workspace, bob_box: str, alice: Member, carol: Member, audrey: Member
) -> None:
    set_sharing(acme, acme.admin, bob_box, "full")
    email = store(acme, acme.admin, bob_box, message("sue@gmail.com", "bob@acme.com", message_id="<ns@g>"))
    assert body_of(acme, alice, email) is not None  # Alice can read it, but holds no copy

    for body in ({"members": [carol.id]}, {"workspace": True}):
        assert_problem(acme.client.post(f"/emails/{email}/shares", json=body, headers=alice.headers), 403)
    assert_problem(
        acme.client.post(f"/emails/{email}/shares", json={"workspace": True}, headers=audrey.headers), 403
    )

    set_sharing(acme, acme.admin, bob_box, "metadata")
    assert body_of(acme, carol, email) is None
    assert acme.client.get(f"/emails/{email}/shares", headers=acme.admin.headers).json()["items"] == []


def test_a_member_cannot_share_an_email_they_cannot_see(acme: Workspace, bob_box: str, alice: Member) -> None:
    email = store(acme, acme.admin, bob_box, message("pat@initech.com", "bob@acme.com", message_id="<inv@i>"))
    block(acme, acme.admin, bob_box, "initech.com")

    assert_problem(
        acme.client.post(f"/emails/{email}/shares", json={"workspace": True}, headers=acme.admin.headers), 404
    )
    assert_problem(
        acme.client.post(f"/emails/{email}/shares", json={"workspace": True}, headers=alice.headers), 404
    )


def test_a_share_does_not_outlive_the_hiding_of_its_copy(
    acme: Workspace, bob_box: str, alice: Member, audrey: Member
) -> None:
    email = store(acme, acme.admin, bob_box, message("pat@initech.com", "bob@acme.com", message_id="<hs@i>"))
    share(acme, acme.admin, email, workspace=True)

    block(acme, acme.admin, bob_box, "initech.com")
    for viewer in (alice, audrey):
        assert hidden_from(acme, viewer, email)

    unblock(acme, acme.admin, bob_box, "initech.com")
    assert body_of(acme, alice, email) is not None
    assert email_of(acme, audrey, email)["level"] == "metadata"  # type: ignore[index]


# explain ------------------------------------------------------------------------------------------


def test_explain_shows_each_copys_level_and_the_rule_with_its_position_and_never_content(
    acme: Workspace, bob_box: str, alice: Member, alice_box: str, carol: Member, audrey: Member
) -> None:
    subject = "Quarterly numbers 7Q2X"
    body_text = "Body secret ZZ91"
    raw = message(
        "pat@initech.com",
        ["bob@acme.com", "alice@acme.com"],
        subject,
        message_id="<explain@initech.com>",
        body=body_text,
    )
    email = store(acme, acme.admin, bob_box, raw)
    store(acme, alice, alice_box, raw)
    set_sharing(acme, alice, alice_box, "subject")
    grant = share(acme, alice, email, members=[carol.id])
    block(acme, acme.admin, bob_box, "initech.com")

    shown_carol = explain(acme, audrey, email, carol)
    shown_bob = explain(acme, acme.admin, email, acme.admin)
    shown_audrey = explain(acme, audrey, email, audrey)

    def by_owner(shown: dict[str, Any]) -> dict[str, dict[str, Any]]:
        assert len(shown["copies"]) == 2
        return {c["owner_id"]: c for c in shown["copies"]}

    def rule(copy: dict[str, Any], name: str) -> dict[str, Any]:
        found = [r for r in copy["rules"] if r["rule"] == name]
        assert len(found) == 1, copy
        return found[0]

    # Carol: Bob's copy is blocklisted; Alice's copy reaches her in full through the grant
    carol_copies = by_owner(shown_carol)
    assert shown_carol["viewer"] == carol.id and shown_carol["level"] == "full"
    bob_copy, alice_copy = carol_copies[acme.admin.id], carol_copies[alice.id]
    assert bob_copy["level"] == "none" and bob_copy["hidden_reason"] == "blocklisted"
    blocked = rule(bob_copy, "blocklist")
    assert blocked["entry"] == "initech.com"
    assert alice_copy["level"] == "full"
    granted = rule(alice_copy, "grant")
    assert granted["grant_id"] == grant["id"]
    sharing = rule(alice_copy, "sharing")
    assert sharing["level"] == "subject"
    # positions are event positions, in the order things happened
    assert 0 < sharing["position"] < granted["position"] < blocked["position"]

    # Bob: his own copy hidden, Alice's copy gives him her sharing level
    bob_copies = by_owner(shown_bob)
    assert shown_bob["level"] == "subject"
    assert bob_copies[acme.admin.id]["level"] == "none"
    assert rule(bob_copies[acme.admin.id], "blocklist")["position"] == blocked["position"]
    assert bob_copies[alice.id]["level"] == "subject"
    assert rule(bob_copies[alice.id], "sharing")["position"] == sharing["position"]
    assert not [r for r in bob_copies[alice.id]["rules"] if r["rule"] == "grant"]

    # the auditor: metadata only, whatever the sharing gives everyone
    assert shown_audrey["level"] == "metadata"
    assert by_owner(shown_audrey)[alice.id]["level"] == "metadata"
    assert rule(by_owner(shown_audrey)[alice.id], "auditor_metadata_only")["level"] == "metadata"

    # and what explain says matches what each of them is served
    for viewer, shown in ((carol, shown_carol), (acme.admin, shown_bob), (audrey, shown_audrey)):
        assert email_of(acme, viewer, email)["level"] == shown["level"]  # type: ignore[index]

    for shown in (shown_carol, shown_bob, shown_audrey, explain(acme, acme.admin, email, alice)):
        text = json.dumps(shown)
        assert subject not in text and "7Q2X" not in text
        assert body_text not in text and "ZZ91" not in text


def test_explain_names_the_owner_rule_and_the_internal_rule(
    acme: Workspace, bob_box: str, audrey: Member
) -> None:
    email = store(
        acme,
        acme.admin,
        bob_box,
        message("bob@acme.com", "pat@initech.com", "Hush", message_id="<own@acme.com>"),
    )
    owner = explain(acme, audrey, email, acme.admin)
    assert owner["level"] == "full"
    assert [r["rule"] for r in owner["copies"][0]["rules"]] == ["owner"]

    settings(acme, internal_domains=["acme.com", "initech.com"])

    hidden = explain(acme, audrey, email, acme.admin)
    assert hidden["level"] == "none"
    internal = [r for r in hidden["copies"][0]["rules"] if r["rule"] == "internal_only"]
    assert len(internal) == 1 and internal[0]["position"] > 0
    assert "Hush" not in json.dumps(hidden)


def test_explain_is_for_auditors_and_admins_only(acme: Workspace, bob_box: str, alice: Member) -> None:
    email = store(acme, acme.admin, bob_box, message("sue@gmail.com", "bob@acme.com", message_id="<ex3@g>"))

    assert_problem(
        acme.client.get(f"/audit/emails/{email}/explain", params={"viewer": alice.id}, headers=alice.headers),
        403,
    )
    assert_problem(
        acme.client.get(
            f"/audit/emails/{email}/explain", params={"viewer": "nobody"}, headers=acme.admin.headers
        ),
        404,
    )


# details that leak easily -----------------------------------------------------------------------


def test_a_bcc_is_shown_only_to_the_sender_whose_copy_has_it(
    acme: Workspace, bob_box: str, alice: Member, audrey: Member
) -> None:
    set_sharing(acme, acme.admin, bob_box, "full")
    raw = message(
        "bob@acme.com",
        "sue@gmail.com",
        "Proposal",
        message_id="<bcc@acme.com>",
        headers={"Bcc": "boss@partner.io"},
    )
    email = store(acme, acme.admin, bob_box, raw)

    bobs = email_of(acme, acme.admin, email)
    assert bobs is not None
    assert {(p["role"], p["address"]) for p in bobs["participants"]} >= {("bcc", "boss@partner.io")}
    for viewer in (alice, audrey):
        shown = email_of(acme, viewer, email)
        assert shown is not None and shown["level"] == ("metadata" if viewer is audrey else "full")
        assert "boss@partner.io" not in json.dumps(shown)
        assert "boss@partner.io" not in json.dumps(acme.client.get("/emails", headers=viewer.headers).json())


def test_exclusions_and_blocklists_match_international_domains_however_they_are_written(
    acme: Workspace, bob_box: str, alice: Member, alice_box: str
) -> None:
    from_unicode = store(
        acme, acme.admin, bob_box, message("info@bücher.de", "bob@acme.com", "Books", message_id="<idn1@x>")
    )
    from_punycode = store(
        acme,
        alice,
        alice_box,
        message("sales@xn--bcher-kva.de", "alice@acme.com", "More books", message_id="<idn2@x>"),
    )

    block(acme, acme.admin, bob_box, "xn--bcher-kva.de")
    assert hidden_from(acme, acme.admin, from_unicode)
    unblock(acme, acme.admin, bob_box, "xn--bcher-kva.de")
    assert not hidden_from(acme, acme.admin, from_unicode)

    settings(acme, exclusions=["BÜCHER.de"])
    for viewer in (acme.admin, alice):
        assert hidden_from(acme, viewer, from_unicode)
        assert hidden_from(acme, viewer, from_punycode)
    assert (
        skipped(
            acme, acme.admin, bob_box, message("news@shop.bücher.de", "bob@acme.com", message_id="<idn3@x>")
        )
        == "excluded"
    )


def test_explain_names_the_workspace_exclusion_that_hides_a_copy_from_its_owner(
    acme: Workspace, bob_box: str, audrey: Member
) -> None:
    email = store(
        acme,
        acme.admin,
        bob_box,
        message("pat@initech.com", "bob@acme.com", "Secret merger", message_id="<exx@i>"),
    )
    settings(acme, exclusions=["initech.com"])

    shown = explain(acme, audrey, email, acme.admin)

    assert shown["level"] == "none"
    (copy,) = shown["copies"]
    assert copy["hidden_reason"] == "excluded" and copy["owner_id"] == acme.admin.id
    (rule,) = copy["rules"]
    assert rule["rule"] == "workspace_exclusion" and rule["position"] > 0
    assert "Secret merger" not in json.dumps(shown)


def test_another_workspace_never_sees_an_email_even_with_the_same_message(
    acme: Workspace, bob_box: str, alice: Member
) -> None:
    globex = make_workspace(
        acme.client, acme.runtime, name="Globex", domain="globex.io", admin=("Gina", "gina@globex.io")
    )
    gina_box = globex.connect_upload(globex.admin, "gina@globex.io")
    raw = message("sue@gmail.com", ["bob@acme.com", "gina@globex.io"], "Two companies", message_id="<x-ws@g>")
    email = store(acme, acme.admin, bob_box, raw)
    theirs = store(globex, globex.admin, gina_box, raw)
    assert theirs != email  # one email per workspace
    share(acme, acme.admin, email, workspace=True)

    assert email_of(globex, globex.admin, email) is None
    assert body_of(globex, globex.admin, email) is None
    assert listed_ids(globex, globex.admin) == {theirs}
    assert_problem(globex.client.get(f"/emails/{email}/shares", headers=globex.admin.headers), 404)
    assert_problem(
        globex.client.get(
            f"/audit/emails/{email}/explain", params={"viewer": globex.admin.id}, headers=globex.admin.headers
        ),
        404,
    )
    assert_problem(
        acme.client.get(
            f"/audit/emails/{email}/explain", params={"viewer": globex.admin.id}, headers=acme.admin.headers
        ),
        404,
    )
    # and a share cannot name someone from elsewhere
    assert_problem(
        acme.client.post(
            f"/emails/{email}/shares", json={"members": [globex.admin.id]}, headers=acme.admin.headers
        ),
        422,
    )
    assert listed_ids(acme, alice) == {email}
