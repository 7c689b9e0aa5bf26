"""Stories of two companies on one server: neither ever sees the other's data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.runtime import Runtime
from tests.support.dsl import Workspace, make_workspace
from tests.support.messages import message

SECRET_SUBJECT = "Acme secret roadmap"
SECRET_BODY = "Launch date is March."


@dataclass
class AcmeData:
    mailbox_id: str
    email_id: str
    person_id: str
    company_id: str


@pytest.fixture
def acme_data(acme: Workspace) -> AcmeData:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    acme.client.patch(f"/mailboxes/{mailbox}", json={"sharing": "full"}, headers=acme.admin.headers)
    raw = message("bob@acme.com", "alice@northwind.com", SECRET_SUBJECT, body=SECRET_BODY)
    stored = acme.post_message(acme.admin, mailbox, raw).json()
    person = acme.client.get("/people", headers=acme.admin.headers).json()["items"][0]
    company = acme.client.get("/companies", headers=acme.admin.headers).json()["items"][0]
    return AcmeData(mailbox, stored["email_id"], person["id"], company["id"])


@pytest.fixture
def globex(client: TestClient, runtime: Runtime) -> Workspace:
    return make_workspace(client, runtime, "Globex", "globex.com", ("Gina", "gina@globex.com"))


def assert_not_found_without_data(response: Any) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    for secret in (SECRET_SUBJECT, SECRET_BODY, "northwind", "bob@acme.com"):
        assert secret not in response.text


def test_another_workspace_gets_not_found_for_every_id_of_the_first(
    acme_data: AcmeData, globex: Workspace
) -> None:
    d = acme_data
    for path in [
        f"/people/{d.person_id}",
        f"/people/{d.person_id}/emails",
        f"/companies/{d.company_id}",
        f"/companies/{d.company_id}/emails",
        f"/emails/{d.email_id}",
        f"/emails/{d.email_id}/body",
        f"/mailboxes/{d.mailbox_id}",
    ]:
        assert_not_found_without_data(globex.client.get(path, headers=globex.admin.headers))


def test_a_member_of_another_workspace_also_gets_not_found(acme_data: AcmeData, globex: Workspace) -> None:
    gus = globex.add_member("Gus", "gus@globex.com")

    d = acme_data
    for path in [f"/emails/{d.email_id}", f"/emails/{d.email_id}/body", f"/people/{d.person_id}"]:
        assert_not_found_without_data(globex.client.get(path, headers=gus.headers))


def test_another_workspace_cannot_change_the_first_workspaces_things(
    acme: Workspace, acme_data: AcmeData, globex: Workspace
) -> None:
    d = acme_data
    h = globex.admin.headers
    blocklist = f"/mailboxes/{d.mailbox_id}/blocklist"
    attempts = [
        globex.client.patch(f"/mailboxes/{d.mailbox_id}", json={"sharing": "metadata"}, headers=h),
        globex.client.post(blocklist, json={"entry": "northwind.com"}, headers=h),
        globex.client.request("DELETE", blocklist, json={"entry": "x.com"}, headers=h),
        globex.post_message(globex.admin, d.mailbox_id, message("gina@globex.com", "spy@northwind.com")),
        globex.client.post(f"/people/{d.person_id}/addresses", json={"address": "spy@gmail.com"}, headers=h),
    ]

    for response in attempts:
        assert_not_found_without_data(response)
    mailbox = acme.client.get(f"/mailboxes/{d.mailbox_id}", headers=acme.admin.headers).json()
    assert mailbox["sharing"] == "full"
    assert mailbox["blocklist"] == []
    assert mailbox["synced"] == 1
    person = acme.client.get(f"/people/{d.person_id}", headers=acme.admin.headers).json()
    assert person["emails"] == ["alice@northwind.com"]


def test_another_workspaces_lists_never_include_the_first_workspaces_items(
    acme: Workspace, acme_data: AcmeData, globex: Workspace
) -> None:
    gina_box = globex.connect_upload(globex.admin, "gina@globex.com")
    raw = message("gina@globex.com", "zoe@initech.com", "Globex things")
    globex.post_message(globex.admin, gina_box, raw)

    lists = {
        path: globex.client.get(path, headers=globex.admin.headers).json()["items"]
        for path in ["/people", "/companies", "/emails", "/mailboxes", "/members"]
    }

    assert [p["emails"] for p in lists["/people"]] == [["zoe@initech.com"]]
    assert [c["domain"] for c in lists["/companies"]] == ["initech.com"]
    assert [e["subject"] for e in lists["/emails"]] == ["Globex things"]
    assert [m["id"] for m in lists["/mailboxes"]] == [gina_box]
    assert [m["name"] for m in lists["/members"]] == ["Gina"]
    everything = str(lists)
    d = acme_data
    for acme_id in (d.person_id, d.company_id, d.email_id, d.mailbox_id, acme.admin.id):
        assert acme_id not in everything
    assert "acme" not in everything.lower()
    assert acme.client.get("/people", headers=acme.admin.headers).json()["items"][0]["emails"] == [
        "alice@northwind.com"
    ]


def test_another_workspace_has_its_own_settings(acme: Workspace, globex: Workspace) -> None:
    change = {"record_creation": "all", "exclusions": ["x.com"]}
    acme.client.patch("/settings", json=change, headers=acme.admin.headers)

    settings = globex.client.get("/settings", headers=globex.admin.headers).json()

    assert settings["name"] == "Globex"
    assert settings["internal_domains"] == ["globex.com"]
    assert settings["record_creation"] == "selective"
    assert settings["exclusions"] == []


def test_the_same_message_in_two_workspaces_stays_two_separate_emails(
    acme: Workspace, globex: Workspace
) -> None:
    raw = message("partner@initech.com", ["bob@acme.com", "gina@globex.com"], "To you both", body="Hi both")
    acme_box = acme.connect_upload(acme.admin, "bob@acme.com")
    globex_box = globex.connect_upload(globex.admin, "gina@globex.com")

    at_acme = acme.post_message(acme.admin, acme_box, raw).json()
    at_globex = globex.post_message(globex.admin, globex_box, raw).json()

    assert at_acme["status"] == at_globex["status"] == "stored"
    assert at_acme["email_id"] != at_globex["email_id"]
    for ws, own, other in [(acme, at_acme, at_globex), (globex, at_globex, at_acme)]:
        emails = ws.client.get("/emails", headers=ws.admin.headers).json()["items"]
        assert [(e["id"], e["copies"]) for e in emails] == [(own["email_id"], 1)]
        assert_not_found_without_data(ws.client.get(f"/emails/{other['email_id']}", headers=ws.admin.headers))


def test_an_address_can_be_a_person_in_each_workspace(acme: Workspace, globex: Workspace) -> None:
    zoe = {"name": "Zoe", "emails": ["zoe@initech.com"]}
    at_acme = acme.client.post("/people", json=zoe, headers=acme.admin.headers)
    at_globex = globex.client.post("/people", json=zoe, headers=globex.admin.headers)

    assert at_acme.status_code == 201, at_acme.text
    assert at_globex.status_code == 201, at_globex.text
    assert at_acme.json()["id"] != at_globex.json()["id"]


def test_a_company_domain_can_exist_in_each_workspace(acme: Workspace, globex: Workspace) -> None:
    at_acme = acme.client.post("/companies", json={"domain": "initech.com"}, headers=acme.admin.headers)
    at_globex = globex.client.post("/companies", json={"domain": "initech.com"}, headers=globex.admin.headers)

    assert at_acme.status_code == 201, at_acme.text
    assert at_globex.status_code == 201, at_globex.text
    assert at_acme.json()["id"] != at_globex.json()["id"]


def test_one_workspaces_members_are_not_internal_to_another(acme: Workspace, globex: Workspace) -> None:
    acme.add_member("Karen", "karen@gmail.com")
    gina_box = globex.connect_upload(globex.admin, "gina@globex.com")

    response = globex.post_message(globex.admin, gina_box, message("gina@globex.com", "karen@gmail.com"))

    assert response.json()["status"] == "stored"
    people = globex.client.get("/people", headers=globex.admin.headers).json()["items"]
    assert [p["emails"] for p in people] == [["karen@gmail.com"]]


def test_every_later_endpoint_answers_not_found_for_the_first_workspaces_ids(
    acme: Workspace, acme_data: AcmeData, globex: Workspace
) -> None:
    d = acme_data
    lead = acme.client.post(
        "/leads", json={"name": "Northwind", "contacts": [d.person_id]}, headers=acme.admin.headers
    )
    lead_id = lead.json()["id"]
    share = acme.client.post(
        f"/emails/{d.email_id}/shares", json={"workspace": True}, headers=acme.admin.headers
    )
    share_id = share.json()["id"]
    gina_box = globex.connect_upload(globex.admin, "gina@globex.com")
    own_person = globex.client.post(
        "/people", json={"name": "Zoe", "emails": ["zoe@initech.com"]}, headers=globex.admin.headers
    ).json()["id"]
    h = globex.admin.headers
    calls = [
        ("get", f"/leads/{lead_id}", None),
        ("get", f"/leads/{lead_id}/emails", None),
        ("post", f"/leads/{lead_id}/contacts", {"person_id": own_person}),
        ("get", f"/people/{d.person_id}/intelligence", None),
        ("get", f"/companies/{d.company_id}/intelligence", None),
        ("get", f"/emails/{d.email_id}/shares", None),
        ("post", f"/emails/{d.email_id}/shares", {"workspace": True}),
        ("delete", f"/emails/{d.email_id}/shares/{share_id}", None),
        ("get", f"/audit/emails/{d.email_id}/explain?viewer={acme.admin.id}", None),
        ("get", f"/audit/emails/{d.email_id}/explain?viewer={globex.admin.id}", None),
        ("post", f"/people/{own_person}/merge", {"person_id": d.person_id}),
        ("post", f"/mailboxes/{d.mailbox_id}/sync", None),
        ("patch", f"/mailboxes/{d.mailbox_id}/connection", {"username": "x"}),
        ("delete", f"/mailboxes/{d.mailbox_id}", None),
    ]
    for method, path, body in calls:
        assert_not_found_without_data(globex.client.request(method, path, json=body, headers=h))
    raw = message("gina@globex.com", "x@initech.com", "hi", message_id="<iso@globex.com>")
    posted = globex.client.post(
        f"/mailboxes/{d.mailbox_id}/messages", content=raw, headers={**h, "Content-Type": "message/rfc822"}
    )
    assert_not_found_without_data(posted)
    log = globex.client.get("/audit/events", params={"aggregate_id": d.mailbox_id}, headers=h).json()
    assert log["items"] == []
    assert gina_box  # Globex's own mailbox exists; the first workspace's stays untouched:
    assert (
        acme.client.get(f"/mailboxes/{d.mailbox_id}", headers=acme.admin.headers).json()["status"] == "active"
    )
