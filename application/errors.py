"""Errors the application raises; the API maps each to one status."""

from __future__ import annotations

from domain.errors import ConflictError, DomainError, RuleViolationError

__all__ = [
    "ConflictError",
    "DomainError",
    "NotFoundError",
    "RuleViolationError",
]


class NotFoundError(DomainError):
    """No such thing in this workspace."""
