"""Threads: a person's, a company's and a lead's conversations newest activity first, each
email with its thread_id, and a thread's subject only for a caller at subject level."""

from __future__ import annotations

from typing import Any

from tests.support.dsl import Workspace, assert_problem
from tests.support.messages import message


def _post(acme: Workspace, mailbox: str, raw: bytes) -> None:
    response = acme.post_message(acme.admin, mailbox, raw)
    assert response.status_code == 201, response.text


def _threads(acme: Workspace, headers: dict[str, str], **query: str) -> list[dict[str, Any]]:
    response = acme.client.get("/threads", params=query, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_persons_threads_newest_activity_first_with_the_subject_only_at_subject_level(
    acme: Workspace,
) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    # Thread A: Bob writes to Carol on June 2nd; Carol answers on June 9th.
    _post(acme, box, message("bob@acme.com", "carol@customer.com", "Proposal", message_id="<a1@acme.com>",
                             date="Mon, 02 Jun 2025 10:00:00 +0000"))  # fmt: skip
    _post(acme, box, message("carol@customer.com", "bob@acme.com", "Re: Proposal", message_id="<a2@customer.com>",
                             date="Mon, 09 Jun 2025 10:00:00 +0000",
                             headers={"In-Reply-To": "<a1@acme.com>", "References": "<a1@acme.com>"}))  # fmt: skip
    # Thread B: Bob writes to Carol on June 5th: older activity than A's reply.
    _post(acme, box, message("bob@acme.com", "carol@customer.com", "Invoice", message_id="<b1@acme.com>",
                             date="Thu, 05 Jun 2025 10:00:00 +0000"))  # fmt: skip
    # Someone else entirely: not Carol's thread.
    _post(acme, box, message("bob@acme.com", "dan@other.com", "Unrelated", message_id="<c1@acme.com>",
                             date="Fri, 06 Jun 2025 10:00:00 +0000"))  # fmt: skip
    carol = next(p for p in acme.client.get("/people", headers=acme.admin.headers).json()["items"]
                 if p["emails"] == ["carol@customer.com"])  # fmt: skip

    mine = _threads(acme, acme.admin.headers, person=carol["id"])
    assert [t["subject"] for t in mine] == ["Proposal", "Invoice"]  # newest activity first
    assert [t["email_count"] for t in mine] == [2, 1]
    assert mine[0]["last_activity_at"] > mine[1]["last_activity_at"]

    theirs = _threads(acme, alice.headers, person=carol["id"])  # Bob's mailbox shares metadata
    assert [t["id"] for t in theirs] == [t["id"] for t in mine]
    assert all("subject" not in t for t in theirs)
    detail = acme.client.get(f"/threads/{theirs[0]['id']}", headers=alice.headers).json()
    assert "subject" not in detail and all("subject" not in e for e in detail["emails"])
    assert [e["thread_id"] for e in detail["emails"]] == [theirs[0]["id"]] * 2
    assert "Proposal" not in acme.client.get(f"/threads/{theirs[0]['id']}", headers=alice.headers).text

    acme.client.patch(f"/mailboxes/{box}", json={"sharing": "subject"}, headers=acme.admin.headers)
    assert [t.get("subject") for t in _threads(acme, alice.headers, person=carol["id"])] == [
        "Proposal",
        "Invoice",
    ]

    company = next(c for c in acme.client.get("/companies", headers=acme.admin.headers).json()["items"]
                   if c["domain"] == "customer.com")  # fmt: skip
    assert [t["id"] for t in _threads(acme, alice.headers, company=company["id"])] == [t["id"] for t in mine]
    lead = acme.client.post("/leads", json={"name": "Customer", "contacts": [carol["id"]]},
                            headers=acme.admin.headers).json()  # fmt: skip
    assert [t["id"] for t in _threads(acme, alice.headers, lead=lead["id"])] == [t["id"] for t in mine]
    everything = _threads(acme, acme.admin.headers)
    assert len(everything) == 3

    email = acme.client.get("/emails", headers=acme.admin.headers).json()["items"][0]
    assert email["thread_id"] in {t["id"] for t in everything}
    first = acme.client.get(
        "/threads", params={"person": carol["id"], "limit": 1}, headers=acme.admin.headers
    )
    second = acme.client.get("/threads", params={"person": carol["id"], "limit": 1, "cursor": first.json()["next"]},
                             headers=acme.admin.headers)  # fmt: skip
    assert [t["subject"] for t in first.json()["items"] + second.json()["items"]] == ["Proposal", "Invoice"]

    # A blocklist hides Carol's mail from Bob's mailbox: her threads go with it, for everyone.
    acme.client.post(
        f"/mailboxes/{box}/blocklist", json={"entry": "customer.com"}, headers=acme.admin.headers
    )
    assert _threads(acme, alice.headers, person=carol["id"]) == []
    assert_problem(acme.client.get(f"/threads/{mine[0]['id']}", headers=alice.headers), 404)
    assert_problem(acme.client.get("/threads", params={"person": "nobody"}, headers=alice.headers), 404)
    assert_problem(acme.client.get("/threads", params={"person": carol["id"], "lead": lead["id"]},
                                   headers=alice.headers), 422)  # fmt: skip
