"""Errors the application raises; the API maps each to one status."""

from __future__ import annotations

from domain.errors import ConflictError, DomainError, ForbiddenError, NotFoundError, RuleViolationError

__all__ = [
    "ConflictError",
    "DomainError",
    "ForbiddenError",
    "NotFoundError",
    "RuleViolationError",
]
