"""Internal, excluded and blocked classification: which messages may be stored."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from domain.values import domain_matches, domain_of

NO_PARTICIPANTS = "no_participants"
INTERNAL_ONLY = "internal_only"
EXCLUDED = "excluded"
BLOCKLISTED = "blocklisted"


def matches_any(address: str, entries: Iterable[str]) -> bool:
    """True when an entry is the address itself, or a domain covering it."""
    return matching_entry(address, entries) is not None


def matching_entry(address: str, entries: Iterable[str]) -> str | None:
    """The first entry that is the address itself, or a domain covering it."""
    domain = domain_of(address)
    for entry in entries:
        if "@" in entry:
            if entry == address:
                return entry
        elif domain_matches(domain, entry):
            return entry
    return None


@dataclass(frozen=True)
class InternalSet:
    """Internal domains plus every member's own addresses."""

    domains: frozenset[str]
    addresses: frozenset[str]

    def is_internal(self, address: str) -> bool:
        return address in self.addresses or domain_of(address) in self.domains


def skip_reason(
    addresses: Collection[str],
    internal: InternalSet,
    exclusions: Collection[str] = (),
    blocklist: Collection[str] = (),
    unparsed: Collection[str] = (),
) -> str | None:
    """Why a message with these participants must not be stored, or None to store it."""
    skip = screen(addresses, internal, exclusions, blocklist, unparsed)
    return None if skip is None else skip[0]


def screen(
    addresses: Collection[str],
    internal: InternalSet,
    exclusions: Collection[str] = (),
    blocklist: Collection[str] = (),
    unparsed: Collection[str] = (),
) -> tuple[str, str] | None:
    """(reason, the entry that matched or "") when a message with these participants must not
    be stored, or None to store it.

    `unparsed` are the participants whose address did not normalise (values.lenient_address):
    they are no one's record and do not make a message external, but an exclusion or a
    blocklist entry that matches one of them skips the message all the same."""
    screened = [*addresses, *unparsed]
    for reason, entries in ((EXCLUDED, exclusions), (BLOCKLISTED, blocklist)):
        if entries:
            for address in screened:
                entry = matching_entry(address, entries)
                if entry is not None:
                    return reason, entry
    if not addresses:
        return NO_PARTICIPANTS, ""
    if all(internal.is_internal(a) for a in addresses):
        return INTERNAL_ONLY, ""
    return None


def external(addresses: Iterable[str], internal: InternalSet) -> list[str]:
    return [a for a in addresses if not internal.is_internal(a)]
