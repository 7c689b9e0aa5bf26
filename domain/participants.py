"""Who took part in a message, and which way it went."""

from __future__ import annotations

from collections.abc import Collection

from domain.message import ParsedMessage

SENT = "sent"
RECEIVED = "received"


def participants(message: ParsedMessage, *, include_bcc: bool = True) -> tuple[str, ...]:
    """Every distinct address of From, Sender, Reply-To, To, Cc (and Bcc), in order."""
    groups = [message.from_, message.sender, message.reply_to, message.to, message.cc]
    if include_bcc:
        groups.append(message.bcc)
    seen: dict[str, None] = {}
    for group in groups:
        for address in group:
            seen.setdefault(address.email, None)
    return tuple(seen)


def unparsed_participants(message: ParsedMessage) -> tuple[str, ...]:
    """The participants whose address did not normalise, as `values.lenient_address` reads them."""
    return message.unparsed


def recipients(message: ParsedMessage) -> tuple[str, ...]:
    """Distinct To, Cc and Bcc addresses."""
    seen: dict[str, None] = {}
    for group in (message.to, message.cc, message.bcc):
        for address in group:
            seen.setdefault(address.email, None)
    return tuple(seen)


def direction(message: ParsedMessage, owner_addresses: Collection[str]) -> str:
    """`sent` when From is one of the owner's addresses, else `received`."""
    if any(address.email in owner_addresses for address in message.from_):
        return SENT
    return RECEIVED
