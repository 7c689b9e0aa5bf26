"""`mailtrail inbound`: an SMTP server (aiosmtpd) taking mail for members' capture addresses.

RCPT asks the capture service whose address it is (550 otherwise, before any data is read);
DATA hands the message over (550 with the reason when it is refused: nothing is stored). A
message over the upload limit is refused by the server itself: 552 at MAIL when the client
declares its SIZE, else at the end of DATA. The capture token is never logged: addresses are
shown as `slug+…@domain`."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from application.errors import DomainError
from application.services.capture import Capture, Captured, CaptureRefusedError, CaptureTarget
from domain.message import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)
T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_TRUSTED = ("127.0.0.0/8", "::1/128")
WORKERS = 4


def networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """`MAILTRAIL_INBOUND_TRUSTED`: networks in CIDR form (an address alone is a /32 or /128)."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def masked(address: str) -> str:
    local, _, domain = address.strip("<>").rpartition("@")
    return f"{local.partition('+')[0]}+…@{domain}"


def _smtp_text(reason: str) -> str:
    return " ".join(reason.replace("\r", " ").replace("\n", " ").split())[:400]


class CaptureHandler:
    """aiosmtpd's handler: the capture service's checks at RCPT and DATA, off the event loop."""

    def __init__(self, capture: Capture, trusted: Sequence[Network]) -> None:
        self.capture = capture
        self.trusted = tuple(trusted)
        self.executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="inbound")

    def is_trusted(self, peer: Any) -> bool:
        host = peer[0] if isinstance(peer, tuple) else peer
        try:
            ip = ipaddress.ip_address(str(host).split("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.trusted)

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        try:
            target = await self._run(lambda: self.capture.recipient(address))
        except CaptureRefusedError as refused:
            log.info("refused recipient %s: %s", masked(address), refused)
            return f"550 5.1.1 {_smtp_text(str(refused))}"
        except Exception:
            log.exception("recipient check failed for %s", masked(address))
            return "451 4.3.0 temporary failure, try again later"
        targets: list[CaptureTarget] = getattr(envelope, "capture_targets", [])
        if target not in targets:
            targets.append(target)
        envelope.capture_targets = targets  # type: ignore[attr-defined]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        targets: list[CaptureTarget] = getattr(envelope, "capture_targets", [])
        raw = envelope.original_content or b""
        trusted = self.is_trusted(session.peer)
        try:
            results = await self._run(lambda: self.capture.accept(targets, bytes(raw), trusted))
        except CaptureRefusedError as refused:
            log.info("refused a message from %s: %s", session.peer, refused)
            return f"550 5.7.1 {_smtp_text(str(refused))}"
        except DomainError as error:
            log.warning("capture conflict, asking to retry: %s", error)
            return "451 4.3.0 temporary failure, try again later"
        except Exception:
            log.exception("capture failed")
            return "451 4.3.0 temporary failure, try again later"
        return f"250 2.0.0 {_smtp_text('; '.join(_said(r) for r in results))}"


def _said(result: Captured) -> str:
    what = f"captured ({result.kind})" if result.copy_id else f"not stored ({result.kind}: {result.skipped})"
    return f"{what}: {result.reason}" if result.reason else what


class InboundServer:
    """The SMTP server on its own event loop thread (aiosmtpd's Controller)."""

    def __init__(self, handler: CaptureHandler, host: str, port: int, hostname: str | None) -> None:
        self.handler = handler
        self.controller = Controller(
            handler, hostname=host, port=port, server_hostname=hostname, ident="mailtrail inbound",
            data_size_limit=MAX_MESSAGE_BYTES, decode_data=False, enable_SMTPUTF8=True,
        )  # fmt: skip

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
        self.handler.executor.shutdown(wait=True)
