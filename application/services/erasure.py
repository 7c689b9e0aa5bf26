"""Removing a mailbox and erasing mail: the events first, then the keys (crypto-shredding).

A removal retracts the mailbox's copies everywhere and erases them unless the workspace is
under legal hold; lifting the hold erases what removals left held (application/services/workspaces.py)."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from application.app import MailTrail
from application.errors import ConflictError
from application.ports import KeyStore, Sealer
from domain.authority import require_owner_or_admin
from domain.calendar import Calendar
from domain.mailbox import Mailbox
from domain.workspace import Workspace

REMOVAL_ATTEMPTS = 3


class Erasure:
    def __init__(self, app: MailTrail, sealer: Sealer | None, keystore: KeyStore) -> None:
        self.app = app
        self.sealer = sealer
        self.keystore = keystore

    def remove_mailbox(self, workspace_id: str, mailbox_id: str, actor_id: str) -> int:
        """Its owner or an admin; the mailbox's stored credentials go with it. A sync batch saved
        meanwhile (its first pass runs in the background) is no reason to refuse: the removal is
        made again on the newer versions, a few times, before it answers 409."""
        for attempt in range(REMOVAL_ATTEMPTS):
            try:
                position = self._remove(workspace_id, mailbox_id, actor_id)
            except ConflictError:
                if attempt == REMOVAL_ATTEMPTS - 1:
                    raise
                continue
            self.keystore.delete(mailbox_id)
            return position
        raise AssertionError("unreachable")

    def _remove(self, workspace_id: str, mailbox_id: str, actor_id: str) -> int:
        mailbox = self.app.load(Mailbox, mailbox_id, workspace_id)
        workspace = self.app.load(Workspace, workspace_id)
        require_owner_or_admin(
            workspace, mailbox.owner_id, actor_id, "only the mailbox's owner or an admin can remove it"
        )
        held = workspace.legal_hold
        mailbox.remove(held=held)
        workspace.unregister_mailbox(mailbox_id, held=held)
        if not held:
            mailbox.erase()
        return self.save_erasing([] if held else [mailbox], workspace, mailbox)

    def remove_calendar(self, workspace_id: str, calendar_id: str, actor_id: str) -> int:
        """Its owner or an admin: its meetings are retracted from every view and, unless a legal
        hold keeps them, their content is erased with the calendar's data key; the password goes."""
        for attempt in range(REMOVAL_ATTEMPTS):
            try:
                calendar = self.app.load(Calendar, calendar_id, workspace_id)
                workspace = self.app.load(Workspace, workspace_id)
                require_owner_or_admin(
                    workspace,
                    calendar.owner_id,
                    actor_id,
                    "only the calendar's owner or an admin can remove it",
                )
                calendar.remove(held=workspace.legal_hold)
                if not workspace.legal_hold:
                    calendar.erase()
                position = self.app.save_all(calendar)
            except ConflictError:
                if attempt == REMOVAL_ATTEMPTS - 1:
                    raise
                continue
            if calendar.erased:
                self.destroy_keys([calendar_id])
            self.keystore.delete(calendar_id)
            return position
        raise AssertionError("unreachable")

    def save_erasing(self, erased: list[Mailbox], *aggregates: Aggregate) -> int:
        """Save, then destroy the data keys of `erased` (replayable if interrupted: the
        Erased events are stored, and the runtime's finish_erasures destroys any key left)."""
        position = self.app.save_all(*aggregates)
        self.destroy_keys([str(m.id) for m in erased])
        return position

    def destroy_keys(self, mailbox_ids: list[str]) -> None:
        if self.sealer is not None:
            for mailbox_id in mailbox_ids:
                self.sealer.destroy(mailbox_id)
