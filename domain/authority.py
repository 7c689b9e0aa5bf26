"""Who may do what to a mailbox and its copies: each rule once."""

from __future__ import annotations

from domain.errors import ForbiddenError, RuleViolationError
from domain.filtering import matches_any
from domain.values import Role
from domain.workspace import Workspace


def is_admin(workspace: Workspace, member_id: str) -> bool:
    return bool(workspace.member(member_id)["role"] == Role.ADMIN.value)


def require_owner(owner_id: str, actor_id: str, what: str = "the mailbox's owner") -> None:
    """Changing a mailbox (sharing, blocklist, connection, uploads) is its owner's alone."""
    if owner_id != actor_id:
        raise ForbiddenError(f"only {what} may do this")


def require_owner_or_admin(workspace: Workspace, owner_id: str, actor_id: str, refusal: str) -> None:
    """Removing a mailbox or revoking a share: its owner, or an admin of the workspace."""
    if owner_id != actor_id and not is_admin(workspace, actor_id):
        raise ForbiddenError(refusal)


def check_can_be_person(workspace: Workspace, address: str) -> None:
    """An internal or excluded address is never a person record."""
    if workspace.internal_set().is_internal(address):
        raise RuleViolationError(f"{address} is internal and cannot be a person")
    if matches_any(address, workspace.exclusions):
        raise RuleViolationError(f"{address} is excluded by the workspace and cannot be a person")
