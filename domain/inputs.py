"""What a command's text becomes before it reaches an aggregate: addresses, domains, list entries."""

from __future__ import annotations

from domain.errors import RuleViolationError
from domain.values import normalize_address, normalize_domain


def address(value: str) -> str:
    """An email address, normalised; 422 for anything else."""
    normal = normalize_address(value)
    if normal is None:
        raise RuleViolationError(f"{value!r} is not an email address")
    return normal


def domain_name(value: str) -> str:
    """A domain with at least one dot, normalised (IDNA)."""
    normal = normalize_domain(value)
    if normal is None or "." not in normal:
        raise RuleViolationError(f"{value!r} is not a domain")
    return normal


def list_entry(value: str) -> str:
    """A blocklist or exclusion entry: an address or a domain."""
    return address(value) if "@" in value else domain_name(value)


def host_name(value: str) -> str:
    """A mail server's host as stored and compared."""
    return value.strip().lower()
