"""Errors the application raises; the API maps each to one status."""

from __future__ import annotations

from application.ports import MailAuthError
from domain.errors import ConflictError, DomainError, ForbiddenError, NotFoundError, RuleViolationError

RECONNECT_NEEDED = "reconnect needed"


class ReconnectNeeded(MailAuthError):
    """An OAuth refresh was refused (`invalid_grant`, consent revoked): the owner connects again
    (POST /mailboxes/{id}/reconnect). The message is always RECONNECT_NEEDED."""

    def __init__(self) -> None:
        super().__init__(RECONNECT_NEEDED)


__all__ = [
    "RECONNECT_NEEDED",
    "ConflictError",
    "DomainError",
    "ForbiddenError",
    "NotFoundError",
    "ReconnectNeeded",
    "RuleViolationError",
]
