"""What happened to one message in one mailbox, for "why isn't this email here?".

A skipped or rejected message leaves nothing in the views but a content-free fate: a keyed
hash of what identifies it (its Message-ID, or for a message without one its sender and date),
the reason and, where a rule decided, the keyed hash of the entry that matched (a blocklist or
exclusion entry, which may be an address: the fate keeps none). The key lives outside the
log (the composition root derives it from the master key), so the log alone cannot confirm a
guessed Message-ID."""

from __future__ import annotations

from datetime import UTC, datetime

REJECTED = "rejected"
NO_RECORDS = "no_records"  # stored, but it made no person: a role or bulk sender


def lookup_text(
    message_id: str | None, from_address: str | None = None, sent_at: datetime | None = None
) -> str | None:
    """What the keyed hash of a message's fate is taken over: the Message-ID without its angle
    brackets, else its sender and the minute it was sent; None when neither is known."""
    bare = bare_message_id(message_id)
    if bare:
        return message_text(bare)
    if from_address and sent_at is not None:
        return sender_text(from_address, sent_at)
    return None


def message_text(bare_id: str) -> str:
    """The lookup text of a message by its (bare) Message-ID."""
    return f"id:{bare_id}"


def sender_text(from_address: str, sent_at: datetime) -> str:
    """The lookup text of a message without a Message-ID: its sender and the UTC minute it was
    sent (a time without an offset is taken as UTC)."""
    utc = sent_at.replace(tzinfo=UTC) if sent_at.tzinfo is None else sent_at.astimezone(UTC)
    return f"from:{from_address.lower()}|at:{utc.strftime('%Y-%m-%dT%H:%M')}"


def entry_text(entry: str) -> str:
    """What the keyed hash of a rule's entry is taken over: a blocklist or exclusion entry may be
    an address, and a fate keeps no address, only this hash (the entry is found again among the
    mailbox's and workspace's settings when it is asked about)."""
    return f"entry:{entry}"


def bare_message_id(message_id: str | None) -> str:
    """A Message-ID as the views keep it: no angle brackets, no surrounding space."""
    return (message_id or "").strip().strip("<>").strip()
