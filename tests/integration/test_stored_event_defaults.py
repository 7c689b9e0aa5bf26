"""Events stored before a field of theirs existed read with the field's default (explicit events).

A store written by an earlier version holds Created events without `record_policy`,
`sharing` or `status`, MailboxRegistered without `claimed`, BatchRecorded without the
skip keys: the aggregates and the views read them as they were meant then."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from sqlalchemy import select

from api.replay import replay_digests
from api.runtime import Runtime
from domain.mailbox import Mailbox
from domain.workspace import Workspace
from projections.tables import mailboxes, workspaces

# The fields each event gained after stores were written without them.
ADDED_LATER: dict[type, tuple[str, ...]] = {
    Workspace.Created: ("record_policy", "auto_internal_domains"),
    Workspace.MailboxRegistered: ("claimed", "domain"),
    Mailbox.Created: ("sharing", "status"),
    Mailbox.BatchRecorded: ("skipped_keys", "cleared_keys"),
}


def _store_as_before(runtime: Runtime, *aggregates: Aggregate) -> None:
    """Record the aggregates' pending events as an earlier version stored them: without the fields added later."""
    mapper = runtime.app.mapper
    stored: list[StoredEvent] = []
    for aggregate in aggregates:
        for event in aggregate.collect_events():
            record = mapper.to_stored_event(event)
            state: dict[str, Any] = mapper.transcoder.decode(record.state)
            for name in ADDED_LATER.get(type(event), ()):
                state.pop(name, None)
            stored.append(
                StoredEvent(
                    record.originator_id,
                    record.originator_version,
                    record.topic,
                    mapper.transcoder.encode(state),
                )
            )
    runtime.app.recorder.insert_events(stored)


def _acme_stored_as_before(runtime: Runtime) -> tuple[Workspace, Mailbox]:
    workspace = Workspace(name="Acme", signup_domain="acme.com", plan="pro")
    workspace.add_member("m1", "Bob", ["bob@acme.com"], "admin")
    mailbox = Mailbox(
        workspace_id=str(workspace.id),
        owner_id="m1",
        provider="upload",
        address="bob@acme.com",
        aliases=[],
        connection={},
    )
    workspace.register_mailbox(str(mailbox.id), "m1", "upload", ["bob@acme.com"], [], free_mail=False)
    mailbox.record_batch("INBOX", {"uid": 1}, 0, {"internal_only": ["k1"]}, [])
    _store_as_before(runtime, workspace, mailbox)
    return workspace, mailbox


def test_a_workspace_and_a_mailbox_stored_before_their_defaults_were_fields_read_as_selective_metadata_active(
    runtime: Runtime,
) -> None:
    workspace, mailbox = _acme_stored_as_before(runtime)

    loaded_workspace = runtime.app.load(Workspace, workspace.id)
    loaded_mailbox = runtime.app.load(Mailbox, mailbox.id)
    assert (loaded_workspace.record_policy, loaded_workspace.auto_internal_domains) == ("selective", True)
    assert loaded_workspace.mailbox_claims == {str(mailbox.id): ["bob@acme.com"]}  # all were verified then
    assert (loaded_mailbox.sharing, loaded_mailbox.status) == ("metadata", "active")
    assert loaded_mailbox.skipped == {"internal_only": 1} and loaded_mailbox.skipped_keys == {}

    runtime.catch_up()
    with runtime.engine.connect() as conn:
        ws_row = conn.execute(select(workspaces).where(workspaces.c.id == str(workspace.id))).one()
        box_row = conn.execute(select(mailboxes).where(mailboxes.c.id == str(mailbox.id))).one()
    assert (ws_row.record_creation, ws_row.auto_internal_domains) == ("selective", True)
    assert ws_row.mailbox_addresses == {str(mailbox.id): ["bob@acme.com"]}
    assert (box_row.sharing, box_row.status, box_row.skipped) == ("metadata", "active", {"internal_only": 1})


def test_a_replay_of_such_a_store_gives_the_views_it_was_given_live(runtime: Runtime) -> None:
    _, mailbox = _acme_stored_as_before(runtime)
    runtime.services.mailboxes.change(str(mailbox.workspace_id), str(mailbox.id), "m1", sharing="full")
    runtime.catch_up()

    result = replay_digests(runtime)

    assert result["equal"] is True, result
