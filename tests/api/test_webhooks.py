"""Webhooks: signed deliveries driven by the log, in order and complete across an outage, each
payload what the subscriber's member may see (a metadata-level member never gets a subject)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapters.secret_tables import webhook_deliveries
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
    response = acme.client.post(
        "/webhooks", json={"url": receiver.url, "events": events}, headers=member.headers
    )
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


def drive(runtime: Runtime, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Run the delivery loop's steps in this thread until `condition`."""

    def step() -> None:
        runtime.delivery.step()
        wait_until(runtime.delivery.idle, timeout)

    wait_until(condition, timeout, step)


def test_the_secret_is_shown_once_and_a_private_url_is_refused(
    open_runtime: Callable[..., Runtime], receivers: list[Receiver]
) -> None:
    strict = open_runtime(allow_private_hosts=False)
    client, acme = workspace(strict)
    refused = client.post("/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["email.created"]},
                          headers=acme.admin.headers)  # fmt: skip
    assert "private" in assert_problem(refused, 422)["detail"]
    assert_problem(client.post("/webhooks", json={"url": "https://example.com/x", "events": ["email.sent"]},
                               headers=acme.admin.headers), 422)  # fmt: skip
    assert_problem(client.post("/webhooks", json={"url": "ftp://example.com/x", "events": ["email.created"]},
                               headers=acme.admin.headers), 422)  # fmt: skip
    client.__exit__(None, None, None)

    runtime = open_runtime()
    client, acme = workspace(runtime)
    carol = acme.add_member("Carol", "carol@acme.com")
    receiver = Receiver().start()
    receivers.append(receiver)
    made = subscribe(acme, carol, receiver, ["mailbox.status_changed", "email.created"])
    hook = made["id"]
    later = [
        client.get(f"/webhooks/{hook}", headers=carol.headers),
        client.get("/webhooks", headers=carol.headers),
        client.patch(f"/webhooks/{hook}", json={"description": "CRM"}, headers=carol.headers),
        client.get("/webhooks", headers=acme.admin.headers),  # an admin sees every subscription
    ]
    for response in later:
        assert response.status_code == 200, response.text
        assert made["secret"] not in response.text and "whsec_" not in response.text
    assert later[2].json()["description"] == "CRM"
    assert [w["id"] for w in later[3].json()["items"]] == [hook]
    dave = acme.add_member("Dave", "dave@acme.com")
    assert_problem(client.get(f"/webhooks/{hook}", headers=dave.headers), 404)  # another member's
    assert client.get("/webhooks", headers=dave.headers).json()["items"] == []

    rotated = client.post(f"/webhooks/{hook}/rotate-secret", headers=carol.headers).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    receiver.secret = rotated["secret"]  # only the new secret verifies from now on
    box = acme.connect_upload(carol, "carol@acme.com")
    post(acme, carol, box, 1)
    drive(runtime, lambda: len(receiver.of_type("email.created")) == 1)
    assert receiver.rejected == []
    assert receiver.of_type("email.created")[0]["data"]["subject"] == f"{SUBJECT} 1"  # her own copy

    assert client.delete(f"/webhooks/{hook}", headers=carol.headers).status_code == 204
    assert_problem(client.get(f"/webhooks/{hook}", headers=carol.headers), 404)
    assert runtime.keystore.get(hook) is None  # the sealed secret goes with it
    client.__exit__(None, None, None)


def test_410_disables_at_once_and_enabling_again_resumes_where_it_stopped(
    open_runtime: Callable[..., Runtime], receivers: list[Receiver]
) -> None:
    runtime = open_runtime()
    client, acme = workspace(runtime)
    receiver = Receiver(answer=410).start()
    receivers.append(receiver)
    hook = subscribe(acme, acme.admin, receiver, ["email.created"])["id"]
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    post(acme, acme.admin, box, 1)
    drive(runtime, lambda: not client.get(f"/webhooks/{hook}", headers=acme.admin.headers).json()["enabled"])
    found = client.get(f"/webhooks/{hook}", headers=acme.admin.headers).json()
    assert "410" in found["disabled_reason"]
    post(acme, acme.admin, box, 2)  # stored while the subscription is disabled
    receiver.answer = 200
    assert client.patch(f"/webhooks/{hook}", json={"enabled": True}, headers=acme.admin.headers).json()[
        "enabled"
    ]
    drive(runtime, lambda: len(receiver.of_type("email.created")) == 2)
    assert [e["data"]["subject"] for e in receiver.of_type("email.created")] == [
        f"{SUBJECT} 1",
        f"{SUBJECT} 2",
    ]
    client.__exit__(None, None, None)


def test_failing_for_the_give_up_time_disables_with_a_reason_and_a_retry_keeps_its_webhook_id(
    open_runtime: Callable[..., Runtime], receivers: list[Receiver]
) -> None:
    runtime = open_runtime(webhook_give_up_seconds=0.5)
    client, acme = workspace(runtime)
    receiver = Receiver(answer=500).start()
    receivers.append(receiver)
    hook = subscribe(acme, acme.admin, receiver, ["email.created"])["id"]
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    post(acme, acme.admin, box, 1)
    drive(runtime, lambda: not client.get(f"/webhooks/{hook}", headers=acme.admin.headers).json()["enabled"])
    assert (
        "failed for" in client.get(f"/webhooks/{hook}", headers=acme.admin.headers).json()["disabled_reason"]
    )
    [delivery] = client.get(f"/webhooks/{hook}/deliveries", headers=acme.admin.headers).json()["items"]
    assert delivery["status"] == "pending" and delivery["attempts"] >= 2 and delivery["response_code"] == 500
    attempts = {r.webhook_id for r in receiver.received}
    assert attempts == {delivery["id"]}  # every attempt carried the same webhook-id

    receiver.answer = 200
    client.patch(f"/webhooks/{hook}", json={"enabled": True}, headers=acme.admin.headers)
    drive(runtime, lambda: receiver.answer == 200 and len(receiver.received) > len(attempts) and
          client.get(f"/webhooks/{hook}/deliveries", headers=acme.admin.headers).json()["items"][0]["status"]
          == "delivered")  # fmt: skip
    retried = client.post(f"/webhooks/{hook}/deliveries/{delivery['id']}/retry", headers=acme.admin.headers)
    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    count = len(receiver.received)
    drive(runtime, lambda: len(receiver.received) == count + 1)
    assert receiver.received[-1].webhook_id == delivery["id"]
    assert_problem(
        client.post(f"/webhooks/{hook}/deliveries/msg_nope/retry", headers=acme.admin.headers), 404
    )
    client.__exit__(None, None, None)


def test_a_restart_loses_nothing_and_blocklisting_hides_then_shows(
    open_runtime: Callable[..., Runtime], receivers: list[Receiver]
) -> None:
    first = open_runtime()
    client, acme = workspace(first)
    alice = acme.add_member("Alice", "alice@acme.com")
    receiver = Receiver().start()
    receivers.append(receiver)
    subscribe(acme, alice, receiver)
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    post(acme, acme.admin, box, 1)
    drive(first, lambda: len(receiver.of_type("email.created")) == 1)
    post(acme, acme.admin, box, 2)
    client.__exit__(None, None, None)
    first.close()  # the process stops with a delivery owed

    second = open_runtime()  # a new process on the same store
    client = TestClient(create_app(runtime=second))
    client.__enter__()
    acme = Workspace(acme.id, acme.admin, client, second)
    drive(second, lambda: len(receiver.of_type("email.created")) == 2)  # the one owed arrives
    block = client.post(
        f"/mailboxes/{box}/blocklist", json={"entry": "customer.com"}, headers=acme.admin.headers
    )
    assert block.status_code in (200, 201), block.text
    drive(second, lambda: len(receiver.of_type("email.hidden")) == 2)
    client.request(
        "DELETE", f"/mailboxes/{box}/blocklist", json={"entry": "customer.com"}, headers=acme.admin.headers
    )
    drive(second, lambda: len(receiver.of_type("email.shown")) == 2)
    assert len(receiver.of_type("email.created")) == 2
    hidden = receiver.of_type("email.hidden")
    assert sorted(h["data"]["reason"] for h in hidden) == ["blocklisted", "blocklisted"]
    types = [r.payload["type"] for r in receiver.unique()]
    assert types.index("email.hidden") < types.index("email.shown")
    assert all(SUBJECT.encode() not in r.body for r in receiver.received)

    assert client.delete(f"/mailboxes/{box}", headers=acme.admin.headers).status_code == 204
    drive(second, lambda: len(receiver.of_type("mailbox.removed")) == 1)
    assert receiver.of_type("mailbox.removed")[0]["data"]["id"] == box
    with second.engine.connect() as conn:  # no delivery keeps anything of the retracted emails
        kept = conn.execute(select(webhook_deliveries.c.status, webhook_deliveries.c.payload).where(
            webhook_deliveries.c.email_id.is_not(None))).all()  # fmt: skip
    assert kept and all(row.payload is None and row.status == "erased" for row in kept)
    client.__exit__(None, None, None)


def test_an_endpoint_that_never_answers_delays_no_other_subscription(
    open_runtime: Callable[..., Runtime], receivers: list[Receiver]
) -> None:
    import socket
    import time

    hung = socket.socket()  # accepts connections (the backlog) and never answers a byte
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    runtime = open_runtime()
    client, acme = workspace(runtime)
    quick = Receiver().start()
    receivers.append(quick)
    port = hung.getsockname()[1]
    stuck = client.post("/webhooks", json={"url": f"http://127.0.0.1:{port}/x", "events": ["email.created"]},
                        headers=acme.admin.headers)  # fmt: skip
    assert stuck.status_code == 201
    subscribe(acme, acme.admin, quick, ["email.created"])
    runtime.start_webhook_delivery(only_when_applier=False)
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    started = time.monotonic()
    for n in range(1, 4):
        post(acme, acme.admin, box, n)
    wait_until(lambda: len(quick.of_type("email.created")) == 3, timeout=5)
    assert time.monotonic() - started < 5  # well inside the stuck endpoint's 10 s timeout
    hung.close()
    client.__exit__(None, None, None)
