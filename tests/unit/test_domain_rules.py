"""Pure domain rules: participants, direction, internal filtering, record creation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import ConflictError, RuleViolationError
from domain.filtering import (
    BLOCKLISTED,
    EXCLUDED,
    INTERNAL_ONLY,
    NO_PARTICIPANTS,
    InternalSet,
    matches_any,
    skip_reason,
)
from domain.mailbox import Mailbox
from domain.message import Address, ParsedMessage
from domain.ownership import Login, proven_by_login
from domain.participants import RECEIVED, SENT, direction, participants
from domain.records import is_role_address, people_to_create
from domain.values import RecordPolicy, lenient_address, normalize_address, normalize_domain
from domain.workspace import Workspace


def parsed(sender: str, to: list[str], cc: list[str] = (), bulk: bool = False) -> ParsedMessage:  # type: ignore[assignment]
    return ParsedMessage(
        message_id="m@x",
        subject="s",
        date=datetime(2025, 1, 1, tzinfo=UTC),
        from_=(Address(sender),),
        sender=(),
        reply_to=(),
        to=tuple(Address(a) for a in to),
        cc=tuple(Address(a) for a in cc),
        bcc=(),
        in_reply_to=None,
        references=(),
        bulk=bulk,
        body_text="",
        body_html="",
        attachments=(),
        size=10,
        fingerprint="f",
    )


ACME = InternalSet(frozenset({"acme.com"}), frozenset({"bob@acme.com", "karen@gmail.com"}))


@pytest.mark.parametrize(
    ("to", "stored"),
    [("sue@acme.com", False), ("sue@gmail.com", True), ("karen@gmail.com", False)],
)
def test_the_acme_example_of_the_design_brief(to: str, stored: bool) -> None:
    message = parsed("bob@acme.com", [to])
    reason = skip_reason(participants(message), ACME)
    assert (reason is None) is stored
    if not stored:
        assert reason == INTERNAL_ONLY


def test_addresses_are_compared_lower_cased_with_an_idna_domain() -> None:
    assert normalize_address("  Sue@Bücher.Example ") == "sue@xn--bcher-kva.example"
    assert normalize_address("not an address") is None
    assert normalize_address("a@localhost") is None


def test_a_message_is_sent_when_from_is_the_owner_or_an_alias() -> None:
    assert direction(parsed("bob@acme.com", ["x@y.com"]), {"bob@acme.com"}) == SENT
    assert direction(parsed("bobby@acme.com", ["x@y.com"]), {"bob@acme.com", "bobby@acme.com"}) == SENT
    assert direction(parsed("x@y.com", ["bob@acme.com"]), {"bob@acme.com"}) == RECEIVED


def test_exclusions_and_blocklists_match_addresses_and_subdomains() -> None:
    assert matches_any("a@mail.spam.com", ["spam.com"])
    assert not matches_any("a@notspam.com", ["spam.com"])
    assert matches_any("x@y.com", ["x@y.com"])
    message = participants(parsed("x@mail.spam.com", ["bob@acme.com"]))
    assert skip_reason(message, ACME, exclusions=["spam.com"]) == EXCLUDED
    assert skip_reason(message, ACME, blocklist=["spam.com"]) == BLOCKLISTED
    assert skip_reason((), ACME) == NO_PARTICIPANTS


def test_selective_creates_people_only_from_what_a_member_sent() -> None:
    sent = parsed("bob@acme.com", ["sue@gmail.com", "noreply@shop.com"], cc=["ann@acme.com", "tom@corp.com"])
    created = [a for a, _ in people_to_create(sent, SENT, RecordPolicy.SELECTIVE, ACME)]
    assert created == ["sue@gmail.com", "tom@corp.com"]
    received = parsed("sue@gmail.com", ["bob@acme.com"])
    assert people_to_create(received, RECEIVED, RecordPolicy.SELECTIVE, ACME) == []
    assert [a for a, _ in people_to_create(received, RECEIVED, RecordPolicy.ALL, ACME)] == ["sue@gmail.com"]
    assert people_to_create(sent, SENT, RecordPolicy.NONE, ACME) == []


def test_bulk_mail_and_role_addresses_create_no_people() -> None:
    bulk = parsed("news@corp.com", ["bob@acme.com"], bulk=True)
    assert people_to_create(bulk, RECEIVED, RecordPolicy.ALL, ACME) == []
    assert is_role_address("no-reply@x.com") and is_role_address("support+eu@x.com")
    assert not is_role_address("sue@x.com")


def test_a_mailbox_cannot_block_its_own_addresses() -> None:
    mailbox = Mailbox(
        workspace_id="w",
        owner_id="m",
        provider="upload",
        address="bob@acme.com",
        aliases=["robert@acme.com"],
        connection={},
    )
    with pytest.raises(RuleViolationError):
        mailbox.block("acme.com")
    with pytest.raises(RuleViolationError):
        mailbox.block("robert@acme.com")
    mailbox.block("spam.com")
    assert mailbox.blocklist == ["spam.com"]


def test_member_and_mailbox_addresses_are_internal_whatever_their_domain() -> None:
    workspace = Workspace(name="Acme", signup_domain="acme.com", plan="free")
    workspace.add_member("k", "Karen", ["karen@gmail.com"], "member")
    workspace.register_mailbox(
        "mb", "k", "imap", ["karen.alias@outlook.com"], ["karen.alias@outlook.com"], True
    )
    internal = workspace.internal_set()
    assert internal.is_internal("karen@gmail.com")
    assert internal.is_internal("karen.alias@outlook.com")
    assert internal.is_internal("anyone@acme.com")
    assert not internal.is_internal("sue@gmail.com")


def test_a_login_proves_an_address_only_as_that_address_on_a_server_of_its_domain() -> None:
    assert proven_by_login("bob@acme.com", Login("imap.acme.com", "Bob@Acme.com"), hosted=False)
    assert proven_by_login("bob@acme.com", Login("acme.com", "bob@acme.com"), hosted=False)
    assert proven_by_login("bob@acme.com", Login("imap.gmail.com", "bob@acme.com"), hosted=True)
    assert not proven_by_login("bob@acme.com", Login("imap.acme.com", "bob"), hosted=False)
    assert not proven_by_login("bob@acme.com", Login("mail.attacker.example", "bob@acme.com"), hosted=False)
    assert not proven_by_login("bob@acme.com", Login("imap.notacme.com", "bob@acme.com"), hosted=False)
    assert not proven_by_login("bob@acme.com", None, hosted=True)


def test_an_unverified_mailbox_address_is_neither_internal_nor_makes_its_domain_internal() -> None:
    workspace = Workspace(name="Acme", signup_domain="acme.com", plan="enterprise")
    workspace.add_member("m", "Mallory", ["mallory@acme.com"], "member")
    workspace.register_mailbox("mb", "m", "imap", ["ceo@vendor.example"], [], False)
    assert workspace.internal_domains == ["acme.com"]
    assert not workspace.internal_set().is_internal("ceo@vendor.example")
    with pytest.raises(ConflictError):
        workspace.add_member("c", "Carl", ["ceo@vendor.example"], "member")


def test_a_domain_made_internal_by_a_mailbox_goes_with_the_last_such_mailbox_unless_an_admin_set_it() -> None:
    workspace = Workspace(name="Acme", signup_domain="acme.com", plan="enterprise")
    workspace.add_member("a", "Ann", ["ann@labs.example", "ann2@labs.example"], "member")
    workspace.register_mailbox("m1", "a", "upload", ["ann@labs.example"], [], False)
    workspace.register_mailbox("m2", "a", "upload", ["ann2@labs.example"], [], False)
    assert workspace.internal_domains == ["acme.com", "labs.example"]
    workspace.unregister_mailbox("m1", held=False)
    assert workspace.internal_domains == ["acme.com", "labs.example"]
    workspace.unregister_mailbox("m2", held=False)
    assert workspace.internal_domains == ["acme.com"]

    workspace.register_mailbox("m3", "a", "upload", ["ann@labs.example"], [], False)
    workspace.set_internal_domains(
        ["acme.com", "labs.example", "other.example"]
    )  # labs.example kept, not set
    workspace.unregister_mailbox("m3", held=False)
    assert workspace.internal_domains == ["acme.com", "other.example"]

    workspace.set_internal_domains(["acme.com", "labs.example"])  # now an admin's
    workspace.register_mailbox("m4", "a", "upload", ["ann@labs.example"], [], False)
    workspace.unregister_mailbox("m4", held=False)
    assert workspace.internal_domains == ["acme.com", "labs.example"]


def test_no_domain_becomes_internal_when_the_admins_opted_out_or_it_is_free_mail() -> None:
    workspace = Workspace(name="Acme", signup_domain="acme.com", plan="enterprise")
    workspace.add_member("a", "Ann", ["ann@labs.example", "ann@gmail.com"], "member")
    workspace.register_mailbox("m1", "a", "upload", ["ann@gmail.com"], [], True)
    workspace.set_auto_internal_domains(False)
    workspace.register_mailbox("m2", "a", "upload", ["ann@labs.example"], [], False)
    assert workspace.internal_domains == ["acme.com"]
    assert workspace.internal_set().is_internal("ann@labs.example")  # the address itself still is


def test_domains_are_idna_2008_with_uts46_mapping_and_valid_labels() -> None:
    assert normalize_domain("Straße.Example") == "xn--strae-oqa.example"  # not strasse.example (IDNA 2003)
    assert normalize_domain("BÜCHER.example") == "xn--bcher-kva.example"
    assert normalize_domain("_dmarc.Example.com.") == "_dmarc.example.com"
    refused_domains = (
        "*.x.com",
        "x..com",
        "-x.com",
        "x.com/",
        "exa mple.com",
        "a" * 64 + ".com",
        "x" * 250 + ".com",
    )
    for refused in refused_domains:
        assert normalize_domain(refused) is None, refused


def test_an_unparseable_participant_is_screened_by_its_domain() -> None:
    assert lenient_address('"x y"@Blocked.Example') == '"x y"@blocked.example'
    assert lenient_address("bob@blocked.example!!") == "bob@blocked.example"
    assert lenient_address("a@" + "x" * 250 + ".blocked.example") == "a@" + "x" * 250 + ".blocked.example"
    assert lenient_address("no domain at all") is None
    unparsed = ('"x y"@mail.blocked.example',)
    external = ["sue@corp.com"]
    assert skip_reason(external, ACME, blocklist=["blocked.example"], unparsed=unparsed) == BLOCKLISTED
    assert skip_reason(external, ACME, exclusions=["blocked.example"], unparsed=unparsed) == EXCLUDED
    assert skip_reason(external, ACME, unparsed=unparsed) is None
    assert skip_reason([], ACME, unparsed=unparsed) == NO_PARTICIPANTS  # never a participant of its own
