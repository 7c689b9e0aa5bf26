"""Stories of a member connecting a mailbox and forwarding raw messages into it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dsl import Member, Workspace, assert_problem
from tests.support.messages import message


def mailbox_of(ws: Workspace, member: Member, mailbox_id: str) -> dict[str, Any]:
    response = ws.client.get(f"/mailboxes/{mailbox_id}", headers=member.headers)
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def emails_of(ws: Workspace, member: Member) -> list[dict[str, Any]]:
    response = ws.client.get("/emails", headers=member.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
def bob_mailbox(acme: Workspace) -> str:
    return acme.connect_upload(acme.admin, "bob@acme.com")


# connecting ------------------------------------------------------------------------


def test_a_member_connects_an_upload_mailbox_and_sees_it_empty_and_active(acme: Workspace) -> None:
    acme.add_email(acme.admin, "robert@acme.com")
    response = acme.client.post(
        "/mailboxes",
        json={"provider": "upload", "address": "Bob@Acme.com", "aliases": ["robert@acme.com"]},
        headers=acme.admin.headers,
    )

    assert response.status_code == 201, response.text
    mailbox_id = response.json()["id"]
    shown = mailbox_of(acme, acme.admin, mailbox_id)
    assert shown["status"] == "active"
    assert shown["synced"] == 0
    assert shown["address"] == "bob@acme.com"
    assert shown["aliases"] == ["robert@acme.com"]
    assert shown["sharing"] == "metadata"
    assert shown["owner_id"] == acme.admin.id
    listed = acme.client.get("/mailboxes", headers=acme.admin.headers).json()
    assert [m["id"] for m in listed["items"]] == [mailbox_id]
    assert listed["next"] is None


def test_a_mailbox_with_an_invalid_address_is_refused(acme: Workspace) -> None:
    response = acme.client.post(
        "/mailboxes", json={"provider": "upload", "address": "not-an-address"}, headers=acme.admin.headers
    )

    assert_problem(response, 422)
    assert acme.client.get("/mailboxes", headers=acme.admin.headers).json()["items"] == []


def test_an_unknown_mailbox_is_not_found(acme: Workspace) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    assert_problem(acme.client.get(f"/mailboxes/{unknown}", headers=acme.admin.headers), 404)
    assert_problem(acme.client.get("/mailboxes/not-a-uuid", headers=acme.admin.headers), 404)


def test_connecting_a_free_mail_mailbox_does_not_make_its_domain_internal(acme: Workspace) -> None:
    karen = acme.add_member("Karen", "karen@gmail.com")
    acme.connect_upload(karen, "karen@gmail.com")
    acme.connect_upload(acme.admin, "bob@acme.com")

    settings = acme.client.get("/settings", headers=acme.admin.headers).json()

    assert "gmail.com" not in settings["internal_domains"]


def test_connecting_a_company_mailbox_makes_its_domain_internal(acme: Workspace) -> None:
    dee = acme.add_member("Dee", "dee@acme.com")
    acme.add_email(dee, "dee@acme-labs.io")  # an admin vouches for the address
    acme.connect_upload(dee, "dee@acme-labs.io")

    settings = acme.client.get("/settings", headers=acme.admin.headers).json()

    assert sorted(settings["internal_domains"]) == ["acme-labs.io", "acme.com"]


# posting raw messages -----------------------------------------------------------------


def test_a_posted_message_is_stored_and_counted_in_synced(acme: Workspace, bob_mailbox: str) -> None:
    response = acme.post_message(acme.admin, bob_mailbox, message("bob@acme.com", "sue@gmail.com", "Quote"))

    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["status"] == "stored"
    assert mailbox_of(acme, acme.admin, bob_mailbox)["synced"] == 1
    emails = emails_of(acme, acme.admin)
    assert [e["id"] for e in emails] == [stored["email_id"]]
    assert emails[0]["subject"] == "Quote"
    assert emails[0]["direction"] == "sent"


def test_each_distinct_message_counts_once(acme: Workspace, bob_mailbox: str) -> None:
    for n in range(3):
        raw = message("bob@acme.com", "sue@gmail.com", f"Note {n}", message_id=f"<n{n}@acme.com>")
        assert acme.post_message(acme.admin, bob_mailbox, raw).json()["status"] == "stored"

    assert mailbox_of(acme, acme.admin, bob_mailbox)["synced"] == 3
    assert sorted(e["subject"] for e in emails_of(acme, acme.admin)) == ["Note 0", "Note 1", "Note 2"]


def test_a_received_message_is_stored_as_received(acme: Workspace, bob_mailbox: str) -> None:
    response = acme.post_message(acme.admin, bob_mailbox, message("sue@gmail.com", "bob@acme.com"))

    assert response.json()["status"] == "stored"
    assert [e["direction"] for e in emails_of(acme, acme.admin)] == ["received"]


def test_a_message_from_an_alias_counts_as_sent(acme: Workspace) -> None:
    acme.add_email(acme.admin, "bob.sales@acme.com")
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com", aliases=["bob.sales@acme.com"])

    acme.post_message(acme.admin, mailbox, message("Bob <BOB.SALES@acme.com>", "sue@gmail.com"))

    assert [e["direction"] for e in emails_of(acme, acme.admin)] == ["sent"]


def test_posting_the_same_bytes_again_creates_nothing_new(acme: Workspace, bob_mailbox: str) -> None:
    raw = message("bob@acme.com", "sue@gmail.com", "Once only")
    first = acme.post_message(acme.admin, bob_mailbox, raw).json()

    again = acme.post_message(acme.admin, bob_mailbox, raw)

    assert again.status_code < 300, again.text
    body = again.json()
    assert body["status"] == "skipped"
    assert "duplicate" in body["reason"]
    assert mailbox_of(acme, acme.admin, bob_mailbox)["synced"] == 1
    emails = emails_of(acme, acme.admin)
    assert [e["id"] for e in emails] == [first["email_id"]]
    assert emails[0]["copies"] == 1
    assert len(acme.client.get("/people", headers=acme.admin.headers).json()["items"]) == 1


def test_a_message_without_message_id_is_also_deduplicated(acme: Workspace, bob_mailbox: str) -> None:
    raw = message("bob@acme.com", "sue@gmail.com", "No id", message_id=None)
    first = acme.post_message(acme.admin, bob_mailbox, raw).json()

    again = acme.post_message(acme.admin, bob_mailbox, raw).json()

    assert first["status"] == "stored"
    assert again["status"] == "skipped"
    assert [e["id"] for e in emails_of(acme, acme.admin)] == [first["email_id"]]


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "application/octet-stream"])
def test_a_message_with_the_wrong_content_type_is_refused(
    acme: Workspace, bob_mailbox: str, content_type: str
) -> None:
    response = acme.client.post(
        f"/mailboxes/{bob_mailbox}/messages",
        content=message("bob@acme.com", "sue@gmail.com"),
        headers={**acme.admin.headers, "Content-Type": content_type},
    )

    assert_problem(response, (415, 422))
    assert emails_of(acme, acme.admin) == []
    assert mailbox_of(acme, acme.admin, bob_mailbox)["synced"] == 0


def test_a_message_with_a_charset_parameter_on_its_content_type_is_accepted(
    acme: Workspace, bob_mailbox: str
) -> None:
    response = acme.client.post(
        f"/mailboxes/{bob_mailbox}/messages",
        content=message("bob@acme.com", "sue@gmail.com"),
        headers={**acme.admin.headers, "Content-Type": "Message/RFC822; charset=utf-8"},
    )

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "stored"


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n  "], ids=["empty", "blank"])
def test_an_empty_message_is_refused(acme: Workspace, bob_mailbox: str, raw: bytes) -> None:
    response = acme.post_message(acme.admin, bob_mailbox, raw)

    assert_problem(response, 422)
    assert mailbox_of(acme, acme.admin, bob_mailbox)["synced"] == 0


def test_a_member_cannot_post_into_someone_elses_mailbox(acme: Workspace, bob_mailbox: str) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")

    response = acme.post_message(alice, bob_mailbox, message("bob@acme.com", "sue@gmail.com", "Forged"))

    assert_problem(response, 403)
    assert mailbox_of(acme, acme.admin, bob_mailbox)["synced"] == 0
    assert emails_of(acme, acme.admin) == []


def test_posting_into_an_unknown_mailbox_is_not_found(acme: Workspace) -> None:
    response = acme.post_message(
        acme.admin, "00000000-0000-0000-0000-000000000000", message("bob@acme.com", "sue@gmail.com")
    )

    assert_problem(response, 404)


# sharing --------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["subject", "full", "metadata"])
def test_the_owner_changes_the_sharing_level(acme: Workspace, bob_mailbox: str, level: str) -> None:
    response = acme.client.patch(
        f"/mailboxes/{bob_mailbox}", json={"sharing": level}, headers=acme.admin.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["sharing"] == level
    assert mailbox_of(acme, acme.admin, bob_mailbox)["sharing"] == level


@pytest.mark.parametrize("level", ["everything", "none", "", 3])
def test_an_invalid_sharing_level_is_refused(acme: Workspace, bob_mailbox: str, level: Any) -> None:
    acme.client.patch(f"/mailboxes/{bob_mailbox}", json={"sharing": "subject"}, headers=acme.admin.headers)

    response = acme.client.patch(
        f"/mailboxes/{bob_mailbox}", json={"sharing": level}, headers=acme.admin.headers
    )

    assert_problem(response, 422)
    assert mailbox_of(acme, acme.admin, bob_mailbox)["sharing"] == "subject"


def test_only_the_owner_changes_sharing(acme: Workspace, bob_mailbox: str) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")

    response = acme.client.patch(f"/mailboxes/{bob_mailbox}", json={"sharing": "full"}, headers=alice.headers)

    assert_problem(response, 403)
    assert mailbox_of(acme, acme.admin, bob_mailbox)["sharing"] == "metadata"


# blocklist ------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["bob@acme.com", "BOB@ACME.COM", "robert@acme.com", "acme.com"])
def test_the_owner_cannot_block_their_own_addresses(acme: Workspace, entry: str) -> None:
    acme.add_email(acme.admin, "robert@acme.com")
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com", aliases=["robert@acme.com"])

    response = acme.client.post(
        f"/mailboxes/{mailbox}/blocklist", json={"entry": entry}, headers=acme.admin.headers
    )

    assert_problem(response, 422)
    assert mailbox_of(acme, acme.admin, mailbox)["blocklist"] == []


def test_blocklist_entries_are_added_and_removed(acme: Workspace, bob_mailbox: str) -> None:
    url = f"/mailboxes/{bob_mailbox}/blocklist"

    added = acme.client.post(url, json={"entry": "Spam.Example"}, headers=acme.admin.headers)
    acme.client.post(url, json={"entry": "ex@gmail.com"}, headers=acme.admin.headers)
    assert added.status_code == 200, added.text
    assert sorted(mailbox_of(acme, acme.admin, bob_mailbox)["blocklist"]) == ["ex@gmail.com", "spam.example"]

    removed = acme.client.request("DELETE", url, json={"entry": "spam.example"}, headers=acme.admin.headers)
    assert removed.status_code == 200, removed.text
    assert mailbox_of(acme, acme.admin, bob_mailbox)["blocklist"] == ["ex@gmail.com"]


def test_adding_the_same_blocklist_entry_twice_keeps_one(acme: Workspace, bob_mailbox: str) -> None:
    url = f"/mailboxes/{bob_mailbox}/blocklist"
    acme.client.post(url, json={"entry": "spam.example"}, headers=acme.admin.headers)
    acme.client.post(url, json={"entry": "spam.example"}, headers=acme.admin.headers)

    assert mailbox_of(acme, acme.admin, bob_mailbox)["blocklist"] == ["spam.example"]


def test_a_blocklisted_sender_is_not_stored_from_that_mailbox(acme: Workspace, bob_mailbox: str) -> None:
    acme.client.post(
        f"/mailboxes/{bob_mailbox}/blocklist", json={"entry": "ex.com"}, headers=acme.admin.headers
    )

    response = acme.post_message(acme.admin, bob_mailbox, message("partner@mail.ex.com", "bob@acme.com"))

    assert response.json()["status"] == "skipped"
    assert response.json()["reason"]
    assert emails_of(acme, acme.admin) == []
    assert mailbox_of(acme, acme.admin, bob_mailbox)["synced"] == 0


def test_another_member_cannot_change_or_read_a_blocklist(acme: Workspace, bob_mailbox: str) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    acme.client.post(
        f"/mailboxes/{bob_mailbox}/blocklist", json={"entry": "ex@gmail.com"}, headers=acme.admin.headers
    )

    added = acme.client.post(
        f"/mailboxes/{bob_mailbox}/blocklist", json={"entry": "spam.example"}, headers=alice.headers
    )

    assert_problem(added, 403)
    assert "blocklist" not in mailbox_of(acme, alice, bob_mailbox)
    assert mailbox_of(acme, acme.admin, bob_mailbox)["blocklist"] == ["ex@gmail.com"]


@pytest.mark.parametrize("entry", ["not valid", "@", "a@b"])
def test_an_invalid_blocklist_entry_is_refused(acme: Workspace, bob_mailbox: str, entry: str) -> None:
    response = acme.client.post(
        f"/mailboxes/{bob_mailbox}/blocklist", json={"entry": entry}, headers=acme.admin.headers
    )

    assert_problem(response, 422)
    assert mailbox_of(acme, acme.admin, bob_mailbox)["blocklist"] == []


# internal filtering -----------------------------------------------------------------------


def test_a_message_between_internal_addresses_is_not_stored(acme: Workspace, bob_mailbox: str) -> None:
    response = acme.post_message(acme.admin, bob_mailbox, message("bob@acme.com", "sue@acme.com"))

    assert response.status_code < 300, response.text
    assert response.json() == {"status": "skipped", "reason": "internal_only"}
    assert emails_of(acme, acme.admin) == []
    shown = mailbox_of(acme, acme.admin, bob_mailbox)
    assert shown["synced"] == 0
    assert shown["skipped"] == {"internal_only": 1}


def test_a_message_to_a_non_members_free_mail_address_is_stored(acme: Workspace, bob_mailbox: str) -> None:
    response = acme.post_message(acme.admin, bob_mailbox, message("bob@acme.com", "sue@gmail.com"))

    assert response.json()["status"] == "stored"
    assert len(emails_of(acme, acme.admin)) == 1


def test_a_message_to_a_members_free_mail_address_is_internal(acme: Workspace, bob_mailbox: str) -> None:
    acme.add_member("Karen", "karen@gmail.com")

    response = acme.post_message(acme.admin, bob_mailbox, message("bob@acme.com", "Karen <Karen@Gmail.com>"))

    assert response.json() == {"status": "skipped", "reason": "internal_only"}
    assert emails_of(acme, acme.admin) == []


def test_a_message_to_a_members_mailbox_alias_is_internal(acme: Workspace, bob_mailbox: str) -> None:
    karen = acme.add_member("Karen", "karen@acme.com")
    acme.add_email(karen, "karen.k@outlook.com")
    acme.connect_upload(karen, "karen.k@outlook.com")

    response = acme.post_message(acme.admin, bob_mailbox, message("bob@acme.com", "karen.k@outlook.com"))

    assert response.json()["reason"] == "internal_only"


def test_the_acme_example_from_the_design(acme: Workspace, bob_mailbox: str) -> None:
    acme.add_member("Karen", "karen@gmail.com")
    results = {
        to: acme.post_message(
            acme.admin, bob_mailbox, message("bob@acme.com", to, message_id=f"<{to}@acme.com>")
        ).json()["status"]
        for to in ["sue@acme.com", "sue@gmail.com", "karen@gmail.com"]
    }

    assert results == {"sue@acme.com": "skipped", "sue@gmail.com": "stored", "karen@gmail.com": "skipped"}
    emails = emails_of(acme, acme.admin)
    assert [{p["address"] for p in e["participants"]} for e in emails] == [{"bob@acme.com", "sue@gmail.com"}]
    shown = mailbox_of(acme, acme.admin, bob_mailbox)
    assert shown["synced"] == 1
    assert shown["skipped"] == {"internal_only": 2}


def test_one_external_participant_is_enough_to_store_a_message(acme: Workspace, bob_mailbox: str) -> None:
    raw = message("bob@acme.com", ["sue@acme.com", "tom@acme.com"], cc=["client@initech.com"])

    assert acme.post_message(acme.admin, bob_mailbox, raw).json()["status"] == "stored"


@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: nobody\r\nDate: Mon, 02 Jun 2025 10:00:00 +0000\r\n\r\nNo participants at all.\r\n",
        b"From: \r\nTo: undisclosed-recipients:;\r\nSubject: nobody\r\n\r\nbody\r\n",
    ],
    ids=["no-address-headers", "empty-address-headers"],
)
def test_a_message_with_no_participants_is_skipped_with_a_reason(
    acme: Workspace, bob_mailbox: str, raw: bytes
) -> None:
    response = acme.post_message(acme.admin, bob_mailbox, raw)

    assert response.status_code < 300, response.text
    body = response.json()
    assert body["status"] == "skipped"
    assert body["reason"] and body["reason"] != "unknown"
    assert emails_of(acme, acme.admin) == []
    assert mailbox_of(acme, acme.admin, bob_mailbox)["skipped"] == {body["reason"]: 1}


MALFORMED = {
    "binary-garbage": bytes(range(256)) * 4,
    "no-header-separator": b"this is not an email at all, just a line of text",
    "bad-address-syntax": b"From: <<<@@>>>\r\nTo: ,,,;;;\r\nSubject: x\r\n\r\nbody\r\n",
    "broken-multipart": (
        b"From: partner@initech.com\r\nTo: bob@acme.com\r\nSubject: Parts\r\n"
        b"Message-ID: <parts@initech.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--XYZ\r\nContent-Type: text/plain\r\n\r\nfirst part, never closed\r\n"
        b'--XYZ\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n@@@not base64@@@\r\n"
    ),
    "multipart-without-boundary": (
        b"From: partner@initech.com\r\nTo: bob@acme.com\r\nSubject: No boundary\r\n"
        b"Message-ID: <nob@initech.com>\r\nContent-Type: multipart/alternative\r\n\r\nwhatever\r\n"
    ),
    "bad-charset-and-encoded-words": (
        b"From: =?x-unknown?B?!!!?= <partner@initech.com>\r\nTo: bob@acme.com\r\n"
        b"Subject: =?utf-8?Q?caf=E9_=ZZ?= \xff\xfe\r\nDate: not a date\r\n"
        b"Message-ID: <charset@initech.com>\r\n"
        b"Content-Type: text/plain; charset=klingon\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"caf=E9 =\r\n\xff\xfe\xfd\r\n"
    ),
    "latin1-headers": (
        "From: Ren\u00e9 <rene@initech.com>\r\nTo: bob@acme.com\r\nSubject: R\u00e9sum\u00e9\r\n\r\nbody\r\n"
    ).encode("latin-1"),
    "nul-bytes": b"From: partner@initech.com\x00\r\nTo: bob@acme.com\r\nSubject: \x00nul\r\n\r\n\x00\x00\r\n",
    "huge-header-line": (
        b"From: partner@initech.com\r\nTo: bob@acme.com\r\nSubject: " + b"A" * 200_000 + b"\r\n\r\nx\r\n"
    ),
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_bytes_are_stored_or_skipped_with_a_reason_but_never_fail(
    acme: Workspace, bob_mailbox: str, raw: bytes
) -> None:
    response = acme.post_message(acme.admin, bob_mailbox, raw)

    assert response.status_code < 500, response.text
    assert response.status_code in (200, 201, 422), response.text
    if response.status_code == 422:
        assert_problem(response, 422)
        return
    body = response.json()
    assert body["status"] in {"stored", "skipped"}
    if body["status"] == "skipped":
        assert body["reason"] and body["reason"] != "unknown"
    else:
        assert [e["id"] for e in emails_of(acme, acme.admin)] == [body["email_id"]]
    assert acme.client.get("/emails", headers=acme.admin.headers).status_code == 200
    assert mailbox_of(acme, acme.admin, bob_mailbox)["synced"] == (1 if body["status"] == "stored" else 0)


@pytest.mark.parametrize(
    "name", ["broken-multipart", "multipart-without-boundary", "bad-charset-and-encoded-words"]
)
def test_a_damaged_message_with_an_external_participant_is_still_stored(
    acme: Workspace, bob_mailbox: str, name: str
) -> None:
    response = acme.post_message(acme.admin, bob_mailbox, MALFORMED[name])

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "stored"
    emails = emails_of(acme, acme.admin)
    assert {p["address"] for p in emails[0]["participants"]} == {"partner@initech.com", "bob@acme.com"}
    assert emails[0]["direction"] == "received"
    body = acme.client.get(f"/emails/{emails[0]['id']}/body", headers=acme.admin.headers)
    assert body.status_code == 200, body.text


def test_skip_counts_count_messages_not_attempts(acme: Workspace, bob_mailbox: str) -> None:
    lunch = message("bob@acme.com", "sue@acme.com", "Lunch", message_id="<lunch@acme.com>")
    offer = message("partner@ex.com", "bob@acme.com", "Offer", message_id="<offer@ex.com>")
    blocklist = f"/mailboxes/{bob_mailbox}/blocklist"
    acme.client.post(blocklist, json={"entry": "ex.com"}, headers=acme.admin.headers)
    for raw in (lunch, offer, lunch, offer):
        assert acme.post_message(acme.admin, bob_mailbox, raw).json()["status"] == "skipped"
    shown = mailbox_of(acme, acme.admin, bob_mailbox)
    assert (shown["synced"], shown["skipped"]) == (0, {"internal_only": 1, "blocklisted": 1})

    acme.client.request("DELETE", blocklist, json={"entry": "ex.com"}, headers=acme.admin.headers)
    assert acme.post_message(acme.admin, bob_mailbox, offer).json()["status"] == "stored"
    assert acme.post_message(acme.admin, bob_mailbox, offer).json()["status"] == "skipped"

    shown = mailbox_of(acme, acme.admin, bob_mailbox)
    assert shown["synced"] == 1
    assert {reason: n for reason, n in shown["skipped"].items() if n} == {"internal_only": 1}
