"""The outside world as the application needs it."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from domain.meeting import ParsedMeeting
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


# --- calendars (CalDAV) --------------------------------------------------------------


class CalendarServerError(Exception):
    """A calendar server cannot be used as configured; the message is mailtrail's words."""


class CalendarAuthError(CalendarServerError):
    """The server refused the credentials."""


@dataclass(frozen=True)
class CalendarResource:
    """One calendar resource (an event, or a series with its exceptions) as the server holds it:
    its meetings within the sync window, or None with the reason it could not be read. `href` is
    its domain.calendar.resource_key, never its path."""

    href: str
    meetings: list[ParsedMeeting] | None
    reason: str = ""


@dataclass(frozen=True)
class CalendarChanges:
    """What changed in one calendar collection since `cursor`: resources new or changed, the
    keys (domain.calendar.resource_key) of those gone, and the cursor after them. `full` when the listing is the whole collection (a
    first sync): a resource held before and not listed is gone too."""

    changed: list[CalendarResource]
    gone: list[str]
    cursor: dict[str, Any]
    full: bool = False


class CalendarServer(Protocol):
    def collections(self) -> list[str]:
        """Every calendar collection (its path) of the account's principal."""
        ...

    def changes(self, collection: str, cursor: Mapping[str, Any] | None) -> CalendarChanges: ...

    def close(self) -> None: ...


class CalendarConnector(Protocol):
    def connect(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> CalendarServer: ...
