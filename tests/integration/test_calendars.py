"""Stories of members syncing CalDAV calendars (a real Radicale behind them): meetings on the
people and companies they involve, private events never stored, recurring series, removal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.dsl import Member, Workspace, assert_problem
from tests.support.radicale import RadicaleServer, event

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def radicale() -> Iterator[RadicaleServer]:
    with RadicaleServer({"bob": "bob-secret", "carol": "carol-secret"}) as server:
        yield server


@pytest.fixture
def ws(acme: Workspace, radicale: RadicaleServer) -> Iterator[Workspace]:
    """Acme on a deployment with MAILTRAIL_ALLOW_PRIVATE_HOSTS=1 (Radicale listens on loopback)."""
    acme.runtime.settings.allow_private_hosts = True
    yield acme
    acme.runtime.calendar_background.wait()


_names = iter(range(1_000_000))


def _fresh_calendar(radicale: RadicaleServer, user: str) -> str:
    name = f"cal{next(_names)}-{datetime.now(UTC).strftime('%H%M%S%f')}"
    radicale.make_calendar(user, name)
    return name


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _at(days: float, hours: float = 1) -> tuple[str, str]:
    start = datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(days=days)
    return _stamp(start), _stamp(start + timedelta(hours=hours))


def _connect(ws: Workspace, member: Member, radicale: RadicaleServer, user: str, url: str | None = None) -> Any:
    body = {"provider": "caldav", "url": url or radicale.url, "username": user, "password": radicale.users[user]}
    return ws.client.post("/calendars", json=body, headers=member.headers)


def _sync(ws: Workspace, calendar_id: str) -> dict[str, Any]:
    """A pass now (what `mailtrail sync` runs), the views caught up."""
    ws.runtime.calendar_background.wait()
    report = ws.runtime.calendar_sync().sync(calendar_id)
    ws.runtime.wait_for(report.position)
    return report.as_dict()


def _person(ws: Workspace, address: str, member: Member | None = None) -> dict[str, Any]:
    people = ws.client.get("/people?limit=200", headers=(member or ws.admin).headers).json()["items"]
    found = [p for p in people if address in p["emails"]]
    assert found, f"no person for {address}: {people}"
    return found[0]


def _meetings(ws: Workspace, path: str, member: Member | None = None) -> list[dict[str, Any]]:
    response = ws.client.get(path, headers=(member or ws.admin).headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_calendar_url_on_a_private_address_is_refused_unless_the_deployment_allows_it(
    acme: Workspace, radicale: RadicaleServer
) -> None:
    response = _connect(acme, acme.admin, radicale, "bob")
    assert "MAILTRAIL_ALLOW_PRIVATE_HOSTS" in assert_problem(response, 422)["detail"]
    acme.runtime.settings.allow_private_hosts = True
    wrong = acme.client.post(
        "/calendars",
        json={"provider": "caldav", "url": radicale.url, "username": "bob", "password": "nope"},
        headers=acme.admin.headers,
    )
    assert "login" in assert_problem(wrong, 422)["detail"]
    assert acme.client.get("/calendars", headers=acme.admin.headers).json()["items"] == []


def test_meetings_sync_from_the_server_root_and_show_on_people_and_companies(
    ws: Workspace, radicale: RadicaleServer
) -> None:
    name = _fresh_calendar(radicale, "bob")
    past, future = _at(-3), _at(5)
    radicale.put("bob", name, event("m-past", *past, summary="Pricing call",
                                      attendees=[("ann@client.com", "ACCEPTED")], extra="LOCATION:Room 4"))  # fmt: skip
    radicale.put("bob", name, event("m-next", *future, summary="Follow-up", attendees=[("ann@client.com", "ACCEPTED")]))
    response = _connect(ws, ws.admin, radicale, "bob")
    assert response.status_code == 201, response.text
    calendar_id = response.json()["id"]
    _sync(ws, calendar_id)
    shown = ws.client.get(f"/calendars/{calendar_id}", headers=ws.admin.headers).json()
    assert shown["status"] == "active" and shown["meetings"] == 2 and shown["synced"] == 2, shown
    assert any(c.endswith(f"/{name}/") for c in shown["collections"])
    ann = _person(ws, "ann@client.com")
    assert ann["origin"]["rule"] == "selective:member_organized_or_accepted"  # Bob organized it
    assert ann["last_meeting"]["starts_at"].startswith(datetime.strptime(past[0], "%Y%m%dT%H%M%SZ").date().isoformat())
    assert ann["next_meeting"] is not None and ann["next_meeting"]["id"] != ann["last_meeting"]["id"]
    assert ann["first_meeting"] == ann["last_meeting"]
    meetings = _meetings(ws, f"/people/{ann['id']}/meetings")
    assert [m["starts_at"] for m in meetings] == sorted((m["starts_at"] for m in meetings), reverse=True)
    assert {m.get("title") for m in meetings} == {"Pricing call", "Follow-up"}  # the owner sees all
    company = next(c for c in ws.client.get("/companies", headers=ws.admin.headers).json()["items"]
                   if c["domain"] == "client.com")  # fmt: skip
    assert company["next_meeting"] == ann["next_meeting"]
    assert len(_meetings(ws, f"/companies/{company['id']}/meetings")) == 2
    one = ws.client.get(f"/meetings/{meetings[1]['id']}", headers=ws.admin.headers).json()
    assert one["location"] == "Room 4" and {p["address"] for p in one["participants"]} == {
        "bob@acme.com", "ann@client.com"}  # fmt: skip
    # a second member sees times and participants only (sharing: metadata), then the title
    dave = ws.add_member("Dave", "dave@acme.com")
    other = _meetings(ws, f"/people/{ann['id']}/meetings", dave)
    assert len(other) == 2 and all("title" not in m and m["level"] == "metadata" for m in other)
    ws.client.patch(f"/calendars/{calendar_id}", json={"sharing": "full"}, headers=ws.admin.headers)
    assert {m["title"] for m in _meetings(ws, f"/people/{ann['id']}/meetings", dave)} == {"Pricing call", "Follow-up"}
    # incremental: nothing new, nothing recorded
    again = _sync(ws, calendar_id)
    assert again["synced"] == 0 and again["fetched"] == 0
