"""A DNS server on a loopback UDP port that answers TXT queries from a dict (NXDOMAIN for the
rest): where the inbound server's DKIM lookups go in tests (`MAILTRAIL_INBOUND_DNS`)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.rrset


class DnsStub:
    def __init__(self, records: dict[str, str]) -> None:
        self.records = {name.rstrip(".").lower(): value for name, value in records.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.queries: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-stub", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            self.queries.append(name)
            value = self.records.get(name)
            if value is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:  # a TXT record's strings are at most 255 characters each
                chunks = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT", chunks))
            self.sock.sendto(response.to_wire(), peer)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@contextlib.contextmanager
def dns_stub(records: dict[str, str]) -> Iterator[DnsStub]:
    stub = DnsStub(records)
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()
