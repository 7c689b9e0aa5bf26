"""Keyset paging: cursors that belong to one list and sort, and pages that hold while mail arrives."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dsl import Workspace, assert_problem
from tests.support.messages import message


def post(
    ws: Workspace, mailbox: str, n: int, sender: str, to: str | list[str], day: int, **kwargs: Any
) -> str:
    raw = message(
        sender,
        to,
        f"Mail {n}",
        message_id=f"<paging{n}@example.com>",
        date=f"{day:02d} Jun 2025 10:00:00 +0000",
        **kwargs,
    )
    response = ws.post_message(ws.admin, mailbox, raw)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "stored", response.text
    return str(response.json()["email_id"])


@pytest.fixture
def mailbox(acme: Workspace) -> str:
    return acme.connect_upload(acme.admin, "bob@acme.com")


def get(ws: Workspace, path: str, **params: Any) -> Any:
    return ws.client.get(path, params=params, headers=ws.admin.headers)


def test_pages_repeat_and_skip_nothing_while_mail_is_imported(acme: Workspace, mailbox: str) -> None:
    before = [post(acme, mailbox, n, "bob@acme.com", f"c{n}@client{n % 3}.com", day=1 + n) for n in range(9)]
    people_before = {p["id"] for p in get(acme, "/people", limit=200).json()["items"]}
    seen: list[str] = []
    people_seen: list[str] = []
    cursors: dict[str, Any] = {"/emails": None, "/people": None}
    lists: dict[str, list[str]] = {"/emails": seen, "/people": people_seen}
    n = 100
    for _ in range(40):
        for path in [p for p, c in cursors.items() if c != "done"]:
            page = get(acme, path, limit=2, **({"cursor": cursors[path]} if cursors[path] else {})).json()
            lists[path] += [item["id"] for item in page["items"]]
            cursors[path] = page["next"] or "done"
        if all(c == "done" for c in cursors.values()):
            break
        # mail keeps arriving between pages: newer and older than what was listed, and new people
        post(acme, mailbox, n, "bob@acme.com", f"new{n}@client.com", day=28)
        post(acme, mailbox, n + 1, "bob@acme.com", f"old{n}@client.com", day=1)
        n += 2
    assert len(seen) == len(set(seen)), "an email was listed twice"
    assert set(before) <= set(seen), "an email that was there all along was skipped"
    assert len(people_seen) == len(set(people_seen)), "a person was listed twice"
    assert people_before <= set(people_seen)


@pytest.mark.parametrize(
    "cursor",
    [
        "9223372036854775808",
        "²",
        "١",
        "1",
        "not-a-cursor",
        "=" * 10,
        "a" * 601,
        "eyJ4IjoxfQ",
        "AAAAAAAAAAAAAAAA",
    ],
)
def test_a_malformed_cursor_is_a_422(acme: Workspace, mailbox: str, cursor: str) -> None:
    post(acme, mailbox, 1, "bob@acme.com", "sue@client.com", day=2)
    for path in ("/people", "/companies", "/emails", "/leads", "/audit/events"):
        assert_problem(get(acme, path, cursor=cursor), 422)


def test_a_cursor_of_another_list_or_sort_or_altered_is_a_422(acme: Workspace, mailbox: str) -> None:
    for n in range(3):
        post(acme, mailbox, n, "bob@acme.com", f"p{n}@client{n}.com", day=2 + n)
    people = get(acme, "/people", limit=1).json()["next"]
    emails = get(acme, "/emails", limit=1).json()["next"]
    assert people and emails
    assert get(acme, "/people", limit=1, cursor=people).status_code == 200
    assert_problem(get(acme, "/companies", limit=1, cursor=people), 422)
    assert_problem(get(acme, "/people", limit=1, cursor=emails), 422)
    assert_problem(get(acme, "/people", limit=1, sort="strength", cursor=people), 422)
    assert_problem(
        get(
            acme,
            "/people",
            limit=1,
            sort="last_interaction",
            cursor=get(acme, "/people", limit=1, sort="strength").json()["next"],
        ),
        422,
    )
    person = get(acme, "/people").json()["items"][0]["id"]
    other = get(acme, "/people").json()["items"][1]["id"]
    post(acme, mailbox, 10, "bob@acme.com", get(acme, "/people").json()["items"][0]["emails"][0], day=9)
    own = get(acme, f"/people/{person}/emails", limit=1).json()["next"]
    assert own
    assert_problem(get(acme, f"/people/{other}/emails", limit=1, cursor=own), 422)
    altered = own[:-2] + ("A" if own[-2] != "A" else "B") + own[-1]
    assert_problem(get(acme, f"/people/{person}/emails", limit=1, cursor=altered), 422)
    assert_problem(get(acme, "/emails", limit=201), 422)


def test_openapi_says_what_a_cursor_is(acme: Workspace) -> None:
    spec = acme.client.get("/openapi.json").json()
    parameters = [p for p in spec["paths"]["/people"]["get"]["parameters"] if p["name"] == "cursor"]
    schema = parameters[0]["schema"]["anyOf"][0]
    assert schema["pattern"] == "^[A-Za-z0-9_-]+$" and schema["maxLength"] == 600
    assert "opaque" in parameters[0]["description"]


def test_a_bcc_of_a_contact_attaches_to_the_lead_only_for_the_member_who_sent_it(
    acme: Workspace, mailbox: str
) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    lawyer = acme.client.post(
        "/people", json={"name": "Lawyer", "emails": ["lawyer@counsel.com"]}, headers=acme.admin.headers
    ).json()["id"]
    lead = acme.client.post(
        "/leads", json={"name": "Counsel", "contacts": [lawyer]}, headers=acme.admin.headers
    ).json()["id"]
    hidden = post(
        acme, mailbox, 1, "bob@acme.com", "sue@initech.com", day=3, headers={"Bcc": "lawyer@counsel.com"}
    )
    shown = post(acme, mailbox, 2, "bob@acme.com", "lawyer@counsel.com", day=4)

    def lead_emails(viewer: Any) -> list[str]:
        response = acme.client.get(f"/leads/{lead}/emails", headers=viewer.headers)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["items"]]

    assert lead_emails(acme.admin) == [shown, hidden]  # Bob's own copy has the Bcc
    assert lead_emails(alice) == [shown]  # a colleague never learns whom Bob Bcc'd
    auditor = acme.add_member("Ada", "ada@acme.com", role="auditor")
    assert lead_emails(auditor) == [shown]
    person = acme.client.get(f"/people/{lawyer}/emails", headers=alice.headers).json()["items"]
    assert [e["id"] for e in person] == [shown]
