"""The outside world as the application needs it."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Subscription:
    """A webhook subscription: where to send which events, as its member may see them."""

    id: str
    workspace_id: str
    member_id: str
    url: str
    events: tuple[str, ...]
    description: str
    enabled: bool
    disabled_reason: str | None
    position: int  # the last log position turned into deliveries
    created_at: str


@dataclass(frozen=True)
class NewDelivery:
    """One webhook message for a subscription: its place in the log and its JSON body."""

    position: int
    seq: int
    event_type: str
    body: str
    email_id: str | None = None


@dataclass(frozen=True)
class Delivery:
    id: str  # the webhook-id header, the same on every attempt
    webhook_id: str
    position: int
    seq: int
    event_type: str
    body: str | None  # None once scrubbed (its email's mailbox removed)
    status: str  # pending | delivered | erased
    attempts: int
    response_code: int | None
    last_error: str | None
    created_at: str
    first_attempt_at: float | None
    next_attempt_at: float | None
    delivered_at: str | None


@dataclass(frozen=True)
class SendResult:
    status: int | None  # the HTTP status, None when no answer came
    error: str | None = None


class WebhookStore(Protocol):
    """Subscriptions and their deliveries (a plain table: configuration, not history)."""

    def add(self, subscription: Subscription) -> None: ...

    def get(self, webhook_id: str) -> Subscription | None: ...

    def page(self, workspace_id: str, member_id: str | None, after: tuple[str, str] | None,
             limit: int) -> list[Subscription]: ...  # fmt: skip

    def change(self, webhook_id: str, **fields: Any) -> None: ...

    def remove(self, webhook_id: str) -> None: ...

    def enabled(self) -> list[Subscription]: ...

    def enqueue(
        self, webhook_id: str, previous: int, position: int, deliveries: Sequence[NewDelivery]
    ) -> bool:
        """Store the deliveries and move the subscription from `previous` to `position` at once;
        False when another process moved it first."""
        ...

    def head(self, webhook_id: str) -> Delivery | None:
        """The subscription's oldest undelivered delivery."""
        ...

    def pending(self, webhook_id: str, limit: int) -> list[Delivery]:
        """The subscription's oldest undelivered deliveries, in log order."""
        ...

    def attempted(self, delivery_id: str, **fields: Any) -> None: ...

    def attempted_many(self, changes: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Several deliveries' attempts recorded in one transaction."""
        ...

    def deliveries(self, webhook_id: str, after: tuple[int, int] | None, limit: int) -> list[Delivery]: ...

    def delivery(self, webhook_id: str, delivery_id: str) -> Delivery | None: ...


class WebhookEvents(Protocol):
    """The deliveries events of the log give rise to, read from the views that applied them."""

    def deliveries(
        self, events: Sequence[tuple[int, Any]], subscriptions: Sequence[Subscription]
    ) -> dict[str, list[NewDelivery]]: ...


class WebhookSender(Protocol):
    """Signed HTTP POSTs (Standard Webhooks) to URLs checked against private addresses."""

    def check(self, url: str) -> None:
        """RuleViolationError when the URL may not be a target."""
        ...

    def send(self, url: str, message_id: str, body: str, secret: str) -> SendResult: ...
