"""Outbound connections: resolved once, checked, connected to the checked address, and TLS
verified against the name as typed (a TLS Dovecot behind a stub resolver)."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from adapters.imap import ImapConnector
from adapters.mime import parse_message
from adapters.netcheck import HostRefusedError, check_host
from adapters.outbound import open_socket, resolve_checked
from application.ports import MailServerError, MailUnavailableError
from tests.support.dovecot import DovecotServer
from tests.support.imap import new_user, requires_dovecot
from tests.support.outbound import Listener, StubResolver, only_loopback_answers, rebinding
from tests.support.tls import TlsFiles, make_certificates

SSH_BANNER = b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n"


def _answers(address: str) -> StubResolver:
    return StubResolver({"mail.example.net": [[address]]})


# --- which addresses are refused ------------------------------------------------------

REFUSED_TRANSITION_FORMS = [
    "64:ff9b::a00:1",  # NAT64 well-known prefix -> 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 -> 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 -> 169.254.169.254 (cloud metadata)
    "64:ff9b:1::808:808",  # local-use NAT64 prefix: refused whatever it embeds
    "64:ff9b:1:ffff::a00:1",
    "2002:a00:1::1",  # 6to4 -> 10.0.0.1
    "2002:7f00:1::1",  # 6to4 -> 127.0.0.1
    "2002:c0a8:1::1",  # 6to4 -> 192.168.0.1
    "::a00:1",  # IPv4-compatible -> 10.0.0.1
    "::7f00:1",  # IPv4-compatible -> 127.0.0.1
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo: refused whatever it carries
]
ALLOWED_FORMS = [
    ("64:ff9b::808:808", "64:ff9b::808:808"),  # NAT64 -> 8.8.8.8
    ("2002:808:808::1", "2002:808:808::1"),  # 6to4 -> 8.8.8.8
    ("::808:808", "::808:808"),  # IPv4-compatible -> 8.8.8.8
    ("::ffff:8.8.8.8", "8.8.8.8"),  # IPv4-mapped: connected to over IPv4
    ("2606:4700:4700::1111", "2606:4700:4700::1111"),  # plain global IPv6
]


@pytest.mark.parametrize("address", REFUSED_TRANSITION_FORMS)
def test_ipv6_forms_that_reach_private_ipv4_space_are_refused(address: str) -> None:
    with pytest.raises(HostRefusedError, match="MAILTRAIL_ALLOW_PRIVATE_HOSTS"):
        check_host("mail.example.net", 993, allow_private=False, plaintext=False, resolver=_answers(address))
    # a deployment that allows private hosts allows them too (what it asked for)
    check_host("mail.example.net", 993, allow_private=True, plaintext=False, resolver=_answers(address))


@pytest.mark.parametrize(("address", "connected_to"), ALLOWED_FORMS)
def test_ipv6_forms_that_reach_public_ipv4_addresses_are_allowed(address: str, connected_to: str) -> None:
    destination = resolve_checked("mail.example.net", 993, allow_private=False, resolver=_answers(address))
    assert [str(a) for a in destination.addresses] == [connected_to]


def test_one_refused_address_among_public_ones_refuses_the_host() -> None:
    resolver = StubResolver({"mail.example.net": [["8.8.8.8", "64:ff9b::a00:1"]]})
    with pytest.raises(HostRefusedError):
        resolve_checked("mail.example.net", 993, allow_private=False, resolver=resolver)


# --- one resolution, the connection to the checked address ----------------------------


def test_a_rebinding_name_is_resolved_once_and_the_connection_never_reaches_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Public to the first lookups, 127.0.0.1 after: only the first answer is ever used."""
    with Listener(b"* OK loopback service\r\n") as listener:
        resolver = rebinding("mail.rebind.example", "8.8.8.8", public_answers=2)
        monkeypatch.setattr(socket, "getaddrinfo", resolver)  # any second lookup would be seen too
        dialled = only_loopback_answers(monkeypatch)
        connector = ImapConnector(parse_message, timeout=5, resolver=resolver)
        connection = {
            "host": "mail.rebind.example",
            "port": listener.port,
            "security": "tls",
            "username": "u",
        }

        with pytest.raises(MailUnavailableError) as raised:
            connector.connect(connection, {"password": "p"})

        assert str(raised.value) == f"could not connect to mail.rebind.example:{listener.port}"
        assert resolver.calls == ["mail.rebind.example"]
        assert dialled == [("8.8.8.8", listener.port)]
        assert listener.accepted == 0


def test_open_socket_tries_each_checked_address_in_order_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Listener() as listener:
        resolver = StubResolver({"mail.example.net": [["8.8.8.8", "127.0.0.1"]]})
        dialled = only_loopback_answers(monkeypatch)
        destination = resolve_checked(
            "mail.example.net", listener.port, allow_private=True, resolver=resolver
        )
        with open_socket(destination, timeout=5) as sock:
            assert sock.getpeername() == ("127.0.0.1", listener.port)
        assert dialled == [("8.8.8.8", listener.port), ("127.0.0.1", listener.port)]
        assert resolver.calls == ["mail.example.net"]


@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
def test_a_banner_from_the_other_side_is_logged_never_put_in_the_error(
    security: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with Listener(SSH_BANNER) as listener:
        connector = ImapConnector(parse_message, timeout=5, allow_private=True)
        connection = {"host": "127.0.0.1", "port": listener.port, "security": security, "username": "u"}
        with pytest.raises(MailServerError) as raised:
            connector.connect(connection, {"password": "p"})
    assert str(raised.value) == f"could not connect to 127.0.0.1:{listener.port}"
    assert listener.accepted == 1
    if security != "tls":  # over TLS the banner is a failed handshake, not text
        assert "SSH-2.0-OpenSSH_8.9p1" in caplog.text


# --- TLS and STARTTLS verify the typed name while connecting to the checked address ---

NAMES = {"imap.mailtrail.test": [["127.0.0.1"]], "other.mailtrail.test": [["127.0.0.1"]]}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(Path(tmp_path_factory.mktemp("tls")), ["imap.mailtrail.test"])


@pytest.fixture(scope="module")
def tls_dovecot(certificates: TlsFiles) -> Iterator[DovecotServer]:
    with DovecotServer(tls=certificates) as server:
        yield server


def _connector(certificates: TlsFiles, resolver: StubResolver) -> ImapConnector:
    return ImapConnector(parse_message, timeout=10, allow_private=True, resolver=resolver,
                         tls_context=partial(ssl.create_default_context, cafile=str(certificates.ca)))  # fmt: skip


def _connection(server: DovecotServer, host: str, security: str, user: str) -> dict[str, Any]:
    port = server.tls_port if security == "tls" else server.port
    return {"host": host, "port": port, "security": security, "username": user}


@requires_dovecot
@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_is_verified_against_the_typed_name_over_the_checked_address(
    security: str, tls_dovecot: DovecotServer, certificates: TlsFiles
) -> None:
    user, password = new_user(tls_dovecot)
    resolver = StubResolver(NAMES)
    server = _connector(certificates, resolver).connect(
        _connection(tls_dovecot, "imap.mailtrail.test", security, user), {"password": password}
    )
    try:
        assert server.folders() == ["INBOX", "Sent"]
        sock = server.client.socket()
        assert isinstance(sock, ssl.SSLSocket) and sock.server_hostname == "imap.mailtrail.test"
        assert sock.getpeername()[:2] == ("127.0.0.1", _connection(tls_dovecot, "", security, "")["port"])
    finally:
        server.close()
    assert resolver.calls == ["imap.mailtrail.test"]


@requires_dovecot
@pytest.mark.parametrize("security", ["tls", "starttls"])
@pytest.mark.parametrize("host", ["other.mailtrail.test", "127.0.0.1"])
def test_a_certificate_for_another_name_is_refused_though_the_address_is_the_same(
    security: str, host: str, tls_dovecot: DovecotServer, certificates: TlsFiles
) -> None:
    user, password = new_user(tls_dovecot)
    connection = _connection(tls_dovecot, host, security, user)
    with pytest.raises(MailServerError) as raised:
        _connector(certificates, StubResolver(NAMES)).connect(connection, {"password": password})
    assert str(raised.value) == (
        f"could not connect to {host}:{connection['port']}: the server's TLS certificate was not accepted"
    )
