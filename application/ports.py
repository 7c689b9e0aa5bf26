"""The outside world as the application needs it."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.message import ParsedMessage


class DomainCatalog(Protocol):
    """Knowledge about domains that comes from maintained lists."""

    def is_free_mail(self, domain: str) -> bool: ...

    def company_name(self, host: str) -> str: ...

    def verifies_domain_owners(self, host: str) -> bool:
        """Whether this mail host checks that a domain is its customer's before it accepts a
        login as an address of that domain (hosted providers such as imap.gmail.com)."""
        ...


@dataclass(frozen=True)
class Rejected:
    """A message that could not be ingested, and why (no content kept)."""

    ref: str
    reason: str


Item = ParsedMessage | Rejected


class MailSource(Protocol):
    """Yields batches of one folder's messages with the cursor after each batch."""

    def batches(self) -> Iterator[tuple[str, list[Item], dict[str, object] | None]]: ...


class Sealer(Protocol):
    """Encrypts message content under its mailbox's data key (crypto-shredding)."""

    def seal(self, mailbox_id: str, plaintext: bytes) -> bytes: ...

    def unseal(self, mailbox_id: str, sealed: bytes) -> bytes | None:
        """None when the mailbox's key was destroyed: the content is erased."""
        ...

    def destroy(self, mailbox_id: str) -> None: ...


# --- mail servers (IMAP), secrets ----------------------------------------------------


class MailServerError(Exception):
    """A mail server cannot be used as configured (not worth retrying as is).

    The message is shown to the owner (422, status_reason): mailtrail's words, never what
    the other side said (adapters log that)."""


class MailAuthError(MailServerError):
    """The server refused the login; the message is mailtrail's words, never the server's."""


class MailUnavailableError(MailServerError):
    """The connection dropped or timed out; worth retrying with backoff."""


class MailFoldersMissingError(MailServerError):
    """Folders the owner chose are not in the server's LIST (`folders` names them)."""

    def __init__(self, folders: Sequence[str]) -> None:
        super().__init__(f"folder not found: {', '.join(folders)}")
        self.folders = list(folders)


@dataclass(frozen=True)
class FolderState:
    """What a server says about one folder (STATUS, or EXAMINE when opened)."""

    name: str
    uidvalidity: int
    uidnext: int
    exists: int
    highestmodseq: int | None = None


@dataclass(frozen=True)
class Fetched:
    """One message fetched by UID, already turned into an Item at the boundary."""

    uid: int
    item: Item
    gm_msgid: int | None = None
    gm_thrid: int | None = None


class MailServer(Protocol):
    """One logged-in session with a mail server."""

    is_gmail: bool

    def folders(self, wanted: Sequence[str] | None = None) -> list[str]: ...

    def status(self, folder: str) -> FolderState: ...

    def gone(self, folder: str) -> bool:
        """True only when the server itself says `folder` does not exist (not merely unlisted)."""
        ...

    def open(self, folder: str) -> FolderState: ...

    def uids(self) -> list[int]: ...

    def sizes(self, uids: Sequence[int], larger_than: int) -> dict[int, int]: ...

    def fetch(
        self, folder: str, uidvalidity: int, batches: Sequence[Sequence[int]]
    ) -> Generator[list[Fetched], None, None]:
        """One list per batch, in order; never sets \\Seen. May fetch ahead of the caller;
        closing the generator stops any fetching still under way."""
        ...

    def wait_for_change(self, folder: str, seconds: float, stop: Callable[[], bool]) -> bool: ...

    def holds_message_id(self, folder: str, message_id: str) -> bool:
        """Whether `folder` holds a message with this Message-ID (without angle brackets)."""
        ...

    def close(self) -> None: ...


class MailConnector(Protocol):
    def connect(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> MailServer: ...


class KeyStore(Protocol):
    """Secrets (passwords, tokens) encrypted at rest, one small dict per owner id."""

    def put(self, owner_id: str, secret: Mapping[str, str]) -> None: ...

    def get(self, owner_id: str) -> dict[str, str] | None: ...

    def delete(self, owner_id: str) -> None: ...

    def owners(self) -> list[str]: ...


class TokenSource(Protocol):
    """XOAUTH2 access tokens (the OAuth flow that fills it is elsewhere)."""

    def access_token(self, mailbox_id: str) -> str: ...


@dataclass(frozen=True)
class UidEntry:
    """A folder UID and the copy it was recorded as (None when not parseable)."""

    folder: str
    uidvalidity: int
    uid: int
    copy_id: str | None


class UidLedger(Protocol):
    """Which server UIDs stand behind which copies, to retract expunged messages."""

    def remember(self, mailbox_id: str, entries: Sequence[UidEntry]) -> None: ...

    def entries(self, mailbox_id: str, folder: str) -> list[UidEntry]: ...

    def holders(self, mailbox_id: str, copy_ids: Iterable[str]) -> list[UidEntry]: ...

    def forget(self, mailbox_id: str, entries: Sequence[UidEntry]) -> None: ...


class ApiTokens(Protocol):
    """Bearer tokens of members: shown once, stored as a hash."""

    def issue(self, workspace_id: str, member_id: str) -> str: ...

    def resolve(self, token: str) -> tuple[str, str] | None:
        """(workspace id, member id) of a token, or None."""
        ...


# --- sending ---------------------------------------------------------------------------


class Clock(Protocol):
    """The time the outbox goes by (tests move it; nothing sleeps on it)."""

    def now(self) -> datetime: ...


@dataclass(frozen=True)
class SendReceipt:
    """What the submission server answered when it took the message (for the log and the send)."""

    reply: str


class TransportError(Exception):
    """A submission failed; the message is the server's reply when it gave one (a 4xx/5xx
    line is the server's judgement of this message, shown on the send)."""


class TransientTransportError(TransportError):
    """Worth trying again later (4xx, a dropped connection, 429/503)."""


class PermanentTransportError(TransportError):
    """Not worth trying again as is (5xx: a refused recipient, a refused sender)."""


class MailTransport(Protocol):
    """One provider's way of submitting a message (SMTP submission; Gmail XOAUTH2 and Graph
    sendMail plug in the same way)."""

    def send(self, raw: bytes, envelope_from: str, recipients: Sequence[str]) -> SendReceipt:
        """May keep a connection open for the next message, until `close()`."""
        ...

    def close(self) -> None: ...


class Transports(Protocol):
    """Transports for a mailbox, built from its (non-secret) connection and its secret."""

    def for_mailbox(
        self, provider: str, connection: Mapping[str, Any], secret: Mapping[str, str]
    ) -> MailTransport:
        """TransportError (permanent) when the mailbox has no way to send."""
        ...

    def check(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> None:
        """Log in to the submission server without sending (MailAuthError, MailServerError)."""
        ...


class SentFolder(Protocol):
    """Whether a Message-ID is already in a mailbox's Sent folder (after a crash: sent or not?)."""

    def holds(self, mailbox_id: str, message_id: str) -> bool | None:
        """True or False as the server says; None when it could not be asked."""
        ...


class TemplateError(ValueError):
    """A template that does not render: its message names the error or the unknown variable."""


class Templates(Protocol):
    """A sandboxed template engine (no attribute access beyond the given variables)."""

    def render(self, template: str, variables: Mapping[str, Any], field: str) -> str: ...


@dataclass(frozen=True)
class DueSend:
    send_id: str
    mailbox_id: str


class SendIndex(Protocol):
    """What the outbox's view says: sends due by a time, and a workspace's scheduled count."""

    def due(self, now: datetime, limit: int) -> list[DueSend]: ...

    def scheduled(self, workspace_id: str) -> int: ...
