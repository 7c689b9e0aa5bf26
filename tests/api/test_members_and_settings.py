"""Stories of an admin running a workspace: members, tokens, roles and settings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dsl import Workspace, assert_problem
from tests.support.messages import message

# members ---------------------------------------------------------------------


def test_an_admin_adds_a_member_who_can_then_use_their_own_token(acme: Workspace) -> None:
    response = acme.client.post(
        "/members",
        json={"name": "Alice", "emails": ["alice@acme.com"], "role": "member"},
        headers=acme.admin.headers,
    )

    assert response.status_code == 201, response.text
    alice = response.json()
    assert alice["name"] == "Alice"
    assert alice["emails"] == ["alice@acme.com"]
    assert alice["role"] == "member"
    assert alice["token"] and alice["token"] != acme.admin.token

    as_alice = {"Authorization": f"Bearer {alice['token']}"}
    listed = acme.client.get("/members", headers=as_alice)
    assert listed.status_code == 200, listed.text
    by_id = {m["id"]: m for m in listed.json()["items"]}
    assert set(by_id) == {acme.admin.id, alice["id"]}
    assert by_id[alice["id"]]["emails"] == ["alice@acme.com"]
    assert by_id[acme.admin.id]["role"] == "admin"
    assert "token" not in by_id[alice["id"]]


def test_a_new_member_works_on_their_own_behalf(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    mailbox = acme.connect_upload(alice, "alice@acme.com")

    shown = acme.client.get(f"/mailboxes/{mailbox}", headers=alice.headers).json()

    assert shown["owner_id"] == alice.id


def test_member_addresses_are_stored_normalised(acme: Workspace) -> None:
    response = acme.client.post(
        "/members", json={"name": "Alice", "emails": ["  Alice@ACME.com "]}, headers=acme.admin.headers
    )

    assert response.status_code == 201, response.text
    assert response.json()["emails"] == ["alice@acme.com"]
    assert response.json()["role"] == "member"


def test_an_address_that_already_belongs_to_a_member_cannot_be_given_to_another(acme: Workspace) -> None:
    acme.add_member("Alice", "alice@acme.com")

    again = acme.client.post(
        "/members", json={"name": "Alice 2", "emails": ["alice@acme.com"]}, headers=acme.admin.headers
    )
    case_variant = acme.client.post(
        "/members", json={"name": "Robert", "emails": ["BOB@acme.com"]}, headers=acme.admin.headers
    )

    assert_problem(again, 409)
    assert_problem(case_variant, 409)
    names = [m["name"] for m in acme.client.get("/members", headers=acme.admin.headers).json()["items"]]
    assert sorted(names) == ["Alice", "Bob"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Alice", "emails": ["not-an-address"]},
        {"name": "Alice", "emails": []},
        {"name": "", "emails": ["alice@acme.com"]},
        {"name": "Alice", "emails": ["alice@acme.com"], "role": "owner"},
        {"name": "Alice", "emails": ["alice@acme.com"], "colour": "blue"},
    ],
    ids=["bad-address", "no-address", "no-name", "unknown-role", "unknown-field"],
)
def test_an_invalid_member_is_refused(acme: Workspace, body: dict[str, Any]) -> None:
    response = acme.client.post("/members", json=body, headers=acme.admin.headers)

    assert_problem(response, 422)
    items = acme.client.get("/members", headers=acme.admin.headers).json()["items"]
    assert [m["name"] for m in items] == ["Bob"]


def test_a_member_cannot_add_members(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")

    response = acme.client.post(
        "/members", json={"name": "Mallory", "emails": ["mallory@acme.com"]}, headers=alice.headers
    )

    assert_problem(response, 403)
    names = [m["name"] for m in acme.client.get("/members", headers=acme.admin.headers).json()["items"]]
    assert "Mallory" not in names


def test_an_admin_added_by_an_admin_can_manage_the_workspace(acme: Workspace) -> None:
    carol = acme.add_member("Carol", "carol@acme.com", role="admin")

    added = acme.client.post(
        "/members", json={"name": "Dan", "emails": ["dan@acme.com"]}, headers=carol.headers
    )
    settings = acme.client.get("/settings", headers=carol.headers)

    assert added.status_code == 201, added.text
    assert settings.status_code == 200, settings.text


# authentication ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic Ym9iOnNlY3JldA=="},
    ],
    ids=["no-token", "unknown-token", "empty-token", "basic-auth"],
)
def test_a_request_without_a_valid_token_is_unauthorized(acme: Workspace, headers: dict[str, str]) -> None:
    response = acme.client.get("/members", headers=headers)

    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert "Bob" not in response.text and "items" not in body


def test_every_read_needs_a_token(acme: Workspace) -> None:
    for path in ["/settings", "/emails", "/people", "/companies", "/mailboxes", f"/people/{acme.admin.id}"]:
        response = acme.client.get(path)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].lower().startswith("bearer"), path


def test_a_write_without_a_token_changes_nothing(acme: Workspace) -> None:
    response = acme.client.post("/members", json={"name": "Eve", "emails": ["eve@acme.com"]})

    assert_problem(response, 401)
    assert "www-authenticate" in response.headers
    names = [m["name"] for m in acme.client.get("/members", headers=acme.admin.headers).json()["items"]]
    assert names == ["Bob"]


def test_a_token_is_not_valid_with_extra_characters(acme: Workspace) -> None:
    response = acme.client.get("/members", headers={"Authorization": f"Bearer {acme.admin.token}x"})

    assert_problem(response, 401)


# roles ---------------------------------------------------------------------------


def test_a_member_cannot_read_or_change_settings(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")

    read = acme.client.get("/settings", headers=alice.headers)
    change = acme.client.patch("/settings", json={"record_creation": "all"}, headers=alice.headers)

    assert_problem(read, 403)
    assert_problem(change, 403)
    assert acme.client.get("/settings", headers=acme.admin.headers).json()["record_creation"] == "selective"


def test_an_auditor_reads_but_cannot_change_mail_data_or_settings(acme: Workspace) -> None:
    audrey = acme.add_member("Audrey", "audrey@acme.com", role="auditor")
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    assert acme.post_message(acme.admin, mailbox, message("bob@acme.com", "sue@gmail.com")).status_code == 201

    members = acme.client.get("/members", headers=audrey.headers)
    emails = acme.client.get("/emails", headers=audrey.headers)
    people = acme.client.get("/people", headers=audrey.headers)
    assert members.status_code == 200
    assert {m["role"] for m in members.json()["items"]} == {"admin", "auditor"}
    assert len(emails.json()["items"]) == 1
    assert [p["emails"] for p in people.json()["items"]] == [["sue@gmail.com"]]

    assert_problem(
        acme.client.post(
            "/mailboxes", json={"provider": "upload", "address": "audrey@acme.com"}, headers=audrey.headers
        ),
        403,
    )
    assert_problem(
        acme.client.post("/people", json={"name": "Zed", "emails": ["zed@zed.io"]}, headers=audrey.headers),
        403,
    )
    assert_problem(
        acme.client.patch(f"/mailboxes/{mailbox}", json={"sharing": "full"}, headers=audrey.headers), 403
    )
    assert_problem(
        acme.client.post(
            "/members", json={"name": "Eve", "emails": ["eve@acme.com"]}, headers=audrey.headers
        ),
        403,
    )
    assert_problem(
        acme.client.patch("/settings", json={"record_creation": "all"}, headers=audrey.headers), 403
    )

    assert acme.client.get("/mailboxes", headers=audrey.headers).json()["items"][0]["sharing"] == "metadata"
    assert acme.client.get("/people", headers=audrey.headers).json()["items"] == people.json()["items"]


# settings ------------------------------------------------------------------------


def test_a_new_workspace_has_the_documented_default_settings(acme: Workspace) -> None:
    response = acme.client.get("/settings", headers=acme.admin.headers)

    assert response.status_code == 200, response.text
    settings = response.json()
    assert settings["record_creation"] == "selective"
    assert settings["internal_domains"] == ["acme.com"]
    assert settings["exclusions"] == []
    assert settings["legal_hold"] is False
    assert settings["plan"] == "free"


def test_an_admin_changes_record_creation_internal_domains_and_exclusions(acme: Workspace) -> None:
    response = acme.client.patch(
        "/settings",
        json={
            "record_creation": "all",
            "internal_domains": ["acme.com", "Acme.IO"],
            "exclusions": ["hr-vendor.com", "Lawyer@Firm.com"],
        },
        headers=acme.admin.headers,
    )

    assert response.status_code == 200, response.text
    shown = acme.client.get("/settings", headers=acme.admin.headers).json()
    assert response.json() == shown
    assert shown["record_creation"] == "all"
    assert sorted(shown["internal_domains"]) == ["acme.com", "acme.io"]
    assert sorted(shown["exclusions"]) == ["hr-vendor.com", "lawyer@firm.com"]


def test_a_settings_patch_leaves_unmentioned_settings_alone(acme: Workspace) -> None:
    acme.client.patch("/settings", json={"exclusions": ["spam.example"]}, headers=acme.admin.headers)

    acme.client.patch("/settings", json={"record_creation": "none"}, headers=acme.admin.headers)

    shown = acme.client.get("/settings", headers=acme.admin.headers).json()
    assert shown["record_creation"] == "none"
    assert shown["exclusions"] == ["spam.example"]
    assert shown["internal_domains"] == ["acme.com"]


def test_an_admin_removes_an_internal_domain_and_clears_exclusions(acme: Workspace) -> None:
    acme.client.patch(
        "/settings",
        json={"internal_domains": ["acme.com", "acme.io"], "exclusions": ["x.com"]},
        headers=acme.admin.headers,
    )

    acme.client.patch(
        "/settings", json={"internal_domains": ["acme.io"], "exclusions": []}, headers=acme.admin.headers
    )

    shown = acme.client.get("/settings", headers=acme.admin.headers).json()
    assert shown["internal_domains"] == ["acme.io"]
    assert shown["exclusions"] == []


def test_a_newly_internal_domain_stops_new_mail_with_it_from_being_stored(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    acme.client.patch(
        "/settings", json={"internal_domains": ["acme.com", "acme.io"]}, headers=acme.admin.headers
    )

    response = acme.post_message(acme.admin, mailbox, message("bob@acme.com", "tom@acme.io"))

    assert response.json()["status"] == "skipped"
    assert acme.client.get("/emails", headers=acme.admin.headers).json()["items"] == []


def test_record_creation_none_stops_new_people_from_being_made(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    acme.client.patch("/settings", json={"record_creation": "none"}, headers=acme.admin.headers)

    acme.post_message(acme.admin, mailbox, message("bob@acme.com", "sue@gmail.com"))

    assert len(acme.client.get("/emails", headers=acme.admin.headers).json()["items"]) == 1
    assert acme.client.get("/people", headers=acme.admin.headers).json()["items"] == []


def test_an_excluded_domain_keeps_its_messages_out(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    acme.client.patch("/settings", json={"exclusions": ["hr-vendor.com"]}, headers=acme.admin.headers)

    response = acme.post_message(acme.admin, mailbox, message("bob@acme.com", "case@eu.hr-vendor.com"))

    assert response.json()["status"] == "skipped"
    assert acme.client.get("/emails", headers=acme.admin.headers).json()["items"] == []
    assert acme.client.get("/people", headers=acme.admin.headers).json()["items"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"record_creation": "sometimes"},
        {"colour": "blue"},
        {"internal_domains": ["not a domain"]},
        {"internal_domains": ["bob@acme.com"]},
        {"internal_domains": ["localhost"]},
        {"internal_domains": "acme.com"},
        {"exclusions": ["two words"]},
        {"plan": "platinum"},
        {"legal_hold": "maybe"},
    ],
    ids=[
        "unknown-policy",
        "unknown-field",
        "spaced-domain",
        "address-as-domain",
        "dotless-domain",
        "domains-not-a-list",
        "bad-exclusion",
        "unknown-plan",
        "hold-not-bool",
    ],
)
def test_invalid_settings_are_refused_and_change_nothing(acme: Workspace, change: dict[str, Any]) -> None:
    before = acme.client.get("/settings", headers=acme.admin.headers).json()

    response = acme.client.patch("/settings", json=change, headers=acme.admin.headers)

    body = assert_problem(response, 422)
    assert body["type"]
    assert acme.client.get("/settings", headers=acme.admin.headers).json() == before


def test_an_invalid_value_in_a_patch_does_not_apply_the_valid_parts(acme: Workspace) -> None:
    response = acme.client.patch(
        "/settings",
        json={"record_creation": "all", "internal_domains": ["not a domain"]},
        headers=acme.admin.headers,
    )

    assert_problem(response, 422)
    assert acme.client.get("/settings", headers=acme.admin.headers).json()["record_creation"] == "selective"
