"""The outside world as the application needs it."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
    message_id: str | None = None  # when its header could be read: what diagnostics finds it by


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
    """XOAUTH2 access tokens of OAuth mailboxes."""

    def access_token(self, mailbox_id: str, force: bool = False) -> str:
        """A token valid for a while yet (refreshed before it expires); `force`: a new one even
        so (the server refused the last). Raises application.errors.ReconnectNeeded."""
        ...


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


# --- capture by forwarding and BCC (SMTP) --------------------------------------------------


class CaptureTokens(Protocol):
    """The secret half of capture addresses: derived from a deployment key, never stored."""

    def token(self, workspace_id: str, member_id: str, generation: int) -> str: ...


class CaptureDirectory(Protocol):
    """Which members have a capture slug (slugs are not unique: the token decides)."""

    def members_with_slug(self, slug: str) -> list[tuple[str, str]]:
        """(workspace id, member id) pairs."""
        ...


@dataclass(frozen=True)
class DkimResult:
    """The DKIM signatures a message carries: the domains (d=) whose signature verified, and a
    reason for each one that did not."""

    signed: bool
    verified: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()


class DkimVerifier(Protocol):
    def verify(self, raw: bytes) -> DkimResult: ...


@dataclass(frozen=True)
class Original:
    """What a forward carried: the original (its raw RFC 822 form, rebuilt for an inline
    forward) or, when nothing could be recovered, None and the reason."""

    kind: str  # domain.capture ATTACHED | INLINE | UNRECOVERED
    raw: bytes | None
    reason: str = ""


class ForwardReader(Protocol):
    def original(self, raw: bytes) -> Original: ...


# --- OAuth providers (Gmail, Microsoft 365) -------------------------------------------


@dataclass(frozen=True)
class OAuthGrant:
    """What an authorization (or a refresh) gave: the account's address, the secret to seal at
    rest (msal's serialized token cache; Google's refresh token JSON), and a current access token."""

    address: str  # Graph /me `mail` or `userPrincipalName`; Google's id token `email`
    secret: str  # opaque: only the provider that made it reads it back (refresh)
    access_token: str
    expires_at: float  # epoch seconds

    def __repr__(self) -> str:  # never a token in a log line or a traceback
        return f"OAuthGrant(address={self.address!r}, expires_at={self.expires_at!r})"


class OAuthProvider(Protocol):
    """One provider's authorization-code flow with PKCE (S256), and its token refreshes.

    `exchange` raises MailServerError (its message is mailtrail's words, shown to the owner) when
    the account cannot be synced (e.g. a shared Microsoft mailbox); `refresh` raises
    application.errors.ReconnectNeeded on `invalid_grant` / revoked consent, and
    MailUnavailableError when the provider cannot be reached (worth retrying)."""

    provider: str  # "gmail" | "microsoft365"

    def authorization_url(
        self, *, state: str, code_challenge: str, redirect_uri: str, login_hint: str | None
    ) -> str: ...

    def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> OAuthGrant: ...

    def refresh(self, grant: OAuthGrant) -> OAuthGrant: ...


@dataclass(frozen=True)
class PendingAuthorization:
    """What an OAuth `state` stands for until the callback takes it (once)."""

    mailbox_id: str
    workspace_id: str
    member_id: str
    provider: str
    code_verifier: str

    def __repr__(self) -> str:
        return f"PendingAuthorization(mailbox_id={self.mailbox_id!r}, provider={self.provider!r})"


class OAuthStates(Protocol):
    """Single-use `state` values of authorizations under way (the verifier sealed at rest)."""

    def issue(self, pending: PendingAuthorization, expires_at: float) -> str:
        """A new unguessable state for `pending`; earlier states of the same mailbox stop working."""
        ...

    def take(self, state: str, now: float) -> PendingAuthorization | None:
        """What `state` stands for, consumed: None when unknown, used already, or expired."""
        ...


# --- mail APIs with delta queries (Microsoft Graph) ------------------------------------


@dataclass(frozen=True)
class DeltaPage:
    """One page of a folder's delta query: ids added or changed, ids removed, and either the
    link to the next page or (on the last page) the delta link that starts the next sync."""

    changed: list[str]  # immutable ids
    removed: list[str]
    next_link: str | None
    delta_link: str | None


class DeltaResetError(Exception):
    """The saved delta link is no longer valid (410 Gone, syncStateNotFound): start the folder again."""


class MailApi(Protocol):
    """One session with a mailbox's mail API (Graph), its access token refreshed as it goes."""

    def delta(self, folder: str, link: str | None) -> DeltaPage:
        """The first page of `folder`'s delta query (link None) or the page at `link`."""
        ...

    def messages(self, ids: Sequence[str]) -> Iterator[tuple[str, Item]]:
        """Each message's raw MIME turned into an Item, in order (a vanished one is skipped)."""
        ...

    def subscribe(self, folder: str, notification_url: str, client_state: str, expires_at: float) -> str:
        """A change-notification subscription on `folder`'s messages; its id. MailServerError when
        the provider refuses it (e.g. the notification URL did not answer its validation)."""
        ...

    def renew(self, subscription_id: str, expires_at: float) -> None: ...

    def unsubscribe(self, notification_url: str) -> None:
        """Delete this mailbox's subscriptions that notify `notification_url` (a restarted worker's old ones)."""
        ...

    def close(self) -> None: ...


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


class NotificationSecrets(Protocol):
    """The `clientState` of a mailbox's change notifications: unguessable, and telling whose it is."""

    def client_state(self, mailbox_id: str) -> str: ...

    def mailbox_of(self, client_state: str) -> str | None:
        """The mailbox whose client state this is, or None for a forged one."""
        ...


AccessToken = Callable[[bool], str]  # force a refresh when True (the API answered 401)


class MailApiConnector(Protocol):
    def connect(self, access_token: AccessToken) -> MailApi: ...


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


class CalendarConnector(Protocol):
    def connect(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> CalendarServer: ...
