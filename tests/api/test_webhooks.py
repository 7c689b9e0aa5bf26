"""Webhooks: signed deliveries driven by the log, in order and complete across an outage, each
payload what the subscriber's member may see (a metadata-level member never gets a subject)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from api.main import create_app
from api.runtime import Runtime
from tests.conftest import TEST_MASTER_KEY
from tests.support.dsl import Member, Workspace, assert_problem, make_workspace
from tests.support.messages import message
from tests.support.webhooks import Receiver, wait_until

ALL = ["email.created", "email.hidden", "email.shown", "email.retracted", "person.created",
       "person.merged", "person.updated", "company.created", "mailbox.status_changed", "mailbox.removed"]  # fmt: skip
SUBJECT = "Quarterly-plan-7Q"  # a word that appears nowhere but in subjects


@pytest.fixture
def open_runtime(database_url: str) -> Iterator[Callable[..., Runtime]]:
    opened: list[Runtime] = []

    def make(**settings: Any) -> Runtime:
        defaults: dict[str, Any] = {"allow_private_hosts": True, "webhook_retry_base_seconds": 0.05,
                                    "webhook_poll_seconds": 0.02}  # fmt: skip
        runtime = Runtime.open(
            Settings(database_url=database_url, master_key=TEST_MASTER_KEY, **{**defaults, **settings})
        )
        opened.append(runtime)
        return runtime

    yield make
    for runtime in opened:
        runtime.close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.stop()


def subscribe(acme: Workspace, member: Member, receiver: Receiver, events: list[str] = ALL) -> dict[str, Any]:
    response = acme.client.post("/webhooks", json={"url": receiver.url, "events": events}, headers=member.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["secret"].startswith("whsec_")
    receiver.secret = body["secret"]
    return body


def workspace(runtime: Runtime) -> tuple[TestClient, Workspace]:
    client = TestClient(create_app(runtime=runtime))
    client.__enter__()
    return client, make_workspace(client, runtime)


def post(acme: Workspace, member: Member, mailbox: str, n: int) -> None:
    raw = message(f"client{n}@customer.com", "bob@acme.com", f"{SUBJECT} {n}", message_id=f"<m{n}@customer.com>",
                  date=f"Mon, 02 Jun 2025 10:{n:02d}:00 +0000")  # fmt: skip
    assert acme.post_message(member, mailbox, raw).status_code == 201


def test_every_event_arrives_in_order_across_an_outage_and_a_metadata_member_never_sees_a_subject(
    open_runtime: Callable[..., Runtime], receivers: list[Receiver]
) -> None:
    runtime = open_runtime()
    client, acme = workspace(runtime)
    alice = acme.add_member("Alice", "alice@acme.com")  # sees Bob's mail at its sharing: metadata
    bob_box = acme.connect_upload(acme.admin, "bob@acme.com")
    alices, bobs = Receiver().start(), Receiver().start()
    receivers += [alices, bobs]
    subscribe(acme, alice, alices)
    subscribe(acme, acme.admin, bobs)

    # The delivering process is not running yet: the log keeps everything for it.
    for n in range(1, 4):
        post(acme, acme.admin, bob_box, n)
    runtime.start_webhook_delivery(only_when_applier=False)
    wait_until(lambda: len(alices.of_type("email.created")) == 3)

    alices.stop()  # Alice's endpoint goes down for a while: Bob's keeps receiving
    for n in range(4, 9):
        post(acme, acme.admin, bob_box, n)
    wait_until(lambda: len(bobs.of_type("email.created")) == 8)
    deliveries = client.get(f"/webhooks/{alices_id(client, alice)}/deliveries", headers=alice.headers).json()
    failing = [d for d in deliveries["items"] if d["status"] == "pending" and d["attempts"] > 0]
    assert failing and failing[0]["response_code"] is None and failing[0]["last_error"]
    alices.start()  # back on the same port

    post(acme, acme.admin, bob_box, 9)
    reply = message("bob@acme.com", "client1@customer.com", "Re: plan", message_id="<r1@acme.com>",
                    date="Mon, 02 Jun 2025 11:00:00 +0000")  # fmt: skip
    assert acme.post_message(acme.admin, bob_box, reply).status_code == 201  # a person and a company
    wait_until(lambda: len(alices.of_type("email.created")) == 10 and alices.of_type("company.created"))

    for receiver in (alices, bobs):
        assert receiver.rejected == []
        created = receiver.of_type("email.created")
        ids = [e["data"]["id"] for e in created]
        assert len(set(ids)) == 10  # none missing, each email once
        sent = [e["data"]["sent_at"] for e in created]
        assert sent == sorted(sent)  # in the log's order
        types = [r.payload["type"] for r in receiver.unique()]
        assert types.index("person.created") > types.index("email.created")
        assert receiver.of_type("person.created")[0]["data"]["emails"] == ["client1@customer.com"]
        assert receiver.of_type("company.created")[0]["data"]["domain"] == "customer.com"
    assert all(SUBJECT.encode() not in r.body for r in alices.received)  # every byte of every payload
    assert all("subject" not in e["data"] for e in alices.of_type("email.created"))
    assert [e["data"]["level"] for e in alices.of_type("email.created")] == ["metadata"] * 10
    assert f"{SUBJECT} 9" in [e["data"]["subject"] for e in bobs.of_type("email.created")]  # the owner's view
    client.__exit__(None, None, None)


def alices_id(client: TestClient, member: Member) -> str:
    return str(client.get("/webhooks", headers=member.headers).json()["items"][0]["id"])
