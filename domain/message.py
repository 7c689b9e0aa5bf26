"""A message as the domain sees it: parsed, normalised, with its defects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

MAX_MESSAGE_BYTES = 50 * 1024 * 1024
"""The largest raw message mailtrail takes in, from an upload, an import or an IMAP server."""


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox of a header: `email` is normalised (see values.normalize_address)."""

    email: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes = field(default=b"", compare=False, repr=False)  # the decoded file


@dataclass(frozen=True, slots=True)
class Bounce:
    """One failed recipient of a delivery status notification (RFC 3464): who, the status
    code and the remote server's diagnostic, and the Message-ID of the message that failed."""

    recipient: str
    status: str
    diagnostic: str
    original_message_id: str | None


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What MIME parsing extracts from one raw message. Never built from a failure:
    unreadable parts become `defects`, missing headers become empty values."""

    message_id: str | None
    subject: str
    date: datetime | None
    from_: tuple[Address, ...]
    sender: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    bulk: bool
    body_text: str
    body_html: str
    attachments: tuple[Attachment, ...]
    size: int
    fingerprint: str
    defects: tuple[str, ...] = field(default=())
    provider_id: str | None = None  # e.g. Gmail's X-GM-MSGID: the copy's identity in that mailbox
    provider_thread: str | None = None  # e.g. Gmail's X-GM-THRID
    # The identity-version-1 digest (body cut before CRLF became LF) when it differs from
    # `fingerprint`: copies recorded by version 1 keep their ids, so a re-sync finds them.
    legacy_fingerprint: str | None = None
    # Participants whose address `normalize_address` refused, as `lenient_address` reads them
    # (From, Sender, Reply-To, To, Cc, Bcc): not people, but blocklists and exclusions see them.
    unparsed: tuple[str, ...] = ()
    # A delivery status notification's failed recipients (empty for every other message).
    bounces: tuple[Bounce, ...] = ()

    @property
    def copy_key(self) -> str | None:
        return provider_copy_key(self.provider_id) if self.provider_id else None


def provider_copy_key(provider_id: str) -> str:
    """The copy key of a message the provider identifies (Gmail's X-GM-MSGID, Graph's immutable id)."""
    return f"provider:{provider_id}"
