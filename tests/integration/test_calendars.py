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
    users = {f"{who}{n}": f"{who}-secret-{n}" for who in ("bob", "carol") for n in range(40)}
    with RadicaleServer(users) as server:
        yield server


_accounts = iter(range(40))


@pytest.fixture
def bob(radicale: RadicaleServer) -> str:
    """A Radicale account of its own for each test (an account's calendars are all synced)."""
    return f"bob{next(_accounts)}"


def _carol(bob: str) -> str:
    return bob.replace("bob", "carol")


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


def _connect(
    ws: Workspace, member: Member, radicale: RadicaleServer, user: str, url: str | None = None
) -> Any:
    body = {
        "provider": "caldav",
        "url": url or radicale.url,
        "username": user,
        "password": radicale.users[user],
    }
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
    acme: Workspace, radicale: RadicaleServer, bob: str
) -> None:
    response = _connect(acme, acme.admin, radicale, bob)
    assert "MAILTRAIL_ALLOW_PRIVATE_HOSTS" in assert_problem(response, 422)["detail"]
    acme.runtime.settings.allow_private_hosts = True
    wrong = acme.client.post(
        "/calendars",
        json={"provider": "caldav", "url": radicale.url, "username": bob, "password": "nope"},
        headers=acme.admin.headers,
    )
    assert "login" in assert_problem(wrong, 422)["detail"]
    assert acme.client.get("/calendars", headers=acme.admin.headers).json()["items"] == []


def test_meetings_sync_from_the_server_root_and_show_on_people_and_companies(
    ws: Workspace, radicale: RadicaleServer, bob: str
) -> None:
    name = _fresh_calendar(radicale, bob)
    past, future = _at(-3), _at(5)
    radicale.put(bob, name, event("m-past", *past, summary="Pricing call",
                                      attendees=[("ann@client.com", "ACCEPTED")], extra="LOCATION:Room 4"))  # fmt: skip
    radicale.put(
        bob, name, event("m-next", *future, summary="Follow-up", attendees=[("ann@client.com", "ACCEPTED")])
    )
    response = _connect(ws, ws.admin, radicale, bob)
    assert response.status_code == 201, response.text
    calendar_id = response.json()["id"]
    _sync(ws, calendar_id)
    shown = ws.client.get(f"/calendars/{calendar_id}", headers=ws.admin.headers).json()
    assert shown["status"] == "active" and shown["meetings"] == 2 and shown["synced"] == 2, shown
    assert any(c.endswith(f"/{name}/") for c in shown["collections"])
    ann = _person(ws, "ann@client.com")
    assert ann["origin"]["rule"] == "selective:member_organized_or_accepted"  # Bob organized it
    assert ann["last_meeting"]["starts_at"].startswith(
        datetime.strptime(past[0], "%Y%m%dT%H%M%SZ").date().isoformat()
    )
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
    assert {m["title"] for m in _meetings(ws, f"/people/{ann['id']}/meetings", dave)} == {
        "Pricing call",
        "Follow-up",
    }
    # incremental: nothing new, nothing recorded
    again = _sync(ws, calendar_id)
    assert again["synced"] == 0 and again["fetched"] == 0


def _connected(ws: Workspace, member: Member, radicale: RadicaleServer, user: str) -> str:
    response = _connect(ws, member, radicale, user)
    assert response.status_code == 201, response.text
    calendar_id: str = response.json()["id"]
    _sync(ws, calendar_id)
    return calendar_id


def _titles(ws: Workspace, address: str, member: Member | None = None) -> list[str]:
    person = _person(ws, address, member)
    return [m.get("title", "") for m in _meetings(ws, f"/people/{person['id']}/meetings", member)]


@sqlite_only
def test_an_update_a_cancellation_and_a_deletion_reach_the_views_incrementally(
    ws: Workspace, radicale: RadicaleServer, bob: str
) -> None:
    name = _fresh_calendar(radicale, bob)
    first, second, third = _at(-10), _at(-9), _at(-8)
    for uid, at, title in (("u-1", first, "Kickoff"), ("u-2", second, "Demo"), ("u-3", third, "Review")):
        radicale.put(bob, name, event(uid, *at, summary=title, attendees=[("eve@partner.io", "ACCEPTED")]))
    calendar_id = _connected(ws, ws.admin, radicale, bob)
    assert sorted(_titles(ws, "eve@partner.io")) == ["Demo", "Kickoff", "Review"]
    kickoff_id = next(m["id"] for m in _meetings(ws, f"/people/{_person(ws, 'eve@partner.io')['id']}/meetings")
                      if m["title"] == "Kickoff")  # fmt: skip

    moved = _at(-7)
    radicale.put(bob, name, event("u-1", *moved, summary="Kickoff (moved)", attendees=[("eve@partner.io", "ACCEPTED")],
                                    extra="SEQUENCE:1"))  # fmt: skip
    radicale.put(bob, name, event("u-2", *second, summary="Demo", attendees=[("eve@partner.io", "ACCEPTED")],
                                    extra="STATUS:CANCELLED"))  # fmt: skip
    radicale.delete(bob, name, "u-3")
    report = _sync(ws, calendar_id)

    assert report["fetched"] == 2 and report["retracted"] == 2, report  # only the changed ones read
    assert _titles(ws, "eve@partner.io") == ["Kickoff (moved)"]
    kickoff = ws.client.get(
        f"/meetings/{kickoff_id}", headers=ws.admin.headers
    ).json()  # same id after the move
    assert kickoff["title"] == "Kickoff (moved)" and kickoff["starts_at"].startswith(
        datetime.strptime(moved[0], "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%dT%H:%M"))  # fmt: skip
    shown = ws.client.get(f"/calendars/{calendar_id}", headers=ws.admin.headers).json()
    assert shown["meetings"] == 1


@sqlite_only
def test_a_private_event_is_never_stored_and_one_made_private_later_is_retracted(
    ws: Workspace, radicale: RadicaleServer, bob: str
) -> None:
    from tests.integration.test_mailbox_removal import stored_bytes

    name = _fresh_calendar(radicale, bob)
    secret_uid, later_uid = "PRIVATE-UID-5b1e-never", "LATER-PRIVATE-UID-77c2"
    radicale.put(bob, name, event(secret_uid, *_at(-2), summary="Doctor", attendees=[("doc@clinic.org", "ACCEPTED")],
                                    extra="CLASS:PRIVATE"))  # fmt: skip
    radicale.put(bob, name, event("PUBLIC-UID-0d9a", *_at(-2, 2), summary="Sales",
                                    attendees=[("fay@buyer.com", "ACCEPTED")]))  # fmt: skip
    radicale.put(
        bob, name, event(later_uid, *_at(-1), summary="Lunch", attendees=[("gus@buyer.com", "ACCEPTED")])
    )
    calendar_id = _connected(ws, ws.admin, radicale, bob)
    assert _titles(ws, "gus@buyer.com") == ["Lunch"]

    radicale.put(bob, name, event(later_uid, *_at(-1), summary="Lunch", attendees=[("gus@buyer.com", "ACCEPTED")],
                                    extra="CLASS:CONFIDENTIAL"))  # fmt: skip
    _sync(ws, calendar_id)

    assert _titles(ws, "gus@buyer.com") == []
    people = ws.client.get("/people", headers=ws.admin.headers).json()["items"]
    assert not any("doc@clinic.org" in p["emails"] for p in people)  # no record from a private event
    shown = ws.client.get(f"/calendars/{calendar_id}", headers=ws.admin.headers).json()
    assert shown["skipped"] == {"private": 2} and shown["meetings"] == 1
    ws.runtime.finish_erasures()
    stored = stored_bytes(ws)
    assert b"PUBLIC-UID-0d9a" in stored  # what the check looks for is there for a stored event
    assert secret_uid.encode() not in stored  # not its id, not anything of it


@sqlite_only
def test_a_weekly_series_with_a_moved_and_a_deleted_occurrence(
    ws: Workspace, radicale: RadicaleServer, bob: str
) -> None:
    name = _fresh_calendar(radicale, bob)
    monday = (datetime.now(UTC) - timedelta(days=30)).replace(hour=9, minute=0, second=0, microsecond=0)
    occurrence = [monday + timedelta(weeks=n) for n in range(6)]
    moved_to = occurrence[2] + timedelta(days=1, hours=5)
    exception = "\n".join([
        "BEGIN:VEVENT", "UID:weekly-sync", "DTSTAMP:20260101T000000Z", f"RECURRENCE-ID:{_stamp(occurrence[2])}",
        f"DTSTART:{_stamp(moved_to)}", f"DTEND:{_stamp(moved_to + timedelta(hours=1))}", "SUMMARY:Weekly (moved)",
        "ORGANIZER:mailto:bob@acme.com", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:hal@vendor.net", "END:VEVENT",
    ])  # fmt: skip
    radicale.put(bob, name, event(
        "weekly-sync", _stamp(occurrence[0]), _stamp(occurrence[0] + timedelta(hours=1)), summary="Weekly",
        attendees=[("hal@vendor.net", "ACCEPTED")],
        extra=f"RRULE:FREQ=WEEKLY;COUNT=6\nEXDATE:{_stamp(occurrence[4])}", more=exception,
    ))  # fmt: skip
    calendar_id = _connected(ws, ws.admin, radicale, bob)

    hal = _person(ws, "hal@vendor.net")
    meetings = _meetings(ws, f"/people/{hal['id']}/meetings")
    starts = sorted(m["starts_at"][:16] for m in meetings)
    expected = sorted(t.isoformat()[:16] for t in [*occurrence[:2], moved_to, occurrence[3], occurrence[5]])
    assert starts == expected  # five: one moved, one deleted
    assert sum(m["title"] == "Weekly (moved)" for m in meetings) == 1
    assert hal["last_meeting"]["starts_at"][:16] == occurrence[3].isoformat()[:16]
    assert hal["next_meeting"]["starts_at"][:16] == occurrence[5].isoformat()[:16]

    # the series shrinks: the occurrences no longer in it are retracted
    radicale.put(bob, name, event(
        "weekly-sync", _stamp(occurrence[0]), _stamp(occurrence[0] + timedelta(hours=1)), summary="Weekly",
        attendees=[("hal@vendor.net", "ACCEPTED")], extra="RRULE:FREQ=WEEKLY;COUNT=2",
    ))  # fmt: skip
    _sync(ws, calendar_id)
    assert len(_meetings(ws, f"/people/{hal['id']}/meetings")) == 2


@sqlite_only
def test_the_same_meeting_in_two_members_calendars_is_one_meeting_with_two_copies(
    ws: Workspace, radicale: RadicaleServer, bob: str
) -> None:
    carol = ws.add_member("Carol", "carol@acme.com")
    bob_cal, carol_cal = _fresh_calendar(radicale, bob), _fresh_calendar(radicale, _carol(bob))
    at = _at(-4)
    attendees = [("carol@acme.com", "ACCEPTED"), ("ivy@customer.com", "ACCEPTED")]
    radicale.put(bob, bob_cal, event("shared-1", *at, summary="Quarterly", attendees=attendees))
    radicale.put(_carol(bob), carol_cal, event("shared-1", *at, summary="Quarterly", attendees=attendees))
    bob_id = _connected(ws, ws.admin, radicale, bob)
    carol_id = _connected(ws, carol, radicale, _carol(bob))

    ivy = _person(ws, "ivy@customer.com")
    meetings = _meetings(ws, f"/people/{ivy['id']}/meetings")
    assert len(meetings) == 1 and meetings[0]["copies"] == 2
    assert meetings[0]["response"] == "organizer"  # Bob's copy, as Bob reads it
    assert _meetings(ws, f"/people/{ivy['id']}/meetings", carol)[0]["response"] == "accepted"
    # removing one calendar leaves the meeting through the other copy; removing both retracts it
    assert ws.client.delete(f"/calendars/{bob_id}", headers=ws.admin.headers).status_code == 204
    assert _meetings(ws, f"/people/{ivy['id']}/meetings")[0]["copies"] == 1
    assert ws.client.delete(f"/calendars/{carol_id}", headers=carol.headers).status_code == 204
    assert _meetings(ws, f"/people/{ivy['id']}/meetings") == []
    assert _person(ws, "ivy@customer.com")["last_meeting"] is None


@sqlite_only
def test_rooms_create_no_records_and_a_declined_invitation_is_no_interaction(
    ws: Workspace, radicale: RadicaleServer, bob: str
) -> None:
    name = _fresh_calendar(radicale, bob)
    room = ("boardroom@rooms.example.com", "ACCEPTED", "CUTYPE=ROOM")
    radicale.put(bob, name, event("with-room", *_at(-6), summary="Board", organizer="bob@acme.com",
                                    attendees=[("jon@board.org", "ACCEPTED"), room]))  # fmt: skip
    radicale.put(bob, name, event("declined-1", *_at(-5), summary="Pitch", organizer="kim@seller.biz",
                                    attendees=[("bob@acme.com", "DECLINED")]))  # fmt: skip
    ws.client.patch("/settings", json={"record_creation": "all"}, headers=ws.admin.headers)
    calendar_id = _connected(ws, ws.admin, radicale, bob)

    emails = {
        e for p in ws.client.get("/people", headers=ws.admin.headers).json()["items"] for e in p["emails"]
    }
    assert "jon@board.org" in emails
    assert "boardroom@rooms.example.com" not in emails  # a room is no one
    assert "kim@seller.biz" not in emails  # a declined meeting makes no record
    board = _meetings(ws, f"/people/{_person(ws, 'jon@board.org')['id']}/meetings")[0]
    full = ws.client.get(f"/meetings/{board['id']}", headers=ws.admin.headers).json()
    assert [p["role"] for p in full["participants"] if p["address"].startswith("boardroom")] == ["resource"]
    # the declined copy is stored (the answer may change) but shows on no record
    shown = ws.client.get(f"/calendars/{calendar_id}", headers=ws.admin.headers).json()
    assert shown["meetings"] == 2
    # accepted later: now it is an interaction (and the policy makes a record of its organizer)
    radicale.put(bob, name, event("declined-1", *_at(-5), summary="Pitch", organizer="kim@seller.biz",
                                    attendees=[("bob@acme.com", "ACCEPTED")]))  # fmt: skip
    _sync(ws, calendar_id)
    assert _titles(ws, "kim@seller.biz") == ["Pitch"]


def test_removal_erases_the_meetings_and_a_replay_gives_the_same_views(
    ws: Workspace, radicale: RadicaleServer, bob: str
) -> None:
    from api.replay import replay_digests
    from tests.integration.test_mailbox_removal import stored_bytes

    carol = ws.add_member("Carol", "carol@acme.com")
    bob_cal, carol_cal = _fresh_calendar(radicale, bob), _fresh_calendar(radicale, _carol(bob))
    canary = "CANARY-MEETING-TITLE-4e1f"
    radicale.put(
        bob, bob_cal, event("r-1", *_at(-3), summary=canary, attendees=[("lou@firm.com", "ACCEPTED")])
    )
    radicale.put(_carol(bob), carol_cal, event("r-2", *_at(2), summary="Carol's", organizer="carol@acme.com",
                                           attendees=[("lou@firm.com", "ACCEPTED")]))  # fmt: skip
    bob_id = _connected(ws, ws.admin, radicale, bob)
    _connected(ws, carol, radicale, _carol(bob))
    assert canary.encode() in stored_bytes(ws)  # the views hold titles until removal

    assert ws.client.delete(f"/calendars/{bob_id}", headers=ws.admin.headers).status_code == 204

    assert canary.encode() not in stored_bytes(ws)
    lou = _person(ws, "lou@firm.com")
    assert [m["title"] for m in _meetings(ws, f"/people/{lou['id']}/meetings", carol)] == ["Carol's"]
    assert lou["last_meeting"] is None and lou["next_meeting"] is not None
    assert ws.runtime.keystore.get(bob_id) is None and not ws.runtime.sealer.exists(bob_id)
    result = replay_digests(ws.runtime)
    assert result["equal"], result


@sqlite_only
def test_a_malformed_resource_is_rejected_with_its_reason_and_the_rest_syncs(
    ws: Workspace, radicale: RadicaleServer, bob: str
) -> None:
    from adapters.ical import MalformedCalendarError, parse_calendar
    from application.calendar_recorder import CalendarRecorder
    from application.ports import CalendarResource
    from domain.calendar import Calendar

    name = _fresh_calendar(radicale, bob)
    radicale.put(
        bob, name, event("good-1", *_at(-2), summary="Fine", attendees=[("max@good.com", "ACCEPTED")])
    )
    # Radicale refuses malformed iCalendar on PUT and skips a broken file in its storage: the pass goes on
    broken = event("broken-1", "20261301T250000Z", "not-a-time", summary="Broken")  # month 13, hour 25
    (radicale.dir / "collections" / "collection-root" / bob / name / "broken-1.ics").write_text(broken)
    calendar_id = _connected(ws, ws.admin, radicale, bob)
    assert _titles(ws, "max@good.com") == ["Fine"]
    # a server that serves it: the resource is rejected with our reason, nothing else changes
    with pytest.raises(MalformedCalendarError) as malformed:
        parse_calendar(broken, (datetime.now(UTC) - timedelta(days=1), datetime.now(UTC)))
    collection = next(iter(ws.runtime.app.load(Calendar, calendar_id).cursors))
    batch = CalendarRecorder(ws.runtime.app, calendar_id).record(
        collection, [CalendarResource("k/broken", None, str(malformed.value))], [], None
    )
    ws.runtime.wait_for(batch.position)
    shown = ws.client.get(f"/calendars/{calendar_id}", headers=ws.admin.headers).json()
    assert shown["status"] == "active" and shown["rejected"] == 1 and shown["meetings"] == 1, shown
    assert _titles(ws, "max@good.com") == ["Fine"]


def test_mailtrail_sync_and_worker_cover_calendars(radicale: RadicaleServer, bob: str, tmp_path: Any) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from adapters.settings import Settings
    from api.runtime import Runtime

    url = f"sqlite:///{tmp_path / 'mailtrail.db'}"
    runtime = Runtime.open(Settings(database_url=url, allow_private_hosts=True, master_key=None))
    try:
        workspace_id, member_id, _ = runtime.services.workspaces.create_workspace(
            "Acme", "acme.com", "Bob", "bob@acme.com"
        )
        name = _fresh_calendar(radicale, bob)
        radicale.put(bob, name, event("cli-1", *_at(-1), attendees=[("ned@outside.com", "ACCEPTED")]))
        calendar_id = runtime.services.calendars.connect(
            workspace_id, member_id, "caldav", radicale.url, bob, radicale.users[bob]
        ).id
    finally:
        runtime.close()  # after the first pass that connecting started
    radicale.put(bob, name, event("cli-1b", *_at(-2), attendees=[("ned@outside.com", "ACCEPTED")]))
    env = {**os.environ, "MAILTRAIL_DATABASE_URL": url, "MAILTRAIL_ALLOW_PRIVATE_HOSTS": "1"}
    env.pop("MAILTRAIL_MASTER_KEY", None)
    mailtrail = str(Path(sys.executable).with_name("mailtrail"))
    done = subprocess.run([mailtrail, "sync"], env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads(done.stdout)["calendars"]
    assert [(r["calendar_id"], r["status"], r["synced"]) for r in report] == [(calendar_id, "active", 1)]
    radicale.put(bob, name, event("cli-2", *_at(1), attendees=[("ned@outside.com", "ACCEPTED")]))
    done = subprocess.run(
        [mailtrail, "worker", "--once"], env=env, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert [r["synced"] for r in json.loads(done.stdout)["calendars"]] == [1]  # only the new one


@sqlite_only
@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "http://127.0.0.1:notaport/", "http://[::1/", "no-scheme"]
)
def test_a_url_that_is_not_an_http_url_is_a_422(acme: Workspace, url: str) -> None:
    acme.runtime.settings.allow_private_hosts = True
    body = {"provider": "caldav", "url": url, "username": "bob", "password": "x"}
    assert_problem(acme.client.post("/calendars", json=body, headers=acme.admin.headers), 422)
