"""A real SMTP submission server on loopback (aiosmtpd) for the sending tests.

It speaks SMTP with AUTH (PLAIN and LOGIN, allowed without TLS on loopback) and keeps what
it accepts. `replies` scripts the answers to the next DATA commands ("451 ..." then "250"),
`on_accept` runs after a message is taken and before the 250 goes back (a provider filing
it in the Sent folder, or a test killing the sender right there)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    users: dict[str, str]
    received: list[Received] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    on_accept: Callable[[Received], None] | None = None
    before_accept: Callable[[], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            reply = self.replies.pop(0) if self.replies else "250 2.0.0 OK queued"
        if not reply.startswith("250"):
            return reply
        if self.before_accept is not None:
            self.before_accept()
            self.before_accept = None
            return "421 4.3.0 closing"
        got = Received(
            envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content)
        )
        with self.lock:
            self.received.append(got)
        if self.on_accept is not None:
            self.on_accept(got)
        return reply

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            login, password = data.login.decode(), data.password.decode()
            if self.users.get(login) == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """`tls`: the certificate and key to offer, by STARTTLS (required before MAIL) or, with
    `implicit`, from the first byte (port 465 style)."""

    def __init__(self, tls: tuple[Path, Path] | None = None, implicit: bool = False) -> None:
        self.handler = _Handler(users={})
        self.port = _free_port()
        options: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            options = (
                {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
            )
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, authenticator=self.handler.authenticate,
            auth_require_tls=False, auth_required=False, **options,
        )  # fmt: skip

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def add_user(self, user: str, password: str) -> None:
        self.handler.users[user] = password

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.received.clear()
            self.handler.replies.clear()
        self.handler.on_accept = None
        self.handler.before_accept = None

    def script(self, *replies: str) -> None:
        with self.handler.lock:
            self.handler.replies.extend(replies)


class TestClock:
    """The Clock port, moved by the test (no sleeps)."""

    __test__ = False

    def __init__(self, now: datetime | None = None) -> None:
        self.at = now or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
