"""Kept summaries: sorted lists page by keyset with nothing repeated or skipped, a Bcc
counts only for its owner, an as_of in the past is still answered, and a replay keeps them."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from api.main import create_app
from api.replay import replay_digests
from api.runtime import Runtime
from projections.tables import record_members, record_summaries, strength_clock, strength_days
from tests.conftest import TEST_MASTER_KEY, Workspace, message


def post(
    ws: Workspace, mailbox: str, n: int, sender: str, to: str | list[str], day: int, **kwargs: Any
) -> str:
    raw = message(
        sender,
        to,
        f"Mail {n}",
        message_id=f"<kept{n}@example.com>",
        date=f"{day:02d} Jun 2025 10:00:00 +0000",
        **kwargs,
    )
    response = ws.post_message(ws.admin, mailbox, raw)
    assert response.status_code == 201, response.text
    return str(response.json()["email_id"])


@pytest.fixture
def mailbox(acme: Workspace) -> str:
    return acme.connect_upload(acme.admin, "bob@acme.com")


def walk(
    ws: Workspace, path: str, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = ws.client.get(
            path,
            params={**params, "limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=headers or ws.admin.headers,
        ).json()
        found += page["items"]
        cursor = page["next"]
        if cursor is None:
            return found


@pytest.mark.parametrize("sort", ["last_interaction", "strength"])
def test_sorted_pages_hold_every_person_once_in_order(acme: Workspace, mailbox: str, sort: str) -> None:
    n = 0
    for person in range(8):
        for reply in range(person % 4):  # ties: several people with the same history
            post(acme, mailbox, n, "bob@acme.com", f"p{person}@client.com", day=1 + reply)
            post(acme, mailbox, n + 1, f"p{person}@client.com", "bob@acme.com", day=2 + reply)
            n += 2
        post(acme, mailbox, n, "bob@acme.com", f"p{person}@client.com", day=1 + person % 3)
        n += 1
    people = walk(acme, "/people", sort=sort)
    everyone = walk(acme, "/people")
    assert len(people) == len({p["id"] for p in people}) == len(everyone) == 8
    if sort == "last_interaction":
        keys = [
            (-datetime.fromisoformat(p["last_interaction"]).timestamp(), p["created_at"], p["id"])
            for p in people
        ]
    else:
        scores = {
            p["id"]: acme.client.get(f"/people/{p['id']}/intelligence", headers=acme.admin.headers).json()[
                "score"
            ]
            for p in people
        }
        keys = [(-scores[p["id"]], p["created_at"], p["id"]) for p in people]
    assert keys == sorted(keys)
    companies = walk(acme, "/companies", sort=sort)
    assert len(companies) == len({c["id"] for c in companies}) == len(walk(acme, "/companies"))


def test_a_sorted_list_repeats_and_skips_nothing_while_mail_arrives(acme: Workspace, mailbox: str) -> None:
    for n in range(6):
        post(acme, mailbox, n, "bob@acme.com", f"c{n}@client.com", day=1 + n)
    before = {p["id"] for p in walk(acme, "/people")}
    seen: list[str] = []
    cursor = None
    n = 100
    while True:
        page = acme.client.get(
            "/people",
            params={"sort": "last_interaction", "limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=acme.admin.headers,
        ).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
        post(acme, mailbox, n, "bob@acme.com", f"new{n}@client.com", day=28)  # newer than the page: before it
        n += 1
    assert len(seen) == len(set(seen))
    assert before <= set(seen)


def test_a_bcc_counts_for_its_owner_only(acme: Workspace, mailbox: str) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    acme.connect_upload(alice, "alice@acme.com")
    post(acme, mailbox, 1, "bob@acme.com", "sue@client.com", day=1)
    post(acme, mailbox, 2, "bob@acme.com", "sue@client.com", day=3, headers={"Bcc": "zed@other.com"})
    post(acme, mailbox, 3, "bob@acme.com", "zed@other.com", day=2)
    person = {p["emails"][0]: p for p in walk(acme, "/people")}
    assert person["zed@other.com"]["email_count"] == 2
    assert person["zed@other.com"]["last_interaction"] == "2025-06-03T10:00:00+00:00"
    theirs = {p["emails"][0]: p for p in walk(acme, "/people", headers=alice.headers)}
    assert theirs["zed@other.com"]["email_count"] == 1
    assert theirs["zed@other.com"]["last_interaction"] == "2025-06-02T10:00:00+00:00"
    by_last = [p["emails"][0] for p in walk(acme, "/people", headers=alice.headers, sort="last_interaction")]
    assert by_last == ["sue@client.com", "zed@other.com"]
    mine = [p["emails"][0] for p in walk(acme, "/people", sort="last_interaction")]
    assert mine[0] in ("sue@client.com", "zed@other.com") and len(mine) == 2
    zed = person["zed@other.com"]["id"]
    own = acme.client.get(f"/people/{zed}/intelligence", headers=acme.admin.headers).json()
    other = acme.client.get(f"/people/{zed}/intelligence", headers=alice.headers).json()
    assert [m["sent"] for m in own["members"]] == [2]
    assert [m["sent"] for m in other["members"]] == [1]


def test_an_as_of_in_the_past_is_answered_from_the_mail_then(acme: Workspace, mailbox: str) -> None:
    for n in range(6):
        post(acme, mailbox, 2 * n, "bob@acme.com", "sue@client.com", day=1 + 4 * n)
        post(acme, mailbox, 2 * n + 1, "sue@client.com", "bob@acme.com", day=2 + 4 * n)
    (sue,) = walk(acme, "/people")
    path = f"/people/{sue['id']}/intelligence"
    now = acme.client.get(path, headers=acme.admin.headers).json()
    then = acme.client.get(path, params={"as_of": "2025-06-06T12:00:00"}, headers=acme.admin.headers).json()
    assert now["as_of_source"] == "newest_email" and then["as_of_source"] == "request"
    assert [(m["sent"], m["received"]) for m in now["members"]] == [(6, 6)]
    assert [(m["sent"], m["received"]) for m in then["members"]] == [(2, 2)]
    assert then["score"] < now["score"]
    assert then["next_interaction"]["at"] == "2025-06-09T10:00:00+00:00"
    newest = acme.client.get(path, params={"as_of": now["as_of"]}, headers=acme.admin.headers).json()
    assert {**newest, "as_of_source": "newest_email"} == now  # kept figures = computed from the mail
    company = walk(acme, "/companies")[0]
    cpath = f"/companies/{company['id']}/intelligence"
    assert acme.client.get(cpath, params={"as_of": now["as_of"]}, headers=acme.admin.headers).json() == {
        **acme.client.get(cpath, headers=acme.admin.headers).json(),
        "as_of_source": "request",
    }


def test_summaries_follow_hiding_and_replay_to_the_same_rows(acme: Workspace, mailbox: str) -> None:
    post(acme, mailbox, 1, "bob@acme.com", "sue@client.com", day=1)
    post(acme, mailbox, 2, "bob@acme.com", ["sue@client.com", "ann@vendor.com"], day=5)
    response = acme.client.post(
        f"/mailboxes/{mailbox}/blocklist", json={"entry": "vendor.com"}, headers=acme.admin.headers
    )
    assert response.status_code == 200, response.text
    person = {p["emails"][0]: p for p in walk(acme, "/people")}
    assert person["sue@client.com"]["email_count"] == 1
    assert person["sue@client.com"]["last_interaction"] == "2025-06-01T10:00:00+00:00"
    assert person["ann@vendor.com"]["email_count"] == 0
    assert person["ann@vendor.com"]["interactions"] == {"first": None, "last": None}
    assert replay_digests(acme.runtime)["equal"]


def answers(client: TestClient, ws: Workspace) -> dict[str, Any]:
    """What a member sees of every record: the lists in each sort and each record's intelligence."""
    found: dict[str, Any] = {}
    for kind in ("people", "companies", "leads"):
        for sort in ("", "last_interaction", "strength") if kind != "leads" else ("",):
            page = client.get(
                f"/{kind}",
                params={"limit": 200, **({"sort": sort} if sort else {})},
                headers=ws.admin.headers,
            )
            assert page.status_code == 200, page.text
            found[f"{kind} {sort}"] = page.json()["items"]
    for kind in ("people", "companies"):
        for record in found[f"{kind} "]:
            found[record["id"]] = client.get(
                f"/{kind}/{record['id']}/intelligence", headers=ws.admin.headers
            ).json()
    return found


def test_a_store_upgraded_without_summaries_computes_them_once_on_opening(
    acme: Workspace, mailbox: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    post(acme, mailbox, 1, "bob@acme.com", "sue@client.com", day=1)
    post(acme, mailbox, 2, "sue@client.com", "bob@acme.com", day=3)
    post(
        acme,
        mailbox,
        3,
        "bob@acme.com",
        ["sue@client.com", "ann@client.com"],
        day=5,
        headers={"Bcc": "zed@other.com"},
    )
    sue = next(p["id"] for p in walk(acme, "/people") if p["emails"] == ["sue@client.com"])
    response = acme.client.post(
        "/leads", json={"name": "Client", "contacts": [sue]}, headers=acme.admin.headers
    )
    assert response.status_code == 201, response.text
    before = answers(acme.client, acme)
    assert before["people "] and all(p["email_count"] for p in before["people "])
    with acme.runtime.engine.begin() as conn:  # as a store migrated to 0010 from 0009 has them
        for table in (record_summaries, record_members, strength_days, strength_clock):
            conn.execute(table.delete())
    with caplog.at_level(logging.WARNING, logger="projections.views_runner"):
        reopened = Runtime.open(Settings(database_url=database_url, master_key=TEST_MASTER_KEY))
    try:
        assert "computing the kept summaries of 1 workspace" in caplog.text
        with TestClient(create_app(runtime=reopened)) as client:
            assert answers(client, acme) == before
        assert replay_digests(reopened)["equal"]
    finally:
        reopened.close()
