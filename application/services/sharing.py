"""Sharing one copy (or its thread) in full with members or everyone, and revoking it."""

from __future__ import annotations

from uuid import uuid4

from application.app import Created, MailTrail
from application.errors import ForbiddenError
from domain.authority import require_owner, require_owner_or_admin
from domain.mailbox import Mailbox
from domain.synced_message import SyncedMessage
from domain.workspace import Workspace


class Sharing:
    def __init__(self, app: MailTrail) -> None:
        self.app = app

    def share(
        self,
        workspace_id: str,
        copy_id: str | None,
        actor_id: str,
        members: list[str],
        everyone: bool,
        thread: bool,
    ) -> Created:
        """Share the actor's own copy; `copy_id` None: the actor's mailboxes hold no copy of it."""
        if copy_id is None:
            raise ForbiddenError("only a member whose mailbox holds this email can share it")
        copy = self.app.load(SyncedMessage, copy_id, workspace_id)
        mailbox = self.app.load(Mailbox, copy.mailbox_id, workspace_id)
        require_owner(mailbox.owner_id, actor_id, "the owner of a copy")
        workspace = self.app.load(Workspace, workspace_id)
        for member_id in members:
            workspace.member(member_id)
        grant_id = str(uuid4())
        copy.share(grant_id, actor_id, sorted(set(members)), everyone, thread)
        return Created(grant_id, self.app.save_all(copy))

    def revoke_share(self, workspace_id: str, copy_id: str, grant_id: str, actor_id: str) -> int:
        copy = self.app.load(SyncedMessage, copy_id, workspace_id)
        mailbox = self.app.load(Mailbox, copy.mailbox_id, workspace_id)
        workspace = self.app.load(Workspace, workspace_id)
        require_owner_or_admin(
            workspace, mailbox.owner_id, actor_id, "only the copy's owner or an admin can revoke a share"
        )
        copy.revoke(grant_id)
        return self.app.save_all(copy)
