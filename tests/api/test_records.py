"""Stories of people and companies: made by sync, made by hand, and their emails."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dsl import Member, Workspace, assert_problem
from tests.support.messages import message


def items(ws: Workspace, path: str, viewer: Member | None = None) -> list[dict[str, Any]]:
    response = ws.client.get(path, headers=(viewer or ws.admin).headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def new_person(ws: Workspace, name: str, emails: list[str]) -> Any:
    return ws.client.post("/people", json={"name": name, "emails": emails}, headers=ws.admin.headers)


def people_by_address(ws: Workspace) -> dict[str, dict[str, Any]]:
    return {address: p for p in items(ws, "/people") for address in p["emails"]}


def companies_by_domain(ws: Workspace) -> dict[str, dict[str, Any]]:
    return {c["domain"]: c for c in items(ws, "/companies")}


class Sender:
    """Bob's mailbox; each post gets its own Message-ID unless told otherwise."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.mailbox = ws.connect_upload(ws.admin, "bob@acme.com")
        self.count = 0

    def post(self, sender: str, to: str | list[str], **kwargs: Any) -> dict[str, Any]:
        self.count += 1
        kwargs.setdefault("message_id", f"<m{self.count}@mail.test>")
        kwargs.setdefault("date", f"Mon, 02 Jun 2025 10:{self.count:02d}:00 +0000")
        response = self.ws.post_message(self.ws.admin, self.mailbox, message(sender, to, **kwargs))
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def bob(acme: Workspace) -> Sender:
    return Sender(acme)


# records made by sync (selective, the default) ---------------------------------------------


def test_a_sent_message_makes_a_person_of_each_external_recipient(acme: Workspace, bob: Sender) -> None:
    bob.post("bob@acme.com", ["Alice Ng <alice@northwind.com>", "sue@gmail.com"], cc=["Tom <tom@acme.com>"])

    people = people_by_address(acme)

    assert set(people) == {"alice@northwind.com", "sue@gmail.com"}
    assert people["alice@northwind.com"]["name"] == "Alice Ng"


def test_a_recipients_business_domain_becomes_a_company_but_free_mail_does_not(
    acme: Workspace, bob: Sender
) -> None:
    bob.post("bob@acme.com", ["alice@northwind.com", "sue@gmail.com"])

    companies = companies_by_domain(acme)
    people = people_by_address(acme)

    assert list(companies) == ["northwind.com"]
    assert companies["northwind.com"]["name"] == "Northwind"
    assert people["alice@northwind.com"]["company_ids"] == [companies["northwind.com"]["id"]]
    assert people["sue@gmail.com"]["company_ids"] == []


@pytest.mark.parametrize(
    ("address", "name"),
    [
        ("ann@globex-corp.co.uk", "Globex Corp"),
        ("ann@mail.initech.com", "Initech"),
        ("ann@eu.sales.umbrella.com.au", "Umbrella"),
    ],
)
def test_a_company_is_named_from_the_registrable_domain(
    acme: Workspace, bob: Sender, address: str, name: str
) -> None:
    bob.post("bob@acme.com", address)

    companies = items(acme, "/companies")

    assert [c["name"] for c in companies] == [name]


def test_two_people_on_one_domain_share_one_company(acme: Workspace, bob: Sender) -> None:
    bob.post("bob@acme.com", "alice@northwind.com")
    bob.post("bob@acme.com", "ben@northwind.com")

    companies = items(acme, "/companies")
    people = people_by_address(acme)

    assert len(companies) == 1
    assert (
        people["alice@northwind.com"]["company_ids"]
        == people["ben@northwind.com"]["company_ids"]
        == [companies[0]["id"]]
    )


def test_a_received_message_makes_no_person(acme: Workspace, bob: Sender) -> None:
    stored = bob.post("carl@initech.com", "bob@acme.com", cc=["dora@initech.com"])

    assert stored["status"] == "stored"
    assert items(acme, "/people") == []
    assert items(acme, "/companies") == []


def test_writing_back_makes_the_person(acme: Workspace, bob: Sender) -> None:
    bob.post("carl@initech.com", "bob@acme.com")
    bob.post("bob@acme.com", "carl@initech.com", subject="Re: Hello")

    people = people_by_address(acme)

    assert set(people) == {"carl@initech.com"}
    emails = items(acme, f"/people/{people['carl@initech.com']['id']}/emails")
    assert len(emails) == 2


def test_sending_to_the_same_person_twice_makes_one_person(acme: Workspace, bob: Sender) -> None:
    bob.post("bob@acme.com", "alice@northwind.com")
    bob.post("bob@acme.com", "Alice@NorthWind.com")

    assert [p["emails"] for p in items(acme, "/people")] == [["alice@northwind.com"]]


@pytest.mark.parametrize(
    "address",
    ["noreply@vendor.com", "no-reply@vendor.com", "support@vendor.com", "notifications@vendor.com"],
)
def test_a_role_address_makes_no_person(acme: Workspace, bob: Sender, address: str) -> None:
    stored = bob.post("bob@acme.com", address)

    assert stored["status"] == "stored"
    assert items(acme, "/people") == []
    assert items(acme, "/companies") == []


def test_a_role_address_beside_a_real_person_only_makes_the_person(acme: Workspace, bob: Sender) -> None:
    bob.post("bob@acme.com", ["support@vendor.com", "jane@vendor.com"])

    assert set(people_by_address(acme)) == {"jane@vendor.com"}


@pytest.mark.parametrize(
    "headers",
    [
        {"List-Unsubscribe": "<mailto:unsubscribe@news.example.com>"},
        {"List-Id": "Customers <customers.lists.example.com>"},
        {"Precedence": "bulk"},
        {"Auto-Submitted": "auto-generated"},
    ],
    ids=["list-unsubscribe", "list-id", "precedence-bulk", "auto-submitted"],
)
def test_bulk_mail_makes_no_person(acme: Workspace, bob: Sender, headers: dict[str, str]) -> None:
    stored = bob.post("bob@acme.com", "dana@example.org", headers=headers)

    assert stored["status"] == "stored"
    assert items(acme, "/people") == []


def test_bulk_mail_still_shows_on_an_existing_person(acme: Workspace, bob: Sender) -> None:
    bob.post("bob@acme.com", "dana@example.org")
    unsubscribe = {"List-Unsubscribe": "<mailto:u@example.org>"}
    bulk = bob.post("bob@acme.com", "dana@example.org", headers=unsubscribe)

    dana = people_by_address(acme)["dana@example.org"]

    assert bulk["email_id"] in [e["id"] for e in items(acme, f"/people/{dana['id']}/emails")]


def test_record_creation_all_makes_people_of_senders_too(acme: Workspace, bob: Sender) -> None:
    acme.client.patch("/settings", json={"record_creation": "all"}, headers=acme.admin.headers)

    bob.post("carl@initech.com", "bob@acme.com", cc=["noreply@initech.com"])

    assert set(people_by_address(acme)) == {"carl@initech.com"}


def test_changing_record_creation_is_not_retroactive(acme: Workspace, bob: Sender) -> None:
    bob.post("bob@acme.com", "alice@northwind.com")
    acme.client.patch("/settings", json={"record_creation": "none"}, headers=acme.admin.headers)

    bob.post("bob@acme.com", "ben@northwind.com")

    assert set(people_by_address(acme)) == {"alice@northwind.com"}


# records made by hand ---------------------------------------------------------------------------


def test_a_member_creates_a_person_by_hand(acme: Workspace) -> None:
    response = new_person(acme, "Pat Lee", ["Pat@NewCo.io", "pat.lee@gmail.com"])

    assert response.status_code == 201, response.text
    pat = response.json()
    assert pat["name"] == "Pat Lee"
    assert sorted(pat["emails"]) == ["pat.lee@gmail.com", "pat@newco.io"]
    assert acme.client.get(f"/people/{pat['id']}", headers=acme.admin.headers).json() == pat
    assert [c["domain"] for c in items(acme, "/companies")] == ["newco.io"]


def test_a_person_cannot_be_created_with_an_address_that_already_belongs_to_someone(
    acme: Workspace, bob: Sender
) -> None:
    bob.post("bob@acme.com", "sue@gmail.com")

    taken = new_person(acme, "Sue 2", ["sue@gmail.com"])
    case_variant = new_person(acme, "Sue 3", ["new@sue.io", "SUE@GMAIL.COM"])

    assert_problem(taken, 409)
    assert_problem(case_variant, 409)
    assert set(people_by_address(acme)) == {"sue@gmail.com"}


def test_a_person_made_by_hand_blocks_a_second_by_hand(acme: Workspace) -> None:
    first = new_person(acme, "Pat", ["pat@newco.io"])
    second = new_person(acme, "Pat", ["pat@newco.io"])

    assert first.status_code == 201
    assert_problem(second, 409)
    assert len(items(acme, "/people")) == 1


@pytest.mark.parametrize(
    "address",
    ["sue@acme.com", "BOB@acme.com", "karen@gmail.com"],
    ids=["internal-domain", "member", "members-free-mail"],
)
def test_an_internal_address_cannot_become_a_person(acme: Workspace, address: str) -> None:
    acme.add_member("Karen", "karen@gmail.com")

    response = new_person(acme, "Someone", [address])

    assert_problem(response, 422)
    assert items(acme, "/people") == []


def test_an_excluded_address_cannot_become_a_person(acme: Workspace) -> None:
    acme.client.patch("/settings", json={"exclusions": ["hr-vendor.com"]}, headers=acme.admin.headers)

    response = acme.client.post(
        "/people", json={"name": "Case", "emails": ["case@hr-vendor.com"]}, headers=acme.admin.headers
    )

    assert_problem(response, 422)
    assert items(acme, "/people") == []


@pytest.mark.parametrize("emails", [["not-an-address"], ["a@b"]], ids=["no-at", "no-dot"])
def test_a_person_with_an_invalid_address_is_refused(acme: Workspace, emails: list[str]) -> None:
    response = acme.client.post("/people", json={"name": "X", "emails": emails}, headers=acme.admin.headers)

    assert_problem(response, 422)
    assert items(acme, "/people") == []


def test_an_added_address_brings_its_earlier_emails_to_the_person_at_once(
    acme: Workspace, bob: Sender
) -> None:
    earlier = bob.post("pat.private@gmail.com", "bob@acme.com", subject="From my private account")
    pat = new_person(acme, "Pat", ["pat@newco.io"]).json()
    assert items(acme, f"/people/{pat['id']}/emails") == []

    response = acme.client.post(
        f"/people/{pat['id']}/addresses",
        json={"address": "Pat.Private@gmail.com"},
        headers=acme.admin.headers,
    )

    assert response.status_code == 200, response.text
    assert sorted(response.json()["emails"]) == ["pat.private@gmail.com", "pat@newco.io"]
    emails = items(acme, f"/people/{pat['id']}/emails")
    assert [e["id"] for e in emails] == [earlier["email_id"]]
    assert emails[0]["subject"] == "From my private account"
    assert acme.client.get(f"/people/{pat['id']}", headers=acme.admin.headers).json()["last_interaction"]


def test_an_address_of_another_person_cannot_be_added(acme: Workspace, bob: Sender) -> None:
    bob.post("bob@acme.com", "sue@gmail.com")
    pat = new_person(acme, "Pat", ["pat@newco.io"]).json()

    response = acme.client.post(
        f"/people/{pat['id']}/addresses", json={"address": "sue@gmail.com"}, headers=acme.admin.headers
    )

    assert_problem(response, 409)
    shown = acme.client.get(f"/people/{pat['id']}", headers=acme.admin.headers).json()
    assert shown["emails"] == ["pat@newco.io"]


def test_an_internal_address_cannot_be_added_to_a_person(acme: Workspace) -> None:
    pat = new_person(acme, "Pat", ["pat@newco.io"]).json()

    response = acme.client.post(
        f"/people/{pat['id']}/addresses", json={"address": "pat@acme.com"}, headers=acme.admin.headers
    )

    assert_problem(response, 422)


def test_adding_an_address_to_an_unknown_person_is_not_found(acme: Workspace) -> None:
    response = acme.client.post(
        "/people/00000000-0000-0000-0000-000000000000/addresses",
        json={"address": "x@newco.io"},
        headers=acme.admin.headers,
    )

    assert_problem(response, 404)


def test_unknown_people_and_companies_are_not_found(acme: Workspace) -> None:
    for path in [
        "/people/00000000-0000-0000-0000-000000000000",
        "/people/not-an-id",
        "/people/not-an-id/emails",
        "/companies/00000000-0000-0000-0000-000000000000",
        "/companies/not-an-id/emails",
    ]:
        assert_problem(acme.client.get(path, headers=acme.admin.headers), 404)


# a record's emails -------------------------------------------------------------------------------


def test_a_persons_emails_are_the_emails_with_their_address(acme: Workspace, bob: Sender) -> None:
    to_alice = bob.post("bob@acme.com", "alice@northwind.com", subject="One")
    from_alice = bob.post("alice@northwind.com", "bob@acme.com", subject="Two")
    bob.post("bob@acme.com", "ben@northwind.com", subject="Not Alice")

    alice = people_by_address(acme)["alice@northwind.com"]
    emails = items(acme, f"/people/{alice['id']}/emails")

    assert [e["id"] for e in emails] == [from_alice["email_id"], to_alice["email_id"]]
    assert alice["last_interaction"] == emails[0]["sent_at"]


def test_a_companys_emails_are_those_of_people_on_its_domain(acme: Workspace, bob: Sender) -> None:
    a = bob.post("bob@acme.com", "alice@northwind.com")
    b = bob.post("ben@northwind.com", "bob@acme.com")
    bob.post("bob@acme.com", "sue@gmail.com")
    bob.post("bob@acme.com", "zed@northwind.com.evil.io")

    northwind = companies_by_domain(acme)["northwind.com"]
    emails = items(acme, f"/companies/{northwind['id']}/emails")

    assert sorted(e["id"] for e in emails) == sorted([a["email_id"], b["email_id"]])
    assert northwind["last_interaction"] == emails[0]["sent_at"]


def test_a_company_made_by_hand_lists_earlier_emails_with_its_domain(acme: Workspace, bob: Sender) -> None:
    received = bob.post("carl@initech.com", "bob@acme.com")

    response = acme.client.post("/companies", json={"domain": "Initech.com"}, headers=acme.admin.headers)

    assert response.status_code == 201, response.text
    company = response.json()
    assert company["domain"] == "initech.com"
    assert company["name"] == "Initech"
    emails = items(acme, f"/companies/{company['id']}/emails")
    assert [e["id"] for e in emails] == [received["email_id"]]


def test_a_company_for_a_known_domain_cannot_be_created_twice(acme: Workspace, bob: Sender) -> None:
    bob.post("bob@acme.com", "alice@northwind.com")

    response = acme.client.post("/companies", json={"domain": "northwind.com"}, headers=acme.admin.headers)

    assert_problem(response, 409)
    assert len(items(acme, "/companies")) == 1


# lists and paging ----------------------------------------------------------------------------------


def test_lists_answer_items_and_next(acme: Workspace, bob: Sender) -> None:
    bob.post("bob@acme.com", "alice@northwind.com")

    for path in ["/people", "/companies", "/emails", "/mailboxes", "/members"]:
        body = acme.client.get(path, headers=acme.admin.headers).json()
        assert set(body) == {"items", "next"}, path
        assert isinstance(body["items"], list) and body["items"], path
        assert body["next"] is None, path


def walk(ws: Workspace, path: str) -> list[str]:
    """Every id of a list, one page of one item at a time."""
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(50):
        params: dict[str, Any] = {"limit": 1}
        if cursor is not None:
            params["cursor"] = cursor
        response = ws.client.get(path, params=params, headers=ws.admin.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 1
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            return seen
    raise AssertionError(f"{path} never ended")


def post_paging_data(bob: Sender) -> None:
    """4 emails; 5 people; companies one.com (2 emails), two.com, three.com."""
    for local, domain in [("a", "one.com"), ("b", "two.com"), ("c", "three.com")]:
        bob.post("bob@acme.com", f"{local}@{domain}")
    assert bob.post("bob@acme.com", ["x@one.com", "y@one.com"])["status"] == "stored"


def assert_walks_everything_once(ws: Workspace, path: str, count: int) -> None:
    walked = walk(ws, path)
    assert len(walked) == count, path
    assert sorted(walked) == sorted(item["id"] for item in items(ws, path)), path
    assert len(set(walked)) == count, path


def test_paging_one_at_a_time_walks_all_people_and_companies_exactly_once(
    acme: Workspace, bob: Sender
) -> None:
    post_paging_data(bob)

    assert_walks_everything_once(acme, "/people", 5)
    assert_walks_everything_once(acme, "/companies", 3)


def test_paging_one_at_a_time_walks_all_emails_exactly_once(acme: Workspace, bob: Sender) -> None:
    post_paging_data(bob)
    one = companies_by_domain(acme)["one.com"]

    assert_walks_everything_once(acme, "/emails", 4)
    assert_walks_everything_once(acme, f"/companies/{one['id']}/emails", 2)


def test_a_page_has_at_most_limit_items_and_points_to_the_rest(acme: Workspace, bob: Sender) -> None:
    for n in range(3):
        bob.post("bob@acme.com", f"p{n}@gmail.com")

    first = acme.client.get("/people", params={"limit": 2}, headers=acme.admin.headers).json()
    rest = acme.client.get(
        "/people", params={"limit": 2, "cursor": first["next"]}, headers=acme.admin.headers
    ).json()

    assert len(first["items"]) == 2 and first["next"]
    assert len(rest["items"]) == 1 and rest["next"] is None


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 10_000}, {"limit": "many"}, {"cursor": "not-a-cursor"}]
)
def test_invalid_paging_is_refused(acme: Workspace, params: dict[str, Any]) -> None:
    response = acme.client.get("/people", params=params, headers=acme.admin.headers)

    assert_problem(response, 422)


def test_a_records_emails_are_newest_first_whatever_the_senders_time_zone(
    acme: Workspace, bob: Sender
) -> None:
    early = bob.post("bob@acme.com", "alice@northwind.com", date="Mon, 02 Jun 2025 12:00:00 +0000")
    later = bob.post("alice@northwind.com", "bob@acme.com", date="Mon, 02 Jun 2025 09:00:00 -0500")
    earliest = bob.post("bob@acme.com", "alice@northwind.com", date="Mon, 02 Jun 2025 13:00:00 +0200")

    alice = people_by_address(acme)["alice@northwind.com"]

    expected = [later["email_id"], early["email_id"], earliest["email_id"]]
    assert [e["id"] for e in items(acme, f"/people/{alice['id']}/emails")] == expected
    assert [e["id"] for e in items(acme, "/emails")] == expected
