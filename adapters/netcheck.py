"""Refuse mail hosts on private or loopback addresses (no probing of internal networks)."""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HostRefusedError(ValueError):
    """The host resolves to an address the deployment does not allow."""


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    if not host.strip():
        raise HostRefusedError("no host given")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as error:  # gaierror, bad IDNA, NUL bytes
        raise HostRefusedError(f"{host!r} does not resolve: {error}") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        addresses.append(address)
    if not addresses:
        raise HostRefusedError(f"{host} does not resolve")
    return addresses


def is_public(address: IPAddress) -> bool:
    return address.is_global and not address.is_multicast


def check_host(host: str, port: int, *, allow_private: bool, plaintext: bool) -> list[IPAddress]:
    """The addresses of `host`, or HostRefusedError.

    Private, loopback, link-local and reserved addresses need `allow_private`;
    an unencrypted connection is only ever allowed to a loopback host."""
    addresses = resolve(host, port)
    if not allow_private and not all(is_public(a) for a in addresses):
        raise HostRefusedError(
            f"{host} resolves to a private or loopback address; such hosts are refused "
            "unless the deployment sets MAILTRAIL_ALLOW_PRIVATE_HOSTS=1"
        )
    if plaintext and not all(a.is_loopback for a in addresses):
        raise HostRefusedError("security 'none' (no TLS) is only allowed for a loopback host")
    return addresses
