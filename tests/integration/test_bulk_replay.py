"""A replay is a bulk load: indexes built after, only the tables a statement reads flushed
before it, COPY on PostgreSQL, the log read in binary. None of it may change a view.
The PostgreSQL recorder's own insert keeps the library's all-or-nothing batches."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from sqlalchemy import Engine, func, inspect, select

from adapters.bulk.indexes import BULK_TABLES, SMALL, DeferredIndexes
from adapters.bulk.log import log_pages, positions_reader
from adapters.mime import parse_message
from api.replay import fresh_views, replay_digests
from api.runtime import Runtime
from application.batch_recorder import BatchRecorder
from projections.tables import email_copies, emails, workspaces
from projections.writer import ViewWriter
from tests.support.messages import message


def _indexes(engine: Engine) -> dict[str, list[str]]:
    found = inspect(engine)
    return {t: sorted(i["name"] for i in found.get_indexes(t)) for t in sorted(BULK_TABLES)}


def _sync_many(runtime: Runtime, mailbox_id: str, count: int, sender: str) -> None:
    raws = [
        message(
            f"Client {n} <c{n}@{sender}>",
            "bob@acme.com",
            f"Quote {n}",
            message_id=f"<q{n}@{sender}>",
            cc=[f"d{n}@{sender}"],
        )
        for n in range(count)
    ]
    result = BatchRecorder(runtime.app, mailbox_id).record("INBOX", [parse_message(r) for r in raws], None)
    assert result.synced == count


def test_a_removal_mid_history_replays_equal_and_leaves_every_index_in_place(runtime: Runtime) -> None:
    services = runtime.services
    ws, bob, _ = services.workspaces.create_workspace("Acme", "acme.com", "Bob", "bob@acme.com")
    carol = services.workspaces.add_member(ws, "Carol", ["carol@acme.com"], "member").id
    bob_box = services.mailboxes.register(ws, bob, "upload", "bob@acme.com", []).id
    carol_box = services.mailboxes.register(ws, carol, "upload", "carol@acme.com", []).id
    # enough rows that the removal must not run over unindexed tables: the indexes come back first
    _sync_many(runtime, bob_box, SMALL // 4, "globex.com")
    _sync_many(runtime, carol_box, 40, "initech.com")
    services.erasure.remove_mailbox(ws, carol_box, carol)
    services.workspaces.add_member(
        ws, "Dan", ["dan@acme.com"], "member"
    )  # recomputes the internal rule over every copy
    _sync_many(runtime, bob_box, 30, "hooli.com")

    result = replay_digests(runtime)

    assert result["equal"] is True, result
    with fresh_views(runtime) as (engine, position):
        assert position == result["live_position"]
        assert _indexes(engine) == _indexes(runtime.engine)
        with engine.connect() as conn:
            assert (
                conn.execute(select(func.count()).select_from(email_copies)).scalar_one() == SMALL // 4 + 30
            )


def test_deferred_indexes_come_back_before_a_statement_reads_a_grown_bulk_table(runtime: Runtime) -> None:
    with fresh_views(runtime) as (engine, _):
        migrated = _indexes(engine)
        assert any(migrated.values())
        deferred = DeferredIndexes()
        with engine.begin() as conn:
            deferred.start(conn)
        assert not any(_indexes(engine).values())

        with engine.begin() as conn:
            deferred.loaded("email_copies", SMALL + 1)
            deferred.before(conn, frozenset({"mailboxes"}))  # not a bulk table: still deferred
        assert not any(_indexes(engine).values())
        with engine.begin() as conn:
            deferred.before(conn, frozenset({"email_copies", "emails"}))
        assert _indexes(engine) == migrated


def test_the_writer_skips_conflicting_rows_and_flushes_what_a_statement_reads(runtime: Runtime) -> None:
    with fresh_views(runtime) as (engine, _), engine.begin() as conn:
        writer = ViewWriter(conn)
        row = ("e1", "w1", "<m@x>", "Hi", None, "a@x.com", None, "e1")
        columns = (
            "id",
            "workspace_id",
            "message_id",
            "subject",
            "sent_at",
            "from_address",
            "in_reply_to",
            "thread_key",
        )
        writer.insert_rows(emails, columns, [row, row], ignore_conflict=True)
        writer.insert(
            workspaces,
            {
                "id": "w1",
                "name": "Acme",
                "signup_domain": "acme.com",
                "plan": "team",
                "record_creation": "selective",
                "internal_domains": ["acme.com"],
                "exclusions": [],
                "member_addresses": [],
                "mailbox_addresses": {},
                "legal_hold": False,
                "created_at": "2025-06-02T10:00:00+00:00",
            },
        )

        assert writer.execute(select(workspaces.c.internal_domains)).scalar_one() == ["acme.com"]
        assert conn.execute(select(func.count()).select_from(emails)).scalar_one() == 0  # still buffered
        assert writer.execute(select(func.count()).select_from(emails)).scalar_one() == 1
        writer.insert_rows(emails, columns, [row], ignore_conflict=True)  # already there: skipped
        writer.flush()
        assert conn.execute(select(emails.c.subject)).scalars().all() == ["Hi"]


def test_a_replay_reads_the_log_as_the_library_does(runtime: Runtime) -> None:
    app = runtime.app
    services = runtime.services
    ws, bob, _ = services.workspaces.create_workspace("Acme", "acme.com", "Bob", "bob@acme.com")
    box = services.mailboxes.register(ws, bob, "upload", "bob@acme.com", []).id
    _sync_many(runtime, box, 5, "globex.com")
    recorder = app.recorder
    last = recorder.max_notification_id()
    assert last > 8
    pages, at = log_pages(recorder), positions_reader(recorder)

    def fields(notifications: Any) -> list[tuple[Any, ...]]:
        return [
            (n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state)) for n in notifications
        ]

    for after, limit, until in ((0, 100, None), (3, 4, None), (1, 100, last - 2)):
        ours = pages(after, until, limit)
        theirs = recorder.select_notifications(after + 1, limit, until)
        assert fields(ours) == fields(theirs) and ours
        assert all(isinstance(n.state, bytes) for n in ours)
        # ids as text on SQLite: the views' mapper (the library's) still makes the events' UUIDs of them
        for notification in ours:
            event, seen = (
                app.mapper.to_domain_event(notification),
                app.view_mapper().to_domain_event(notification),
            )
            assert isinstance(event.originator_id, UUID) and seen.originator_id == event.originator_id
            assert seen.originator_version == event.originator_version and type(seen) is type(event)
    wanted = [2, 5, last]
    assert fields(at(wanted)) == [f for f in fields(recorder.select_notifications(1, last)) if f[0] in wanted]


def test_the_postgres_recorder_inserts_a_batch_whole_or_not_at_all(runtime: Runtime) -> None:
    if not runtime.store.is_postgres:
        pytest.skip("the PostgreSQL recorder's insert")
    recorder = runtime.app.recorder
    before = recorder.max_notification_id() or 0
    batch = [
        StoredEvent(originator_id=uuid4(), originator_version=1, topic="x:Y", state=bytes(3000))
        for _ in range(300)
    ]

    ids = recorder.insert_events(batch)

    assert ids == list(range(before + 1, before + 301))
    clash = [StoredEvent(originator_id=uuid4(), originator_version=1, topic="x:Y", state=b"{}"), batch[7]]
    with pytest.raises(IntegrityError):
        recorder.insert_events(clash)
    assert recorder.max_notification_id() == before + 300
    assert recorder.select_events(clash[0].originator_id) == []
