"""A replay of the event log from position 0 rebuilds exactly the live views (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from adapters.mime import parse_message
from adapters.settings import Settings
from api.replay import replay_digests
from api.runtime import Runtime
from application.batch_recorder import BatchRecorder, BatchResult
from projections.digest import view_digest
from projections.tables import email_copies, emails, mailboxes, people
from tests.conftest import TEST_MASTER_KEY
from tests.support.messages import message


@dataclass
class History:
    workspace_id: str
    bob_box: str
    karen_box: str
    person_id: str
    mid_position: int  # the views' position after the first messages
    mid_digest: str  # the live views' digest at that position


def _sync(runtime: Runtime, mailbox_id: str, folder: str, *raws: bytes) -> BatchResult:
    return BatchRecorder(runtime.app, mailbox_id).record(folder, [parse_message(r) for r in raws], None)


def build_history(runtime: Runtime) -> History:
    """Workspace, members, mailboxes, messages, sharing, blocklist, a manual person, settings."""
    services = runtime.services
    ws, bob, _ = services.workspaces.create_workspace("Acme", "acme.com", "Bob", "bob@acme.com")
    karen = services.workspaces.add_member(ws, "Karen", ["karen@gmail.com"], "member").id
    services.workspaces.add_member(ws, "Ada", ["ada@acme.com"], "auditor")
    services.workspaces.add_member_email(ws, bob, "robert@acme.com")
    bob_box = services.mailboxes.register(ws, bob, "upload", "bob@acme.com", ["robert@acme.com"]).id
    karen_box = services.mailboxes.register(ws, karen, "upload", "karen@gmail.com", []).id

    shared = message(
        "Carol <carol@globex.com>",
        ["bob@acme.com", "karen@gmail.com"],
        "Pricing",
        message_id="<pricing@globex.com>",
        date="Tue, 03 Jun 2025 09:00:00 +0000",
    )
    first = _sync(
        runtime,
        bob_box,
        "INBOX",
        shared,
        message("bob@acme.com", "sue@acme.com", "Internal only", message_id="<int@acme.com>"),
        message(
            "News <noreply@globex.com>",
            "bob@acme.com",
            "Newsletter",
            message_id="<n1@globex.com>",
            headers={"List-Unsubscribe": "<mailto:u@globex.com>", "Precedence": "bulk"},
        ),
    )
    assert first.synced == 2 and first.skipped == {"internal_only": 1}
    sent = _sync(
        runtime,
        bob_box,
        "Sent",
        message("Bob <bob@acme.com>", "Sue <sue@gmail.com>", "Hello Sue", message_id="<s1@acme.com>"),
        message(
            "robert@acme.com",
            "Dan <dan@initech.com>",
            "Proposal",
            message_id="<s2@acme.com>",
            cc=["erin@initech.com"],
        ),
    )
    assert sent.synced == 2
    mid_position = runtime.catch_up()
    mid_digest = view_digest(runtime.engine)

    assert _sync(runtime, karen_box, "INBOX", shared).synced == 1  # a second copy of one email
    services.mailboxes.change(ws, bob_box, bob, sharing="subject")
    services.mailboxes.change(ws, karen_box, karen, sharing="full")
    services.mailboxes.block(ws, bob_box, bob, "globex.com")
    services.mailboxes.block(ws, bob_box, bob, "sue@gmail.com")
    services.mailboxes.unblock(ws, bob_box, bob, "globex.com")
    services.mailboxes.block(ws, karen_box, karen, "carol@globex.com")
    person_id = services.records.create_person(ws, "Frank Manual", ["frank@hooli.com"]).id
    services.records.add_person_address(ws, person_id, "frank@gmail.com")
    services.records.create_company(ws, "piedpiper.com", "Pied Piper")
    services.workspaces.update_settings(
        ws,
        {
            "record_creation": "all",
            "exclusions": ["spam.example"],
            "internal_domains": ["acme.com", "acme.io"],
        },
    )
    after = _sync(
        runtime,
        bob_box,
        "INBOX",
        message("Gina <gina@umbrella.com>", "bob@acme.com", "Intro", message_id="<g1@umbrella.com>"),
        message("x@spam.example", "bob@acme.com", "Buy", message_id="<x1@spam.example>"),
    )
    assert after.synced == 1 and after.skipped == {"excluded": 1}
    return History(ws, bob_box, karen_box, person_id, mid_position, mid_digest)


def test_a_replay_from_zero_gives_the_live_views(runtime: Runtime) -> None:
    history = build_history(runtime)
    result = replay_digests(runtime)

    assert result["live_position"] == runtime.app.recorder.max_notification_id()
    assert result["position"] == result["live_position"] > history.mid_position
    assert result["replay_digest"] == result["live_digest"], result
    assert result["equal"] is True
    # the views are not trivially equal: every kind of row is there
    with runtime.engine.connect() as conn:
        count = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (mailboxes, emails, email_copies, people)
        }
        blocklist = conn.execute(
            select(mailboxes.c.blocklist).where(mailboxes.c.id == history.bob_box)
        ).scalar_one()
    assert count["mailboxes"] == 2 and count["emails"] >= 5
    assert count["email_copies"] >= 6 and count["people"] >= 4
    assert blocklist == ["sue@gmail.com"]


def test_a_replay_up_to_a_position_gives_the_views_as_they_were_then(runtime: Runtime) -> None:
    history = build_history(runtime)
    result = replay_digests(runtime, until=history.mid_position)

    assert result["position"] == history.mid_position < result["live_position"]
    assert result["replay_digest"] == history.mid_digest
    assert result["equal"] is False  # the live views have moved on since


def test_a_view_row_changed_behind_the_projections_back_makes_the_digests_differ(runtime: Runtime) -> None:
    history = build_history(runtime)
    clean = replay_digests(runtime)
    assert clean["equal"] is True

    with runtime.engine.begin() as conn:
        changed = conn.execute(update(people).where(people.c.id == history.person_id).values(name="x"))
        assert changed.rowcount == 1
    tampered = replay_digests(runtime)

    assert tampered["equal"] is False
    assert tampered["position"] == tampered["live_position"] == clean["live_position"]
    assert tampered["replay_digest"] == clean["replay_digest"]  # the log still says what it said
    assert tampered["live_digest"] != clean["live_digest"]


def test_a_runner_that_another_process_overtook_goes_on_from_where_that_one_got(
    runtime: Runtime, database_url: str
) -> None:
    # `make run` serves, its runner polling, while `mailtrail demo` catches up in its own process
    history = build_history(runtime)
    runtime.catch_up()
    _sync(
        runtime,
        history.bob_box,
        "INBOX",
        *(
            message(f"c{n}@client.com", "bob@acme.com", f"Late {n}", message_id=f"<late{n}@client.com>")
            for n in range(5)
        ),
    )
    last = runtime.app.recorder.max_notification_id()
    other = Runtime.open(Settings(database_url=database_url, master_key=TEST_MASTER_KEY))
    try:
        apply_page = other.runner._apply_page
        overtaken: list[int] = []

        def applied_elsewhere_first(notifications: Any, previous: int) -> int:
            overtaken.append(runtime.catch_up())  # the server's runner commits this page first
            return apply_page(notifications, previous)

        other.runner._apply_page = applied_elsewhere_first  # type: ignore[method-assign]
        assert other.runner.catch_up() == last
    finally:
        other.close()
    assert overtaken == [last]
    result = replay_digests(runtime)
    assert result["equal"] is True, result
