"""The application services on in-memory persistence (eventsourcing's POPO recorders) with the
ports faked (tests/support/fakes.py): the rules a command enforces, in milliseconds.

The same commands through HTTP, on SQLite and PostgreSQL, are in tests/api."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from adapters.mime import parse_message
from application.app import MailTrail
from application.errors import ConflictError, ForbiddenError, NotFoundError, RuleViolationError
from application.services import Services
from domain.mailbox import Mailbox
from domain.synced_message import SyncedMessage
from domain.workspace import Workspace
from tests.support.fakes import Catalog, Connector, MemoryKeyStore, RecordingSealer
from tests.support.messages import message

IMAP = {"host": "IMAP.Acme.com ", "port": 993, "security": "tls", "username": "bob", "password": "right"}


@dataclass
class World:
    services: Services
    keystore: MemoryKeyStore
    connector: Connector
    sealer: RecordingSealer
    started: list[str] = field(default_factory=list)
    workspace_id: str = ""
    admin: str = ""
    member: str = ""

    @property
    def app(self) -> MailTrail:
        return self.services.app


@pytest.fixture
def world() -> World:
    app = MailTrail(Catalog())  # no PERSISTENCE_MODULE: the library's in-memory (POPO) recorders
    keystore, connector, sealer = MemoryKeyStore(), Connector(), RecordingSealer()
    w = World(Services.build(app, keystore, connector, parse_message, sealer), keystore, connector, sealer)
    w.services.mailboxes.start_sync = lambda mailbox_id: w.started.append(mailbox_id) or True
    w.workspace_id, w.admin, _ = w.services.workspaces.create_workspace(
        "Acme", "acme.com", "Bob", "bob@acme.com"
    )
    w.member = w.services.workspaces.add_member(w.workspace_id, "Carol", ["carol@acme.com"], "member").id
    return w


def test_every_command_returns_the_position_of_its_last_event(world: World) -> None:
    before = world.app.position()
    box = world.services.mailboxes.register(world.workspace_id, world.member, "upload", "carol@acme.com", [])
    assert box.position > before
    blocked = world.services.mailboxes.block(world.workspace_id, box.id, world.member, "Spam.Example")
    assert blocked == world.app.position() > box.position
    assert world.app.load(Mailbox, box.id).blocklist == ["spam.example"]  # normalised by domain/inputs.py


def test_an_upload_goes_to_its_owners_mailbox_only_and_a_second_one_is_a_duplicate(world: World) -> None:
    box = world.services.mailboxes.register(
        world.workspace_id, world.member, "upload", "carol@acme.com", []
    ).id
    raw = message("dan@client.com", "carol@acme.com", "Deal")
    with pytest.raises(ForbiddenError):
        world.services.ingest.upload(world.workspace_id, box, world.admin, raw)  # an admin is not the owner
    stored = world.services.ingest.upload(world.workspace_id, box, world.member, raw)
    assert stored.skipped is None and stored.position == world.app.position()
    assert world.app.load(SyncedMessage, stored.copy_id).email_id == stored.email_id
    assert world.services.ingest.upload(world.workspace_id, box, world.member, raw).skipped == "duplicate"
    with pytest.raises(RuleViolationError):
        world.services.ingest.upload(world.workspace_id, box, world.member, b"  \r\n")


def test_a_server_mailbox_is_saved_only_after_a_login_and_keeps_its_password_in_the_key_store(
    world: World,
) -> None:
    refused = {**IMAP, "password": "wrong"}
    before = world.app.position()
    with pytest.raises(RuleViolationError, match="login to imap.acme.com:993 failed"):
        world.services.mailboxes.connect(
            world.workspace_id, world.member, "imap", "carol@acme.com", [], refused
        )
    assert world.app.position() == before and world.keystore.owners() == []
    box = world.services.mailboxes.connect(
        world.workspace_id, world.member, "imap", "carol@acme.com", [], IMAP
    )
    assert world.keystore.get(box.id) == {"password": "right"}
    assert world.started == [box.id]
    assert world.app.load(Mailbox, box.id).connection["host"] == "imap.acme.com"


def test_a_new_server_needs_the_password_again(world: World) -> None:
    box = world.services.mailboxes.connect(
        world.workspace_id, world.member, "imap", "carol@acme.com", [], IMAP
    ).id
    with pytest.raises(RuleViolationError, match="needs the password again"):
        world.services.mailboxes.change_connection(
            world.workspace_id, box, world.member, {"host": "evil.example"}
        )
    position = world.services.mailboxes.change_connection(
        world.workspace_id, box, world.member, {"folders": ["INBOX"]}
    )
    assert position == world.app.position()
    assert world.connector.logins[-1] == ("imap.acme.com", "bob")  # the stored password, same server


def test_removal_is_for_the_owner_or_an_admin_and_destroys_keys_and_credentials(world: World) -> None:
    box = world.services.mailboxes.connect(
        world.workspace_id, world.member, "imap", "carol@acme.com", [], IMAP
    ).id
    other = world.services.workspaces.add_member(world.workspace_id, "Dan", ["dan@acme.com"], "member").id
    with pytest.raises(ForbiddenError):
        world.services.erasure.remove_mailbox(world.workspace_id, box, other)
    position = world.services.erasure.remove_mailbox(world.workspace_id, box, world.admin)
    assert position == world.app.position()
    assert world.sealer.destroyed == [box] and world.keystore.get(box) is None
    assert world.app.load(Mailbox, box).status == "removed"


def test_under_legal_hold_a_removal_keeps_the_keys_until_the_hold_is_lifted(world: World) -> None:
    box = world.services.mailboxes.register(
        world.workspace_id, world.member, "upload", "carol@acme.com", []
    ).id
    world.services.workspaces.update_settings(world.workspace_id, {"legal_hold": True})
    world.services.erasure.remove_mailbox(world.workspace_id, box, world.member)
    assert world.sealer.destroyed == []
    world.services.workspaces.update_settings(world.workspace_id, {"legal_hold": False})
    assert world.sealer.destroyed == [box]


def test_people_are_never_internal_and_an_address_belongs_to_one_person(world: World) -> None:
    with pytest.raises(RuleViolationError, match="internal"):
        world.services.records.create_person(world.workspace_id, "Bob", ["bob@acme.com"])
    person = world.services.records.create_person(world.workspace_id, "Dan", ["Dan@Client.com"])
    assert world.app.exists(world.app.load(Workspace, world.workspace_id).id)
    with pytest.raises(ConflictError):
        world.services.records.create_person(world.workspace_id, "Dan again", ["dan@client.com"])
    assert world.services.records.add_person_address(world.workspace_id, person.id, "dan@client.com") == (
        world.app.position()
    )  # already there: nothing written, the current position


def test_only_the_owner_of_a_copy_shares_it_and_members_must_exist(world: World) -> None:
    box = world.services.mailboxes.register(
        world.workspace_id, world.member, "upload", "carol@acme.com", []
    ).id
    raw = message("dan@client.com", "carol@acme.com", "Deal")
    copy_id = world.services.ingest.upload(world.workspace_id, box, world.member, raw).copy_id
    with pytest.raises(ForbiddenError):
        world.services.sharing.share(world.workspace_id, copy_id, world.admin, [], True, False)
    with pytest.raises(ForbiddenError):
        world.services.sharing.share(world.workspace_id, None, world.member, [], True, False)
    with pytest.raises(RuleViolationError):
        world.services.sharing.share(world.workspace_id, copy_id, world.member, ["nobody"], False, False)
    grant = world.services.sharing.share(
        world.workspace_id, copy_id, world.member, [world.admin], False, False
    )
    assert (
        world.services.sharing.revoke_share(world.workspace_id, copy_id, grant.id, world.admin)
        > grant.position
    )


def test_a_member_email_for_no_such_member_is_not_found(world: World) -> None:
    with pytest.raises(NotFoundError):
        world.services.workspaces.add_member_email(world.workspace_id, "nobody", "x@acme.com")


def test_a_batch_saved_while_a_removal_is_under_way_does_not_refuse_the_removal(world: World) -> None:
    box = world.services.mailboxes.register(
        world.workspace_id, world.member, "upload", "carol@acme.com", []
    ).id
    load, landed = world.app.load, []

    def load_then_sync_lands(cls: type, aggregate_id: object, workspace_id: str | None = None) -> object:
        found = load(cls, aggregate_id, workspace_id)  # the removal holds this version of the mailbox...
        if cls is Mailbox and not landed:  # ...when its first background pass saves a batch
            landed.append(message("ann@globex.com", "carol@acme.com"))
            world.services.ingest.upload(world.workspace_id, box, world.member, landed[0])
        return found

    world.app.load = load_then_sync_lands  # type: ignore[method-assign]
    position = world.services.erasure.remove_mailbox(world.workspace_id, box, world.member)
    world.app.load = load  # type: ignore[method-assign]

    assert landed and position == world.app.position()
    assert world.app.load(Mailbox, box).status == "removed"
    assert world.sealer.destroyed == [box]
