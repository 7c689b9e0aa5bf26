"""Every outbound connection (IMAP today; SMTP, CalDAV and webhooks later) goes through here.

A host is resolved ONCE, every address it resolves to is checked (`adapters.netcheck`),
and the TCP connection goes to one of exactly those addresses, never to the name again:
a resolver that answers a public address to the check and a private one to the connect
(DNS rebinding) has no second question to answer. TLS is checked against the name as
typed (`server_hostname`), so certificates stay verified by name while the connection
goes to the checked address.

What the other side said when a connection fails is for the log only: callers answer a
generic `could_not_connect(destination)` (a response quoting it would read banners of
whatever listens on a port)."""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass

from adapters.netcheck import IPAddress, Resolver, check_host

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    """A host as typed, and the addresses it resolved to when it was checked."""

    host: str
    port: int
    addresses: tuple[IPAddress, ...]

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def resolve_checked(
    host: str,
    port: int,
    *,
    allow_private: bool,
    plaintext: bool = False,
    resolver: Resolver = socket.getaddrinfo,
) -> Destination:
    """Resolve `host` once and check every address (HostRefusedError when one is refused)."""
    addresses = check_host(host, port, allow_private=allow_private, plaintext=plaintext, resolver=resolver)
    return Destination(host, port, tuple(addresses))


def open_socket(
    destination: Destination, *, timeout: float | None, tls: ssl.SSLContext | None = None
) -> socket.socket:
    """A connected socket to one of the checked addresses, tried in the resolver's order.

    With `tls`, the handshake verifies the certificate against the typed host name. A
    refused or unreachable address moves on to the next; a TLS failure does not (it is
    the server's answer, not a missing route). The last error is raised."""
    failure: OSError = ConnectionError(f"no address for {destination}")
    for address in destination.addresses:
        try:
            # An IP literal: create_connection parses it, no resolver is asked again.
            sock = socket.create_connection((str(address), destination.port), timeout=timeout)
        except OSError as error:
            log.warning("connecting to %s (%s) failed: %s", destination, address, error)
            failure = error
            continue
        if tls is None:
            return sock
        try:
            return tls.wrap_socket(sock, server_hostname=destination.host)
        except BaseException:
            sock.close()
            raise
    raise failure


def could_not_connect(destination: Destination | str) -> str:
    """What a client is told when a connection fails, whatever the other side said."""
    return f"could not connect to {destination}"
