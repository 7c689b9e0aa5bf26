"""Errors raised by domain rules."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a domain rule."""


class RuleViolationError(DomainError):
    """The command is well formed but a product rule forbids it."""


class ConflictError(DomainError):
    """The command conflicts with existing state."""


class NotFoundError(DomainError):
    """No such thing in this workspace."""


class ForbiddenError(DomainError):
    """The actor may not do this to this thing."""
