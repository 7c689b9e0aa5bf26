"""A mass mailing is stored like any message but does not flood the workspace with people.

Acme: Bob (bob@acme.com, the admin) uploads what he sent; record creation is `selective`,
so everyone Bob writes to would become a person."""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.settings import Settings
from api.runtime import Runtime
from domain.records import FanOutLimits
from tests.conftest import TEST_MASTER_KEY
from tests.support.dsl import Workspace
from tests.support.messages import message


def people_of(ws: Workspace, **params: str) -> list[dict[str, Any]]:
    response = ws.client.get("/people", params=params, headers=ws.admin.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def skipped_of(ws: Workspace, mailbox_id: str) -> dict[str, int]:
    response = ws.client.get(f"/mailboxes/{mailbox_id}", headers=ws.admin.headers)
    shown: dict[str, int] = response.json()["skipped"]
    return shown


@pytest.fixture
def bob_box(acme: Workspace) -> str:
    return acme.connect_upload(acme.admin, "bob@acme.com")


def test_a_message_to_5000_recipients_is_stored_quickly_and_creates_no_people(
    acme: Workspace, bob_box: str
) -> None:
    recipients = [f"r{n}@client{n % 97}.example" for n in range(5000)]

    started = time.monotonic()
    response = acme.post_message(acme.admin, bob_box, message("bob@acme.com", recipients, "Newsletter"))
    stored_in = time.monotonic() - started

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "stored"
    assert stored_in < 10, f"storing took {stored_in:.1f}s"
    started = time.monotonic()
    assert people_of(acme, sort="strength") == []
    assert time.monotonic() - started < 5
    assert people_of(acme) == []
    assert acme.client.get("/companies", headers=acme.admin.headers).json()["items"] == []
    assert skipped_of(acme, bob_box) == {"records_not_created:too_many_participants": 1}
    email = acme.client.get(f"/emails/{response.json()['email_id']}", headers=acme.admin.headers)
    assert email.status_code == 200


def test_a_message_at_the_participant_limit_still_creates_its_people(acme: Workspace, bob_box: str) -> None:
    acme.runtime.app.fan_out = FanOutLimits(max_participants=3)

    acme.post_message(acme.admin, bob_box, message("bob@acme.com", ["a@x.example", "b@x.example"],
                                                   message_id="<two@acme.com>"))  # fmt: skip
    three = ["c@x.example", "d@x.example", "e@x.example"]
    acme.post_message(acme.admin, bob_box, message("bob@acme.com", three, message_id="<three@acme.com>"))

    assert sorted(e for p in people_of(acme) for e in p["emails"]) == ["a@x.example", "b@x.example"]
    assert skipped_of(acme, bob_box) == {"records_not_created:too_many_participants": 1}


def test_a_batch_creates_people_up_to_its_limit_and_records_that_the_rest_were_not(
    acme: Workspace, bob_box: str
) -> None:
    acme.runtime.app.fan_out = FanOutLimits(max_records_per_batch=2)
    recipients = ["a@x.example", "b@y.example", "c@z.example", "d@w.example"]

    acme.post_message(acme.admin, bob_box, message("bob@acme.com", recipients))

    assert sorted(e for p in people_of(acme) for e in p["emails"]) == ["a@x.example", "b@y.example"]
    assert skipped_of(acme, bob_box) == {"records_not_created:batch_limit": 1}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_limits_come_from_the_environment(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILTRAIL_MAX_PARTICIPANTS", "250")
    monkeypatch.setenv("MAILTRAIL_MAX_RECORDS_PER_BATCH", "40")
    runtime = Runtime.open(Settings(database_url=database_url, master_key=TEST_MASTER_KEY))
    try:
        assert runtime.app.fan_out == FanOutLimits(max_participants=250, max_records_per_batch=40)
    finally:
        runtime.close()
    assert Settings().max_participants == 250
