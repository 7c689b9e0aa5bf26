"""Stand-ins for the network around an outbound connection: resolvers and listeners.

`StubResolver` has socket.getaddrinfo's shape (the connector's resolver port) and answers
only for the names it was given, passing everything else (IP literals) to the real one.
`Listener` is a TCP listener on 127.0.0.1 that counts connections and may greet with a
banner. `only_loopback_answers` makes socket.create_connection refuse every address but
loopback, so a test never dials the internet and records what was dialled."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Self

import pytest

REAL_GETADDRINFO = socket.getaddrinfo
REAL_CREATE_CONNECTION = socket.create_connection


class StubResolver:
    """`answers[name]` is the list of answers per lookup, the last one repeated thereafter."""

    def __init__(self, answers: Mapping[str, Sequence[Sequence[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                 flags: int = 0) -> list[tuple[Any, ...]]:  # fmt: skip
        if host not in self.answers:
            return REAL_GETADDRINFO(host, port, family, type, proto, flags)
        self.calls.append(host)
        per_lookup = self.answers[host]
        addresses = per_lookup[min(len(self.calls), len(per_lookup)) - 1]
        return [_info(address, int(port)) for address in addresses]


def rebinding(name: str, public: str, public_answers: int = 1, inward: str = "127.0.0.1") -> StubResolver:
    """A DNS name that answers `public` to the first lookups, then `inward` for good."""
    return StubResolver({name: [[public]] * public_answers + [[inward]]})


def _info(address: str, port: int) -> tuple[Any, ...]:
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection; greets with `banner`."""

    def __init__(self, banner: bytes = b"") -> None:
        self.banner = banner
        self.accepted = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port: int = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.sendall(self.banner)
                    conn.recv(4096)  # what the client answers, then hang up as sshd would
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def only_loopback_answers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Refuse every TCP connection to a non-loopback address; the list records each dial."""
    dialled: list[tuple[str, int]] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        dialled.append((str(address[0]), int(address[1])))
        try:
            refused = not ipaddress.ip_address(address[0]).is_loopback
        except ValueError:  # a name: resolved by the real function, through socket.getaddrinfo
            return _dial_resolved(address, *args, **kwargs)
        if refused:
            raise ConnectionRefusedError(f"the test network does not route to {address[0]}")
        return REAL_CREATE_CONNECTION(address, *args, **kwargs)

    def _dial_resolved(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        infos = socket.getaddrinfo(address[0], address[1], 0, socket.SOCK_STREAM)
        loopback = [str(i[4][0]) for i in infos if ipaddress.ip_address(i[4][0]).is_loopback]
        if not loopback:
            raise ConnectionRefusedError(f"the test network does not route to {address[0]}")
        return REAL_CREATE_CONNECTION((loopback[0], address[1]), *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return dialled
