"""Workspaces and their members: creation, addresses, settings (admins)."""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import uuid4

from application.app import Created, MailTrail
from application.errors import NotFoundError
from application.services.erasure import Erasure
from domain.inputs import address, domain_name, list_entry
from domain.mailbox import Mailbox
from domain.values import Plan, Role
from domain.workspace import Workspace


class NewWorkspace(NamedTuple):
    id: str
    admin_id: str
    position: int


class Workspaces:
    def __init__(self, app: MailTrail, erasure: Erasure) -> None:
        self.app = app
        self.erasure = erasure

    def create_workspace(
        self, name: str, domain: str, admin_name: str, admin_email: str, plan: str = "free"
    ) -> NewWorkspace:
        workspace = Workspace(name=name, signup_domain=domain_name(domain), plan=Plan(plan).value)
        member_id = str(uuid4())
        workspace.add_member(member_id, admin_name, [address(admin_email)], Role.ADMIN.value)
        return NewWorkspace(str(workspace.id), member_id, self.app.save_all(workspace))

    def add_member(self, workspace_id: str, name: str, emails: list[str], role: str) -> Created:
        workspace = self.app.load(Workspace, workspace_id)
        member_id = str(uuid4())
        workspace.add_member(member_id, name, [address(e) for e in emails], role)
        return Created(member_id, self.app.save_all(workspace))

    def add_member_email(self, workspace_id: str, member_id: str, email: str) -> int:
        workspace = self.app.load(Workspace, workspace_id)
        if member_id not in workspace.members:
            raise NotFoundError(f"member {member_id} not found")
        workspace.add_member_email(member_id, address(email))
        return self.app.save_all(workspace)

    def update_settings(self, workspace_id: str, changes: dict[str, Any]) -> int:
        """Lifting a legal hold erases the mailboxes that removals left held."""
        workspace = self.app.load(Workspace, workspace_id)
        if "internal_domains" in changes:
            workspace.set_internal_domains([domain_name(d) for d in changes["internal_domains"]])
        if "auto_internal_domains" in changes:
            workspace.set_auto_internal_domains(bool(changes["auto_internal_domains"]))
        if "exclusions" in changes:
            workspace.set_exclusions([list_entry(e) for e in changes["exclusions"]])
        if "record_creation" in changes:
            workspace.set_record_policy(changes["record_creation"])
        if "plan" in changes:
            workspace.set_plan(changes["plan"])
        if "send_limits" in changes:
            limits = {**workspace.send_limits, **changes["send_limits"]}
            workspace.set_send_limits(limits["per_hour"], limits["per_day"], limits["spacing_seconds"])
        if "legal_hold" in changes:
            workspace.set_legal_hold(bool(changes["legal_hold"]))
        erased = [self.app.load(Mailbox, m) for m in workspace.release_held()]
        for mailbox in erased:
            mailbox.erase()
        return self.erasure.save_erasing(erased, workspace, *erased)
