"""SMTP submission over TLS and STARTTLS: verified against the typed name, over the checked address."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from adapters.smtp_transport import SmtpTransport
from application.compose import compose
from application.ports import PermanentTransportError
from tests.support.outbound import StubResolver
from tests.support.smtp import SmtpServer, TestClock
from tests.support.tls import TlsFiles, make_certificates

NAME = "smtp.mailtrail.test"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(Path(tmp_path_factory.mktemp("smtp-tls")), [NAME])


@pytest.fixture(params=["starttls", "tls"])
def server(request: pytest.FixtureRequest, certificates: TlsFiles) -> Iterator[tuple[str, SmtpServer]]:
    with SmtpServer(tls=(certificates.cert, certificates.key), implicit=request.param == "tls") as smtp:
        smtp.add_user("bob", "secret")
        yield request.param, smtp


def _transport(
    security: str, smtp: SmtpServer, certificates: TlsFiles, host: str = NAME, **kw: Any
) -> SmtpTransport:
    connection = {
        "smtp_host": host,
        "smtp_port": smtp.port,
        "smtp_security": security,
        "smtp_username": "bob",
    }
    return SmtpTransport(
        connection, {"smtp_password": "secret"}, timeout=10, allow_private=kw.pop("allow_private", True),
        resolver=StubResolver({NAME: [["127.0.0.1"]], "other.mailtrail.test": [["127.0.0.1"]]}),
        tls_context=partial(ssl.create_default_context, cafile=str(certificates.ca)),
    )  # fmt: skip


def _raw() -> bytes:
    headers = {
        "from": "bob@acme.com",
        "to": ["carol@example.org"],
        "subject": "Hi",
        "message_id": "<t@acme.com>",
    }
    return compose(headers, {"text": "hello"}, TestClock().now())


def test_a_message_goes_over_tls_verified_against_the_typed_name(
    server: tuple[str, SmtpServer], certificates: TlsFiles
) -> None:
    security, smtp = server
    transport = _transport(security, smtp, certificates)
    transport.check()
    assert transport.send(_raw(), "bob@acme.com", ["carol@example.org"]).reply == "accepted"
    [received] = smtp.received
    assert received.message["Message-ID"] == "<t@acme.com>" and received.rcpt_tos == ["carol@example.org"]


def test_a_certificate_for_another_name_is_refused_before_anything_is_sent(
    server: tuple[str, SmtpServer], certificates: TlsFiles
) -> None:
    security, smtp = server
    transport = _transport(security, smtp, certificates, host="other.mailtrail.test")
    with pytest.raises(PermanentTransportError, match="TLS certificate was not accepted"):
        transport.send(_raw(), "bob@acme.com", ["carol@example.org"])
    assert smtp.received == []


def test_a_host_on_a_private_address_is_refused_unless_the_deployment_allows_it(
    server: tuple[str, SmtpServer], certificates: TlsFiles
) -> None:
    security, smtp = server
    transport = _transport(security, smtp, certificates, allow_private=False)
    with pytest.raises(PermanentTransportError, match="MAILTRAIL_ALLOW_PRIVATE_HOSTS"):
        transport.send(_raw(), "bob@acme.com", ["carol@example.org"])
    assert smtp.received == []
