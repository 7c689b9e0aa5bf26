"""SMTP submission through smtplib: the MailTransport port for `imap` mailboxes.

The host is resolved once and checked (adapters.outbound, the private-address rule), and the
socket opened to the checked address is handed to smtplib (`_PinnedSMTP`); TLS and STARTTLS
verify the certificate against the host name as typed. `smtp_security` is `tls` (port 465),
`starttls` (587) or `none` (loopback only). One session for a group of messages (`close()`).

Errors leave typed: a 4xx reply, a dropped connection or a timeout is transient (tried again
with backoff); a 5xx reply is permanent, and its text (the server's judgement of this
message: "550 5.1.1 no such user") is the send's reason. A login check's failures are
mailtrail's words (MailAuthError, MailServerError), the server's go to the log."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from adapters.netcheck import HostRefusedError, Resolver
from adapters.outbound import Destination, could_not_connect, open_socket, resolve_checked
from application.ports import (
    MailAuthError,
    MailServerError,
    MailUnavailableError,
    PermanentTransportError,
    SendReceipt,
    TransientTransportError,
    TransportError,
)

log = logging.getLogger(__name__)
DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}
MAX_REASON_CHARS = 300
TlsContext = Callable[[], ssl.SSLContext]


class _PinnedSMTP(smtplib.SMTP):
    """smtplib over a socket already connected to a checked address; `_host` stays the typed
    name, which STARTTLS verifies the certificate against."""

    def __init__(self, host: str, opener: Callable[[], socket.socket], timeout: float) -> None:
        self._opener = opener
        super().__init__(timeout=timeout)
        self._host = host

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._opener()


def smtp_settings(connection: Mapping[str, Any], secret: Mapping[str, str]) -> tuple[str, int, str, str, str]:
    """(host, port, security, username, password): the SMTP fields, else the IMAP login's."""
    host = str(connection.get("smtp_host") or "")
    if not host:
        raise PermanentTransportError("the mailbox has no SMTP server (set smtp_host)")
    security = str(connection.get("smtp_security") or "starttls")
    port = int(connection.get("smtp_port") or DEFAULT_PORTS[security])
    username = str(connection.get("smtp_username") or connection.get("username") or "")
    password = secret.get("smtp_password") or secret.get("password") or ""
    return host, port, security, username, password


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return " ".join(f"{code} {text}".split())[:MAX_REASON_CHARS]


class SmtpTransport:
    """Implements MailTransport for one mailbox's submission server."""

    def __init__(
        self,
        connection: Mapping[str, Any],
        secret: Mapping[str, str],
        *,
        timeout: float = 60.0,
        allow_private: bool = False,
        resolver: Resolver = socket.getaddrinfo,
        tls_context: TlsContext = ssl.create_default_context,
    ) -> None:
        self.host, self.port, self.security, self.username, self.password = smtp_settings(connection, secret)
        self.timeout = timeout
        self.allow_private = allow_private
        self.resolver = resolver
        self.tls_context = tls_context
        self._client: smtplib.SMTP | None = None

    def _destination(self) -> Destination:
        try:
            return resolve_checked(self.host, self.port, allow_private=self.allow_private,
                                   plaintext=self.security == "none", resolver=self.resolver)  # fmt: skip
        except HostRefusedError as error:
            raise PermanentTransportError(str(error)) from None

    @contextmanager
    def session(self) -> Iterator[smtplib.SMTP]:
        """A connected, greeted, (STARTTLS-ed and) logged-in session, closed on exit."""
        client = self._open()
        try:
            yield client
        finally:
            _shut(client)

    def _open(self) -> smtplib.SMTP:
        destination = self._destination()
        context = self.tls_context() if self.security != "none" else None
        tls = context if self.security == "tls" else None
        client = _PinnedSMTP(self.host, lambda: open_socket(destination, timeout=self.timeout, tls=tls),
                             self.timeout)  # fmt: skip
        try:
            with _translated(could_not_connect(destination)):
                client.connect(self.host, self.port)
                client.ehlo()
                if self.security == "starttls":
                    client.starttls(context=context)
                    client.ehlo()
            if self.username and self.password:
                with _translated(f"login to {destination} failed"):
                    client.login(self.username, self.password)
        except BaseException:
            _shut(client)
            raise
        return client

    def send(self, raw: bytes, envelope_from: str, recipients: Sequence[str]) -> SendReceipt:
        """Over the session the transport keeps open until `close()` (one login for a group of
        messages); any failure closes it, so the next message starts a fresh one."""
        if self._client is None:
            self._client = self._open()
        try:
            with _translated("sending failed"):
                refused = self._client.sendmail(envelope_from, list(recipients), raw)
        except TransportError:
            self.close()
            raise
        if refused:  # some recipients refused, the others took it
            text = "; ".join(
                f"{address}: {_reply(code, msg)}" for address, (code, msg) in sorted(refused.items())
            )
            return SendReceipt(f"accepted, but refused for {text}"[:MAX_REASON_CHARS])
        return SendReceipt("accepted")

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            _shut(client)

    def check(self) -> None:
        """Log in without sending: MailAuthError when refused, MailServerError otherwise."""
        try:
            with self.session():
                pass
        except _LoginRefusedError:
            raise MailAuthError("the SMTP server refused the username or password") from None
        except TransientTransportError as error:
            raise MailUnavailableError(f"SMTP: {error.args[0] if error.args else 'unavailable'}") from None
        except TransportError as error:
            raise MailServerError(f"SMTP: {error}") from None


def _shut(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


class _LoginRefusedError(PermanentTransportError):
    """The submission server refused the credentials."""


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except smtplib.SMTPAuthenticationError as error:
        log.warning("SMTP: %s: %s", what, _reply(error.smtp_code, error.smtp_error))
        raise _LoginRefusedError("the SMTP server refused the username or password") from None
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        text = "; ".join(f"{a}: {_reply(c, m)}" for a, (c, m) in sorted(error.recipients.items()))
        kind = (
            TransientTransportError
            if codes and all(400 <= c < 500 for c in codes)
            else PermanentTransportError
        )
        raise kind(text[:MAX_REASON_CHARS]) from None
    except smtplib.SMTPResponseException as error:  # sender refused, data refused, other replies
        reply = _reply(error.smtp_code, error.smtp_error)
        kind = TransientTransportError if 400 <= error.smtp_code < 500 else PermanentTransportError
        raise kind(reply) from None
    except smtplib.SMTPNotSupportedError as error:
        log.warning("SMTP: %s: %s", what, error)
        raise PermanentTransportError(f"{what}: the server does not offer what is needed ({error})") from None
    except ssl.SSLCertVerificationError as error:
        log.warning("SMTP: %s: %s", what, error)
        raise PermanentTransportError(f"{what}: the server's TLS certificate was not accepted") from None
    except (smtplib.SMTPException, OSError) as error:  # disconnected, refused, timed out
        log.warning("SMTP: %s: %s: %s", what, type(error).__name__, error)
        raise TransientTransportError(what) from None


class SmtpTransports:
    """The Transports port: SMTP submission for `imap` mailboxes (Gmail XOAUTH2 and Graph
    sendMail are built here too once their OAuth tokens exist)."""

    def __init__(self, allow_private: Callable[[], bool], resolver: Callable[[], Resolver],
                 timeout: float = 60.0, tls_context: TlsContext = ssl.create_default_context) -> None:  # fmt: skip
        self.allow_private = allow_private
        self.resolver = resolver
        self.timeout = timeout
        self._make_context = tls_context
        self._context: ssl.SSLContext | None = None  # made once: loading the CA store takes ~10 ms

    def tls_context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = self._make_context()
        return self._context

    def _transport(
        self, connection: Mapping[str, Any], secret: Mapping[str, str], timeout: float
    ) -> SmtpTransport:
        return SmtpTransport(connection, secret, timeout=timeout, allow_private=self.allow_private(),
                             resolver=self.resolver(), tls_context=self.tls_context)  # fmt: skip

    def for_mailbox(
        self, provider: str, connection: Mapping[str, Any], secret: Mapping[str, str]
    ) -> SmtpTransport:
        if provider != "imap":
            raise PermanentTransportError(f"sending from a {provider} mailbox is not available yet")
        return self._transport(connection, secret, self.timeout)

    def check(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> None:
        try:
            transport = self._transport(connection, secret, min(self.timeout, 20.0))
        except TransportError as error:
            raise MailServerError(str(error)) from None
        transport.check()
