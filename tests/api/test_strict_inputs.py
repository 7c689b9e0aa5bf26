"""Strict request bodies and what the OpenAPI document says they accept (issue 14.11).

A boolean is JSON `true` or `false`: `"yes"`, `1` and `"true"` are 422 and change nothing. The
schema gives addresses the `email` format and domains the `hostname` format."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dsl import Workspace, assert_problem
from tests.support.messages import message

NOT_BOOLEANS: list[Any] = ["yes", 1, "true", 0, "false", "on"]


def test_legal_hold_takes_only_true_or_false(acme: Workspace) -> None:
    for value in NOT_BOOLEANS:
        refused = acme.client.patch("/settings", json={"legal_hold": value}, headers=acme.admin.headers)
        assert "legal_hold" in str(assert_problem(refused, 422)["errors"]), value
    assert acme.client.get("/settings", headers=acme.admin.headers).json()["legal_hold"] is False

    held = acme.client.patch("/settings", json={"legal_hold": True}, headers=acme.admin.headers)
    assert held.status_code == 200 and held.json()["legal_hold"] is True


def test_sharing_flags_take_only_true_or_false(acme: Workspace) -> None:
    mailbox_id = acme.connect_upload(acme.admin, "bob@acme.com")
    stored = acme.post_message(acme.admin, mailbox_id, message("bob@acme.com", "ann@customer.example"))
    shares = f"/emails/{stored.json()['email_id']}/shares"

    for field in ("workspace", "thread"):
        for value in NOT_BOOLEANS:
            refused = acme.client.post(
                shares, json={"workspace": True, field: value}, headers=acme.admin.headers
            )
            assert field in str(assert_problem(refused, 422)["errors"]), (field, value)

    assert acme.client.get(shares, headers=acme.admin.headers).json()["items"] == []
    shared = acme.client.post(shares, json={"workspace": True, "thread": False}, headers=acme.admin.headers)
    assert shared.status_code == 201, shared.text


def test_a_port_given_as_a_string_is_refused(acme: Workspace) -> None:
    body = {"provider": "imap", "address": "bob@acme.com", "host": "imap.example.org", "port": "993",
            "security": "tls", "username": "bob", "password": "x"}  # fmt: skip
    assert "port" in str(assert_problem(acme.client.post("/mailboxes", json=body, headers=acme.admin.headers),
                                        422)["errors"])  # fmt: skip


def _schema(acme: Workspace, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = acme.client.get("/openapi.json").json()["components"]["schemas"][name]
    return schema["properties"]


def _formats(prop: dict[str, Any]) -> set[str]:
    """Every format a property (or its items, or its alternatives) declares."""
    found = {prop["format"]} if "format" in prop else set()
    for key in ("items",):
        if key in prop:
            found |= _formats(prop[key])
    for alternative in prop.get("anyOf", []):
        found |= _formats(alternative)
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_openapi_document_says_which_fields_are_addresses_and_domains(acme: Workspace) -> None:
    expected = {
        ("NewMember", "emails"): {"email"},
        ("NewMailbox", "address"): {"email"},
        ("NewMailbox", "aliases"): {"email"},
        ("NewMailbox", "host"): {"hostname", "ipv4", "ipv6"},
        ("MailboxChange", "host"): {"hostname", "ipv4", "ipv6"},
        ("NewPerson", "emails"): {"email"},
        ("NewAddress", "address"): {"email"},
        ("NewCompany", "domain"): {"hostname"},
        ("SettingsChange", "internal_domains"): {"hostname"},
        ("SettingsChange", "exclusions"): {"email", "hostname"},
        ("BlocklistEntry", "entry"): {"email", "hostname"},
    }
    found = {(model, field): _formats(_schema(acme, model)[field]) for model, field in expected}
    assert found == expected
