"""Blocklists and exclusions see every participant, even one whose address does not parse;
their entries are validated, and domains are IDNA 2008 (UTS 46)."""

from __future__ import annotations

import pytest

from tests.api.test_mailboxes_and_messages import emails_of, mailbox_of
from tests.support.dsl import Workspace, assert_problem
from tests.support.messages import message

UNPARSEABLE = {
    "quoted local part with a space": '"x y"@blocked.example',
    "over-long local part": "a" * 300 + "@blocked.example",
    "over-long domain": "a@" + "x" * 250 + ".blocked.example",
    "garbage after the domain": "bob@blocked.example!!",
    "a subdomain, garbage after it": "bob@mail.blocked.example)(",
    "no local part": "@blocked.example",
}


def with_cc(cc: str) -> bytes:
    """A customer's message to Bob, copied to `cc` (written raw, as a sloppy mailer would)."""
    raw = message("sue@customer.example", "bob@acme.com", "Quote")
    return raw.replace(b"To: bob@acme.com\r\n", b"To: bob@acme.com\r\nCc: " + cc.encode() + b"\r\n")


@pytest.fixture
def bob_mailbox(acme: Workspace) -> str:
    return acme.connect_upload(acme.admin, "bob@acme.com")


@pytest.mark.parametrize("cc", UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
def test_a_blocklisted_domain_in_an_unparseable_address_keeps_the_message_out(
    acme: Workspace, bob_mailbox: str, cc: str
) -> None:
    blocked = acme.client.post(f"/mailboxes/{bob_mailbox}/blocklist", json={"entry": "blocked.example"},
                               headers=acme.admin.headers)  # fmt: skip
    assert blocked.status_code == 200, blocked.text

    response = acme.post_message(acme.admin, bob_mailbox, with_cc(cc))

    assert response.json() == {"status": "skipped", "reason": "blocklisted"}
    assert emails_of(acme, acme.admin) == []
    assert mailbox_of(acme, acme.admin, bob_mailbox)["skipped"] == {"blocklisted": 1}


@pytest.mark.parametrize("cc", UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
def test_an_excluded_domain_in_an_unparseable_address_keeps_the_message_out(
    acme: Workspace, bob_mailbox: str, cc: str
) -> None:
    excluded = acme.client.patch("/settings", json={"exclusions": ["blocked.example"]},
                                 headers=acme.admin.headers)  # fmt: skip
    assert excluded.status_code == 200, excluded.text

    response = acme.post_message(acme.admin, bob_mailbox, with_cc(cc))

    assert response.json() == {"status": "skipped", "reason": "excluded"}
    assert emails_of(acme, acme.admin) == []


@pytest.mark.parametrize("cc", UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
def test_a_blocklist_entry_added_later_hides_a_copy_whose_only_match_does_not_parse_and_removing_it_shows_it(
    acme: Workspace, bob_mailbox: str, cc: str
) -> None:
    carol = acme.add_member("Carol", "carol@acme.com")
    stored = acme.post_message(acme.admin, bob_mailbox, with_cc(cc))
    assert stored.json()["status"] == "stored", stored.text
    assert len(emails_of(acme, carol)) == 1

    entry = {"entry": "blocked.example"}
    added = acme.client.post(f"/mailboxes/{bob_mailbox}/blocklist", json=entry, headers=acme.admin.headers)
    assert added.status_code == 200, added.text
    assert emails_of(acme, acme.admin) == emails_of(acme, carol) == []

    removed = acme.client.request("DELETE", f"/mailboxes/{bob_mailbox}/blocklist", json=entry,
                                  headers=acme.admin.headers)  # fmt: skip
    assert removed.status_code == 200, removed.text
    assert len(emails_of(acme, carol)) == 1


@pytest.mark.parametrize("cc", UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
def test_an_exclusion_set_later_hides_a_copy_whose_only_match_does_not_parse(
    acme: Workspace, bob_mailbox: str, cc: str
) -> None:
    stored = acme.post_message(acme.admin, bob_mailbox, with_cc(cc))
    assert stored.json()["status"] == "stored", stored.text

    excluded = acme.client.patch(
        "/settings", json={"exclusions": ["blocked.example"]}, headers=acme.admin.headers
    )
    assert excluded.status_code == 200, excluded.text
    assert emails_of(acme, acme.admin) == []

    lifted = acme.client.patch("/settings", json={"exclusions": []}, headers=acme.admin.headers)
    assert lifted.status_code == 200, lifted.text
    assert len(emails_of(acme, acme.admin)) == 1


def test_a_blocklisted_address_written_with_garbage_after_it_keeps_the_message_out(
    acme: Workspace, bob_mailbox: str
) -> None:
    acme.client.post(f"/mailboxes/{bob_mailbox}/blocklist", json={"entry": "Bob@Blocked.example"},
                     headers=acme.admin.headers)  # fmt: skip

    response = acme.post_message(acme.admin, bob_mailbox, with_cc("bob@blocked.example!!"))

    assert response.json() == {"status": "skipped", "reason": "blocklisted"}


def test_an_unparseable_address_elsewhere_does_not_block_and_never_becomes_a_person(
    acme: Workspace, bob_mailbox: str
) -> None:
    acme.client.post(f"/mailboxes/{bob_mailbox}/blocklist", json={"entry": "blocked.example"},
                     headers=acme.admin.headers)  # fmt: skip
    acme.client.patch("/settings", json={"record_creation": "all"}, headers=acme.admin.headers)

    response = acme.post_message(acme.admin, bob_mailbox, with_cc('"x y"@partner.example'))

    assert response.status_code == 201, response.text
    assert [e["subject"] for e in emails_of(acme, acme.admin)] == ["Quote"]
    people = acme.client.get("/people", headers=acme.admin.headers).json()["items"]
    assert sorted(a for p in people for a in p["emails"]) == ["sue@customer.example"]


@pytest.mark.parametrize("entry", ["*.x.com", "x.*.com", "x.com/", "a@*.x.com", "exa mple.com", "-x.com"])
def test_an_entry_that_is_not_an_address_or_a_domain_is_refused(
    acme: Workspace, bob_mailbox: str, entry: str
) -> None:
    refused = acme.client.post(f"/mailboxes/{bob_mailbox}/blocklist", json={"entry": entry},
                               headers=acme.admin.headers)  # fmt: skip
    assert_problem(refused, 422)
    settings = acme.client.patch("/settings", json={"exclusions": [entry]}, headers=acme.admin.headers)
    assert_problem(settings, 422)
    assert mailbox_of(acme, acme.admin, bob_mailbox)["blocklist"] == []


def test_international_domains_follow_idna_2008_not_2003(acme: Workspace, bob_mailbox: str) -> None:
    added = acme.client.post(f"/mailboxes/{bob_mailbox}/blocklist", json={"entry": "Straße.example"},
                             headers=acme.admin.headers)  # fmt: skip
    assert added.status_code == 200, added.text
    assert mailbox_of(acme, acme.admin, bob_mailbox)["blocklist"] == ["xn--strae-oqa.example"]

    from_ss = message("anna@straße.example", "bob@acme.com", "Tor")
    blocked = acme.post_message(acme.admin, bob_mailbox, from_ss)
    other = acme.post_message(acme.admin, bob_mailbox, message("anna@strasse.example", "bob@acme.com", "Gate",
                                                               message_id="<m2@example.com>"))  # fmt: skip

    assert blocked.json() == {"status": "skipped", "reason": "blocklisted"}
    assert other.status_code == 201, other.text  # strasse.example is another domain, not blocked
    assert [e["subject"] for e in emails_of(acme, acme.admin)] == ["Gate"]
