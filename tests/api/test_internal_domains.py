"""Who makes a domain internal: admins, and connected accounts whose address is the member's.

Acme: acme.com is internal; Bob (bob@acme.com) is the admin; Mallory (mallory@acme.com) is a
member who would like vendor.example's mail to disappear."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_privacy_rules import hidden_from, store
from tests.support.dovecot import DovecotServer
from tests.support.dsl import Member, Workspace, assert_problem
from tests.support.imap import change_password, new_user, requires_dovecot
from tests.support.messages import message


def settings_of(ws: Workspace) -> dict[str, Any]:
    response = ws.client.get("/settings", headers=ws.admin.headers)
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def upload(ws: Workspace, member: Member, address: str, aliases: list[str] | None = None) -> Any:
    body = {"provider": "upload", "address": address, "aliases": aliases or []}
    return ws.client.post("/mailboxes", json=body, headers=member.headers)


@pytest.fixture
def bob_box(acme: Workspace) -> str:
    return acme.connect_upload(acme.admin, "bob@acme.com")


def test_a_member_cannot_hide_a_vendors_mail_with_an_upload_mailbox_on_its_domain(
    acme: Workspace, bob_box: str
) -> None:
    quote = store(acme, acme.admin, bob_box, message("bob@acme.com", "sue@vendor.example", "Quote"))
    mallory = acme.add_member("Mallory", "mallory@acme.com")

    for address, aliases in (("x@vendor.example", []), ("mallory@acme.com", ["sue@vendor.example"])):
        refused = upload(acme, mallory, address, aliases)
        assert_problem(refused, 422)
        assert "own addresses" in refused.json()["detail"]

    assert settings_of(acme)["internal_domains"] == ["acme.com"]
    listed = acme.client.get("/mailboxes", headers=mallory.headers).json()["items"]
    assert [m["owner_id"] for m in listed] == [acme.admin.id]
    assert not hidden_from(acme, acme.admin, quote)
    assert not hidden_from(acme, mallory, quote)
    created = acme.client.post("/people", json={"name": "Ann", "emails": ["ann@vendor.example"]},
                               headers=acme.admin.headers)  # fmt: skip
    assert created.status_code == 201, created.text


def test_only_an_admin_changes_internal_domains(acme: Workspace) -> None:
    mallory = acme.add_member("Mallory", "mallory@acme.com")

    for change in ({"internal_domains": ["acme.com", "vendor.example"]}, {"auto_internal_domains": False}):
        assert_problem(acme.client.patch("/settings", json=change, headers=mallory.headers), 403)

    assert settings_of(acme)["internal_domains"] == ["acme.com"]
    assert settings_of(acme)["auto_internal_domains"] is True


def test_an_address_an_admin_gave_a_member_makes_its_domain_internal_until_the_mailbox_is_removed(
    acme: Workspace, bob_box: str
) -> None:
    to_labs = store(acme, acme.admin, bob_box, message("bob@acme.com", "ray@labs.example", "Lab work"))
    dee = acme.add_member("Dee", "dee@acme.com")
    acme.add_email(dee, "dee@labs.example")
    dee_box = acme.connect_upload(dee, "dee@labs.example")

    assert settings_of(acme)["internal_domains"] == ["acme.com", "labs.example"]
    assert hidden_from(acme, acme.admin, to_labs)

    assert acme.client.delete(f"/mailboxes/{dee_box}", headers=dee.headers).status_code in (200, 204)

    assert settings_of(acme)["internal_domains"] == ["acme.com"]
    assert not hidden_from(acme, acme.admin, to_labs)


def test_removing_a_mailbox_keeps_a_domain_that_an_admin_set(acme: Workspace) -> None:
    dee = acme.add_member("Dee", "dee@acme.com")
    acme.add_email(dee, "dee@labs.example")
    dee_box = acme.connect_upload(dee, "dee@labs.example")
    acme.client.patch("/settings", json={"internal_domains": ["acme.com", "labs.example", "acme.io"]},
                      headers=acme.admin.headers)  # fmt: skip
    acme.client.patch("/settings", json={"internal_domains": ["acme.com", "acme.io"]},
                      headers=acme.admin.headers)  # fmt: skip
    acme.client.patch("/settings", json={"internal_domains": ["acme.com", "acme.io", "labs.example"]},
                      headers=acme.admin.headers)  # fmt: skip

    acme.client.delete(f"/mailboxes/{dee_box}", headers=dee.headers)

    assert settings_of(acme)["internal_domains"] == ["acme.com", "acme.io", "labs.example"]


def test_an_admin_turns_automatic_internal_domains_off(acme: Workspace, bob_box: str) -> None:
    to_labs = store(acme, acme.admin, bob_box, message("bob@acme.com", "ray@labs.example", "Lab work"))
    changed = acme.client.patch("/settings", json={"auto_internal_domains": False},
                                headers=acme.admin.headers)  # fmt: skip
    assert changed.status_code == 200 and changed.json()["auto_internal_domains"] is False
    dee = acme.add_member("Dee", "dee@acme.com")
    acme.add_email(dee, "dee@labs.example")

    acme.connect_upload(dee, "dee@labs.example")

    assert settings_of(acme)["internal_domains"] == ["acme.com"]
    assert not hidden_from(acme, acme.admin, to_labs)


def test_two_members_cannot_have_the_same_address(acme: Workspace) -> None:
    dee = acme.add_member("Dee", "dee@acme.com")
    acme.add_email(dee, "dee@labs.example")

    taken = acme.client.post("/members", json={"name": "Eve", "emails": ["DEE@labs.example"]},
                             headers=acme.admin.headers)  # fmt: skip
    assert_problem(taken, 409)
    eve = acme.add_member("Eve", "eve@acme.com")
    given = acme.client.post(f"/members/{eve.id}/emails", json={"address": "dee@labs.example"},
                             headers=acme.admin.headers)  # fmt: skip
    assert_problem(given, 409)
    assert_problem(upload(acme, eve, "dee@labs.example"), 409)
    assert_problem(upload(acme, eve, "eve@labs.example"), 422)  # nobody's, but not Eve's either
    unknown = "00000000-0000-0000-0000-000000000000"
    assert_problem(acme.client.post(f"/members/{unknown}/emails", json={"address": "z@acme.com"},
                                    headers=acme.admin.headers), 404)  # fmt: skip
    assert_problem(acme.client.post(f"/members/{eve.id}/emails", json={"address": "z@acme.com"},
                                    headers=eve.headers), 403)  # fmt: skip
    listed = acme.client.get("/members", headers=eve.headers).json()["items"]
    members = {m["name"]: m["emails"] for m in listed}
    assert members["Dee"] == ["dee@acme.com", "dee@labs.example"] and members["Eve"] == ["eve@acme.com"]


# connected (IMAP) accounts, against a real Dovecot -------------------------------------------


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


@pytest.fixture
def loopback(acme: Workspace) -> Iterator[Workspace]:
    """Dovecot listens on 127.0.0.1; for these tests it stands for a provider that checks domains."""
    acme.runtime.settings.allow_private_hosts = True
    catalog: Any = acme.runtime.app.catalog
    before = catalog.verifying_hosts
    yield acme
    catalog.verifying_hosts = before
    acme.runtime.background.wait()


def connect_imap(ws: Workspace, member: Member, address: str, user: str, password: str, port: int) -> Any:
    body = {"provider": "imap", "address": address, "host": "127.0.0.1", "port": port, "security": "none",
            "username": user, "password": password}  # fmt: skip
    return ws.client.post("/mailboxes", json=body, headers=member.headers)


@requires_dovecot
def test_an_imap_login_under_another_name_proves_nothing_and_its_address_stays_claimed(
    loopback: Workspace, dovecot: DovecotServer
) -> None:
    ws = loopback
    bob_box = ws.connect_upload(ws.admin, "bob@acme.com")
    to_ceo = store(ws, ws.admin, bob_box, message("bob@acme.com", "ceo@vendor.example", "Terms"))
    mallory = ws.add_member("Mallory", "mallory@acme.com")
    user, password = new_user(dovecot, "mallory")

    connected = connect_imap(ws, mallory, "ceo@vendor.example", user, password, dovecot.port)

    assert connected.status_code == 201, connected.text
    assert settings_of(ws)["internal_domains"] == ["acme.com"]
    assert not hidden_from(ws, ws.admin, to_ceo)  # the unproven address is not internal either
    taken = ws.client.post("/members", json={"name": "Ceo", "emails": ["ceo@vendor.example"]},
                           headers=ws.admin.headers)  # fmt: skip
    assert_problem(taken, 409)
    dee = ws.add_member("Dee", "dee@acme.com")
    assert_problem(connect_imap(ws, dee, "ceo@vendor.example", user, password, dovecot.port), 409)


@requires_dovecot
def test_an_imap_login_as_the_address_at_a_verifying_provider_makes_its_domain_internal(
    loopback: Workspace, dovecot: DovecotServer
) -> None:
    ws = loopback
    dana = ws.add_member("Dana", "dana@acme.com")
    address = f"dana{id(ws)}@labs.example"
    change_password(dovecot, address, "pw-dana")

    catalog: Any = ws.runtime.app.catalog
    assert connect_imap(ws, dana, address, address, "pw-dana", dovecot.port).status_code == 201
    assert settings_of(ws)["internal_domains"] == ["acme.com"]  # 127.0.0.1 answers for no domain

    catalog.verifying_hosts = frozenset({"127.0.0.1"})
    ws.client.patch("/settings", json={"plan": "enterprise"}, headers=ws.admin.headers)
    second = connect_imap(ws, dana, address, address.upper(), "pw-dana", dovecot.port)
    assert second.status_code == 201, second.text
    assert settings_of(ws)["internal_domains"] == ["acme.com", "labs.example"]

    removed = ws.client.delete(f"/mailboxes/{second.json()['id']}", headers=dana.headers)
    assert removed.status_code == 204, removed.text
    assert settings_of(ws)["internal_domains"] == ["acme.com"]
