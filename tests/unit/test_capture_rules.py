"""Capture addresses and the forwarded mailbox: the domain's rules, no I/O."""

from __future__ import annotations

import pytest

from domain.capture import dkim_aligned, is_forward, member_slug, split_capture_address
from domain.errors import ConflictError, RuleViolationError
from domain.message import Address
from domain.workspace import Workspace
from tests.support.messages import message


def test_a_slug_is_the_name_folded_to_ascii_else_the_address_local_part() -> None:
    assert member_slug("Zoë Martín-López", ["z@acme.com"]) == "zoe-martin-lopez"
    assert member_slug("李", ["li.wei@acme.com"]) == "li-wei"
    assert member_slug("", []) == "member"
    assert len(member_slug("x" * 100, [])) == 32


def test_a_capture_address_is_a_slug_and_a_token_on_the_inbound_domain_only() -> None:
    domain = "in.mailtrail.example"
    assert split_capture_address("<Bob+AbC@IN.mailtrail.example>", domain) == ("bob", "abc")
    assert split_capture_address("bob+abc@elsewhere.example", domain) is None
    assert split_capture_address("bob@in.mailtrail.example", domain) is None
    assert split_capture_address("+abc@in.mailtrail.example", domain) is None


def test_mail_to_the_capture_address_alone_is_a_forward_and_to_anyone_else_a_bcc() -> None:
    from adapters.mime import parse_message

    capture = {"bob+t@in.example"}
    forwarded = parse_message(message("bob@acme.com", ["bob+t@in.example", "bob@acme.com"]))
    bcc = parse_message(message("bob@acme.com", ["carol@client.example"]))
    assert is_forward(forwarded, {"bob@acme.com"}, capture)
    assert not is_forward(bcc, {"bob@acme.com"}, capture)
    assert Address("carol@client.example") in bcc.to


def test_a_signature_speaks_for_its_domain_and_the_subdomains() -> None:
    assert dkim_aligned("eu.acme.com", "acme.com") and dkim_aligned("acme.com", "ACME.com.")
    assert not dkim_aligned("acme.com", "eu.acme.com") and not dkim_aligned("notacme.com", "acme.com")


def _workspace(plan: str = "free") -> Workspace:
    workspace = Workspace(name="Acme", signup_domain="acme.com", plan=plan)
    workspace.add_member("bob", "Bob", ["bob@acme.com"], "admin")
    return workspace


def test_the_forwarded_mailbox_takes_no_plan_slot_and_there_is_one_per_member() -> None:
    workspace = _workspace("free")
    workspace.register_mailbox("m1", "bob", "upload", ["bob@acme.com"], [], False)
    with pytest.raises(RuleViolationError, match="only its owner's own addresses"):
        workspace.register_mailbox("f3", "bob", "forwarded", ["carol@client.example"], [], False)
    workspace.register_mailbox("f1", "bob", "forwarded", ["bob@acme.com"], [], False)
    assert workspace.forwarded_mailboxes == {"bob": "f1"}
    with pytest.raises(ConflictError):
        workspace.register_mailbox("f2", "bob", "forwarded", ["bob@acme.com"], [], False)
    with pytest.raises(RuleViolationError, match="free plan allows 1 mailbox"):
        workspace.register_mailbox("m2", "bob", "upload", ["bob@acme.com"], [], False)
    workspace.unregister_mailbox("f1", held=False)
    workspace.register_mailbox("f4", "bob", "forwarded", ["bob@acme.com"], [], False)
    assert workspace.forwarded_mailboxes == {"bob": "f4"}


def test_rotating_a_capture_address_counts_generations_per_member() -> None:
    workspace = _workspace()
    assert workspace.capture_generation("bob") == 0
    workspace.rotate_capture_address("bob")
    workspace.rotate_capture_address("bob")
    assert workspace.capture_generation("bob") == 2
    with pytest.raises(RuleViolationError):
        workspace.rotate_capture_address("nobody")
