"""The SyncedMessage aggregate: one message as synced by one mailbox."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import NotFoundError, RuleViolationError
from domain.message import ParsedMessage
from domain.values import stable_id


def email_identity(message_id: str | None, fingerprint: str) -> str:
    """What makes two copies the same email: Message-ID and the identity-header digest.

    The digest keeps apart different messages that reuse one Message-ID."""
    return f"{message_id or ''}\x1e{fingerprint}"


def email_id_for(workspace_id: str, identity: str) -> UUID:
    return stable_id("email", workspace_id, identity)


def copy_id_for(mailbox_id: str, message: ParsedMessage) -> UUID:
    """The id of `message`'s copy in this mailbox: what the store and the UID ledger both key on."""
    return SyncedMessage.create_id(
        mailbox_id, email_identity(message.message_id, message.fingerprint), message.copy_key
    )


def legacy_copy_id_for(mailbox_id: str, message: ParsedMessage) -> UUID | None:
    """The id identity version 1 gave this copy, when it differs from copy_id_for's."""
    if message.legacy_fingerprint is None or message.copy_key:
        return None
    identity = email_identity(message.message_id, message.legacy_fingerprint)
    return SyncedMessage.create_id(mailbox_id, identity)


class SyncedMessage(Aggregate):
    """Content fields live only in these events; views keep what reads need."""

    @staticmethod
    def create_id(mailbox_id: str, identity: str, copy_key: str | None = None, **_: Any) -> UUID:
        """One copy per mailbox and message: the provider's own id (Gmail's X-GM-MSGID) when it
        has one, else the email identity."""
        return stable_id("copy", mailbox_id, copy_key or identity)

    class Recorded(Aggregate.Created):
        """`headers` and `content` are stored sealed with the mailbox's key (application/transcoder.py);
        `copy_key` is the provider's own id of the message (None when it has none)."""

        mailbox_id: str
        identity: str
        workspace_id: str
        email_id: str
        folder: str
        direction: str
        headers: dict[str, Any]
        content: dict[str, Any]
        copy_key: str | None = None

    @event(Recorded)
    def __init__(
        self,
        mailbox_id: str,
        identity: str,
        workspace_id: str,
        email_id: str,
        folder: str,
        direction: str,
        headers: dict[str, Any],
        content: dict[str, Any],
        copy_key: str | None = Recorded.copy_key,
    ) -> None:
        self.mailbox_id = mailbox_id
        self.identity = identity
        self.workspace_id = workspace_id
        self.email_id = email_id
        self.folder = folder
        self.direction = direction
        self.headers = headers
        self.content = content
        self.expunged = False
        self.grants: dict[str, dict[str, Any]] = {}

    def expunge(self) -> None:
        if not self.expunged:
            self._expunged()

    class Expunged(Aggregate.Event):
        """Gone from the mail server (or its folder no longer synced): retracted from the views."""

    @event(Expunged)
    def _expunged(self) -> None:
        self.expunged = True

    def restore(self) -> None:
        """Found on the server again after it was retracted (expunged, or its folder gone)."""
        if self.expunged:
            self._restored()

    class Restored(Aggregate.Event):
        """Found on the server again after its retraction."""

    @event(Restored)
    def _restored(self) -> None:
        self.expunged = False

    def share(self, grant_id: str, by: str, members: list[str], everyone: bool, thread: bool) -> None:
        """Share this copy (or the owner's copies of its thread) in full."""
        if not members and not everyone:
            raise RuleViolationError("share with named members or with the workspace")
        self._shared(grant_id=grant_id, by=by, members=members, everyone=everyone, thread=thread)

    class Shared(Aggregate.Event):
        grant_id: str
        by: str
        members: list[str]
        everyone: bool
        thread: bool

    @event(Shared)
    def _shared(self, grant_id: str, by: str, members: list[str], everyone: bool, thread: bool) -> None:
        self.grants = {**self.grants, grant_id: {"members": members, "everyone": everyone, "thread": thread}}

    def revoke(self, grant_id: str) -> None:
        if grant_id not in self.grants:
            raise NotFoundError(f"share {grant_id} not found")
        self._share_revoked(grant_id=grant_id)

    class ShareRevoked(Aggregate.Event):
        grant_id: str

    @event(ShareRevoked)
    def _share_revoked(self, grant_id: str) -> None:
        self.grants = {k: v for k, v in self.grants.items() if k != grant_id}
