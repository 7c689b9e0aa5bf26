"""Which of a mailbox's addresses are proven to be its owner's.

An address is the member's when an admin gave it to them (their member addresses), or
when a mail server that answers for the address's domain accepted a login as that very
address. Only proven addresses count as internal, and only a proven address's domain can
become an internal domain (docs/decisions.md, "rules")."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from domain.values import domain_matches, domain_of, normalize_address


@dataclass(frozen=True)
class Login:
    """A login that a mail server accepted: where, and as whom."""

    host: str
    username: str


def proven_by_login(address: str, login: Login | None, hosted: bool) -> bool:
    """The server accepted `address` itself as the username, and it answers for the address's
    domain: its host is the domain or under it (the domain's owner runs that DNS name), or it is
    `hosted`, a provider known to verify domain ownership before it accepts such a login."""
    if login is None or normalize_address(login.username) != address:
        return False
    host = login.host.strip().lower().rstrip(".")
    return hosted or domain_matches(host, domain_of(address))


def verified(
    addresses: Collection[str], member_emails: Collection[str], proven: Collection[str]
) -> list[str]:
    """The addresses, in order, that are the owner's member addresses or proven by a login."""
    return [a for a in addresses if a in member_emails or a in proven]
