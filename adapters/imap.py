"""IMAP through imapclient: login, folder discovery, UID searches and BODY.PEEK[] fetches.

Connections go through adapters.outbound: the host is resolved once, checked, and the
socket opened to the checked address is handed to imapclient (`PinnedIMAPClient`); TLS and
STARTTLS verify the certificate against the host name as typed.

Errors leave this module typed: MailAuthError, MailUnavailableError (retry with backoff) or
MailServerError (fatal as configured). Their messages say what mailtrail was doing, never
what the server said (a banner, a NO's text): that goes to the log. Folders are opened with
EXAMINE and bodies fetched with BODY.PEEK[], so syncing never sets \\Seen. Large jobs
fetch and parse in a child process (adapters.imap_fetch) while the caller saves; this
module keeps its imports light for that child (no application services)."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientAbortError, IMAPClientError, LoginError

from adapters.netcheck import HostRefusedError, Resolver
from adapters.outbound import Destination, could_not_connect, open_socket, resolve_checked
from application.ports import (
    Fetched,
    FolderState,
    Item,
    MailAuthError,
    MailFoldersMissingError,
    MailServerError,
    MailUnavailableError,
    Rejected,
)
from domain.message import ParsedMessage

# Retryable: the connection dropped, timed out or was reset. Fatal: everything else.
RETRYABLE = (IMAPClientAbortError, socket.timeout, TimeoutError, ConnectionError, EOFError)
CERTIFICATE = (ssl.SSLCertVerificationError,)
GMAIL = b"X-GM-EXT-1"
SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "INBOX.Sent", "INBOX/Sent",
              "Gesendet", "Gesendete Elemente", "Envoyés", "Éléments envoyés", "Enviados",
              "Elementos enviados", "Posta inviata", "Verzonden items", "Skickat")  # fmt: skip
EXCLUDED_USES = (b"\\Trash", b"\\Junk")
SIZE_CHUNK = 500
_NO_SUCH_FOLDER = re.compile(
    r"NONEXISTENT|does ?n[o']t exist|no such (mailbox|folder)|unknown mailbox", re.IGNORECASE
)
_BYTES_REPR = re.compile(r"""\bb['"](.*?)['"]""")
Parser = Callable[[bytes], ParsedMessage]
TlsContext = Callable[[], ssl.SSLContext]
FetchStream = Generator[list[Fetched], None, None]
log = logging.getLogger(__name__)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """imapclient, socket and TLS errors as the application's typed errors.

    `what` is mailtrail's own words ("could not connect to imap.acme.com:993", "EXAMINE INBOX
    failed"), the message callers may show; the exception's text, which may quote the server
    (a banner, a NO's reason), is logged at warning level only."""
    try:
        yield
    except LoginError as error:
        _log(what, error)
        raise MailAuthError("the server refused the username or password") from None
    except CERTIFICATE as error:
        _log(what, error)
        raise MailServerError(f"{what}: the server's TLS certificate was not accepted") from None
    except RETRYABLE as error:
        _log(what, error)
        raise MailUnavailableError(what) from None
    except CapabilityError as error:  # imapclient's words about a capability we asked for
        raise MailServerError(f"{what}: {error}") from None
    except IMAPClientError as error:
        _log(what, error)
        raise MailServerError(what) from None
    except OSError as error:  # refused, unreachable, TLS handshake failures
        _log(what, error)
        raise MailUnavailableError(what) from None


def _log(what: str, error: BaseException) -> None:
    log.warning("IMAP: %s: %s: %s", what, type(error).__name__, _text(error))


def _text(error: BaseException) -> str:
    """The server's words: imapclient sometimes wraps them as str(b'...')."""
    parts = [a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in error.args]
    return " ".join(_BYTES_REPR.sub(r"\1", part) for part in parts)


class _PinnedIMAP4(imaplib.IMAP4):
    """imaplib over a socket already connected to a checked address. `host` stays the typed
    name, which imaplib's STARTTLS passes as `server_hostname`."""

    def __init__(self, host: str, port: int, opener: Callable[[], socket.socket]) -> None:
        self._opener = opener
        super().__init__(host, port)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return self._opener()


class PinnedIMAPClient(IMAPClient):
    """IMAPClient whose connection is `opener()` (adapters.outbound), never a new lookup of
    the host. `_create_IMAP4` is imapclient's one hook for the imaplib object it drives; the
    rebinding and TLS tests (tests/integration/test_outbound_connections.py) are its contract
    tests: they fail if imapclient looks the name up or dials it itself."""

    def __init__(self, host: str, *, port: int, ssl: bool, opener: Callable[[], socket.socket],
                 timeout: float | None) -> None:  # fmt: skip
        self._opener = opener
        super().__init__(host, port=port, ssl=ssl, timeout=timeout)

    def _create_IMAP4(self) -> imaplib.IMAP4:
        return _PinnedIMAP4(self.host, self.port, self._opener)


class ImapConnector:
    """Implements the MailConnector port. Everything it holds is picklable (child fetches).

    `resolver` is the port the host is resolved through (socket.getaddrinfo's shape), once
    per connection; `tls_context` makes the context TLS and STARTTLS verify with."""

    def __init__(
        self,
        parse: Parser,
        *,
        timeout: float = 60.0,
        allow_private: bool = False,
        process_threshold: int | None = None,
        client_factory: Callable[..., Any] = PinnedIMAPClient,
        resolver: Resolver = socket.getaddrinfo,
        tls_context: TlsContext = ssl.create_default_context,
    ) -> None:
        self.parse = parse
        self.timeout = timeout
        self.allow_private = allow_private
        self.process_threshold = process_threshold
        self.client_factory = client_factory
        self.resolver = resolver
        self.tls_context = tls_context

    def connect(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> ImapServer:
        host, port, security = str(connection["host"]), int(connection["port"]), str(connection["security"])
        try:
            destination = resolve_checked(host, port, allow_private=self.allow_private,
                                          plaintext=security == "none", resolver=self.resolver)  # fmt: skip
        except HostRefusedError as error:
            raise MailServerError(str(error)) from None
        context = self.tls_context()
        opener = self._opener(destination, context if security == "tls" else None)
        with translated(could_not_connect(destination)):
            client = self.client_factory(
                host, port=port, ssl=security == "tls", opener=opener, timeout=self.timeout
            )
        try:
            if security == "starttls":
                with translated(could_not_connect(destination)):
                    client.starttls(context)  # imaplib verifies against the typed host name
            with translated(f"login to {destination} failed"):
                username, password = str(connection["username"]), secret.get("password", "")
                if "access_token" in secret:
                    _oauth2_login(client, username, secret["access_token"], what=f"login to {destination}")
                elif (username + password).isascii():
                    client.login(username, password)
                else:  # LOGIN is ASCII only; AUTHENTICATE PLAIN carries UTF-8
                    client.plain_login(username, password)
                capabilities = set(client.capabilities())
        except BaseException:
            _quietly(client.shutdown)
            raise
        return ImapServer(self, client, capabilities, dict(connection), dict(secret))

    def _opener(self, destination: Destination, tls: ssl.SSLContext | None) -> Callable[[], socket.socket]:
        return lambda: open_socket(destination, timeout=self.timeout, tls=tls)


class ImapServer:
    """Implements the MailServer port over one logged-in IMAPClient."""

    def __init__(
        self,
        connector: ImapConnector,
        client: Any,
        capabilities: set[bytes],
        connection: dict[str, Any],
        secret: dict[str, str],
    ) -> None:
        self.connector = connector
        self.client = client
        self.capabilities = capabilities
        self.connection = connection
        self.secret = secret
        self.is_gmail = GMAIL in capabilities
        self.condstore = b"CONDSTORE" in capabilities
        self.selected: FolderState | None = None

    # folders ------------------------------------------------------------------------
    def folders(self, wanted: Sequence[str] | None = None) -> list[str]:
        """The owner's list, else Gmail's All Mail, else INBOX and the Sent folder."""
        with translated("listing folders failed"):
            listing = self.client.list_folders()
        uses = {name: set(flags) for flags, _, name in listing}
        if wanted:
            missing = [f for f in wanted if f not in uses and f.upper() != "INBOX"]
            if missing:
                raise MailFoldersMissingError(missing)
            return [f for f in wanted if not uses.get(f, set()) & set(EXCLUDED_USES)]
        if self.is_gmail:
            all_mail = [name for name, flags in uses.items() if b"\\All" in flags]
            if not all_mail:
                raise MailServerError("Gmail without an \\All folder: enable IMAP access to All Mail")
            return all_mail[:1]
        sent = [name for name, flags in uses.items() if b"\\Sent" in flags]
        if not sent:
            by_name = {name.casefold(): name for name in uses}
            sent = [by_name[n.casefold()] for n in SENT_NAMES if n.casefold() in by_name][:1]
        return ["INBOX", *sent[:1]]

    def status(self, folder: str) -> FolderState:
        names = [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY"] + ([b"HIGHESTMODSEQ"] if self.condstore else [])
        with translated(f"STATUS {folder} failed"):
            values = self.client.folder_status(folder, names)
        return _state(folder, values, b"MESSAGES")

    def gone(self, folder: str) -> bool:
        """STATUS answers NO with "no such mailbox" ([NONEXISTENT], or the usual words without the
        code): a folder merely missing from one LIST is not gone. Dropped connections still raise."""
        try:
            with translated(f"STATUS {folder} failed"):
                try:
                    self.client.folder_status(folder, [b"MESSAGES"])
                except IMAPClientError as error:  # read the server's words here; callers never see them
                    if not isinstance(error, LoginError) and _NO_SUCH_FOLDER.search(_text(error)):
                        return True
                    raise
        except MailServerError:
            return False
        return False

    def open(self, folder: str) -> FolderState:
        """EXAMINE: read-only, so nothing in it can be flagged \\Seen."""
        with translated(f"EXAMINE {folder} failed"):
            values = self.client.select_folder(folder, readonly=True)
            if b"UIDNEXT" not in values:
                values = {**values, **self.client.folder_status(folder, [b"UIDNEXT"])}
        self.selected = _state(folder, values, b"EXISTS")
        return self.selected

    def uids(self) -> list[int]:
        with translated("UID SEARCH failed"):
            return sorted(int(u) for u in self.client.search("ALL"))

    def sizes(self, uids: Sequence[int], larger_than: int) -> dict[int, int]:
        """RFC822.SIZE of the messages larger than `larger_than` (one search, few fetches)."""
        if not uids:
            return {}
        wanted = set(uids)
        with translated("UID SEARCH LARGER failed"):
            large = sorted(u for u in self.client.search(["LARGER", larger_than]) if u in wanted)
            sizes: dict[int, int] = {}
            for start in range(0, len(large), SIZE_CHUNK):
                chunk = large[start : start + SIZE_CHUNK]
                for uid, data in self.client.fetch(chunk, [b"RFC822.SIZE"]).items():
                    sizes[int(uid)] = int(data[b"RFC822.SIZE"])
        return sizes

    # messages -----------------------------------------------------------------------
    def fetch(self, folder: str, uidvalidity: int, batches: Sequence[Sequence[int]]) -> FetchStream:
        threshold = self.connector.process_threshold
        if threshold is not None and sum(len(b) for b in batches) >= threshold:
            from adapters.imap_fetch import fetch_in_child

            return fetch_in_child(self, folder, uidvalidity, batches)
        return self.fetch_here(folder, uidvalidity, batches)

    def fetch_here(self, folder: str, uidvalidity: int, batches: Sequence[Sequence[int]]) -> FetchStream:
        if self.selected is None or self.selected.name != folder:
            self.open(folder)
        assert self.selected is not None
        if self.selected.uidvalidity != uidvalidity:
            raise MailUnavailableError(f"{folder}: UIDVALIDITY changed during the sync")
        items = [b"BODY.PEEK[]"] + ([b"X-GM-MSGID", b"X-GM-THRID"] if self.is_gmail else [])
        for batch in batches:
            if not batch:
                yield []
                continue
            with translated(f"FETCH from {folder} failed"):
                data = self.client.fetch(list(batch), items)
            asked = set(batch)
            yield [self._fetched(folder, uidvalidity, uid, data[uid]) for uid in sorted(data) if uid in asked]

    def _fetched(self, folder: str, uidvalidity: int, uid: int, data: dict[bytes, Any]) -> Fetched:
        raw = bytes(data.get(b"BODY[]") or b"")
        ref = f"imap:{folder}:{uidvalidity}:{uid}"
        item: Item = self.connector.parse(raw) if raw.strip() else Rejected(ref, "empty")
        return Fetched(uid, item, _int(data.get(b"X-GM-MSGID")), _int(data.get(b"X-GM-THRID")))

    def holds_message_id(self, folder: str, message_id: str) -> bool:
        """UID SEARCH HEADER Message-ID in `folder` (opened read-only)."""
        self.open(folder)
        with translated(f"SEARCH in {folder} failed"):
            return bool(self.client.search(["HEADER", "Message-ID", f"<{message_id}>"]))

    # waiting ------------------------------------------------------------------------
    def wait_for_change(self, folder: str, seconds: float, stop: Callable[[], bool]) -> bool:
        """IDLE on `folder` when the server offers it, else sleep; True when it changed."""
        deadline = time.monotonic() + seconds
        if b"IDLE" not in self.capabilities:
            while not stop() and time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            return False
        if self.selected is None or self.selected.name != folder:
            self.open(folder)
        with translated(f"IDLE on {folder} failed"):
            self.client.idle()
            try:
                while not stop() and time.monotonic() < deadline:
                    responses = self.client.idle_check(
                        timeout=min(1.0, max(0.05, deadline - time.monotonic()))
                    )
                    if any(len(r) > 1 and r[1] in (b"EXISTS", b"EXPUNGE") for r in responses):
                        return True
            finally:
                self.client.idle_done()
        return False

    def close(self) -> None:
        _quietly(self.client.logout)
        _quietly(self.client.shutdown)


def _oauth2_login(client: Any, username: str, access_token: str, what: str) -> None:
    """AUTHENTICATE XOAUTH2; a refusal (AUTHENTICATIONFAILED: expired, revoked, another account's
    token) is a MailAuthError the sync answers with one new token."""
    try:
        client.oauth2_login(username, access_token)
    except LoginError as error:
        _log(what, error)
        raise MailAuthError("the server refused the access token") from None


def _state(folder: str, values: Mapping[bytes, Any], count: bytes) -> FolderState:
    return FolderState(
        name=folder,
        uidvalidity=int(values[b"UIDVALIDITY"]),
        uidnext=int(values.get(b"UIDNEXT", 0)),
        exists=int(values.get(count, 0)),
        highestmodseq=_int(values.get(b"HIGHESTMODSEQ")),
    )


def _int(value: Any) -> int | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return int(value) if value is not None else None


def _quietly(call: Callable[[], Any]) -> None:
    """Close what may already be broken; a failure here changes nothing."""
    with contextlib.suppress(Exception):
        call()
