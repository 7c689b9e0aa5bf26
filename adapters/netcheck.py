"""Which addresses an outbound connection may reach (no probing of internal networks).

The policy only: `adapters.outbound` resolves a host once through it and connects to
exactly the addresses it allowed."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# socket.getaddrinfo's shape: called as resolver(host, port, type=socket.SOCK_STREAM).
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

# IPv6 forms that carry an IPv4 address: the address they reach is the embedded one.
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits
SIXTOFOUR = ipaddress.ip_network("2002::/16")  # RFC 3056: bits 16-48
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291, deprecated: the last 32 bits
# Refused whatever they carry: a local NAT64 prefix embeds its IPv4 address at an offset
# only its operator knows (RFC 8215), and Teredo's client address is obfuscated (RFC 4380).
ALWAYS_REFUSED = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("2001::/32"))


class HostRefusedError(ValueError):
    """The host resolves to an address the deployment does not allow."""


def resolve(host: str, port: int, resolver: Resolver = socket.getaddrinfo) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself), asked once.

    An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address it maps."""
    if not host.strip():
        raise HostRefusedError("no host given")
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):  # gaierror, bad IDNA, NUL bytes
        raise HostRefusedError(f"{host} does not resolve") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]))  # keeps an IPv6 scope (%eth0) for the connect
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HostRefusedError(f"{host} does not resolve")
    return addresses


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form reaches, or None for a plain IPv6 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or address in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """A global unicast address; a transition form is judged by the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in ALWAYS_REFUSED):
            return False
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


def check_host(
    host: str, port: int, *, allow_private: bool, plaintext: bool, resolver: Resolver = socket.getaddrinfo
) -> list[IPAddress]:
    """The addresses of `host`, resolved once, or HostRefusedError.

    Private, loopback, link-local and reserved addresses (and IPv6 forms that reach them)
    need `allow_private`; an unencrypted connection is only ever allowed to a loopback host."""
    addresses = resolve(host, port, resolver)
    if not allow_private and not all(is_public(a) for a in addresses):
        raise HostRefusedError(
            f"{host} resolves to a private or loopback address; such hosts are refused "
            "unless the deployment sets MAILTRAIL_ALLOW_PRIVATE_HOSTS=1"
        )
    if plaintext and not all(a.is_loopback for a in addresses):
        raise HostRefusedError("security 'none' (no TLS) is only allowed for a loopback host")
    return addresses
