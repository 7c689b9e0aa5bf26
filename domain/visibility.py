"""What a viewer may see of an email: the highest level any visible copy grants."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.values import Role, SharingLevel


@dataclass(frozen=True)
class Viewer:
    workspace_id: str
    member_id: str
    role: str

    @property
    def is_auditor(self) -> bool:
        return self.role == Role.AUDITOR.value

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value


@dataclass(frozen=True)
class CopyAccess:
    """What decides one copy's contribution: owner, sharing, hiding and full-access grants."""

    owner_id: str
    sharing: str
    hidden: bool
    granted_members: frozenset[str] = field(default_factory=frozenset)
    granted_everyone: bool = False


# An auditor verifies filtering: participants, times, levels, rules and events, never content.
AUDITOR_CEILING = SharingLevel.METADATA


def copy_level(viewer: Viewer, copy: CopyAccess) -> SharingLevel:
    """What one visible copy grants the viewer; an auditor never more than metadata."""
    if copy.hidden:
        return SharingLevel.NONE
    if viewer.is_auditor:
        return AUDITOR_CEILING
    if copy.owner_id == viewer.member_id:
        return SharingLevel.FULL
    if copy.granted_everyone:
        return SharingLevel.FULL
    if viewer.member_id in copy.granted_members:
        return SharingLevel.FULL
    return SharingLevel(copy.sharing)


def email_level(viewer: Viewer, copies: Iterable[CopyAccess]) -> SharingLevel:
    """NONE means the email does not exist for this viewer."""
    return SharingLevel.highest([copy_level(viewer, c) for c in copies])
