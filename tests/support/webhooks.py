"""A webhook receiver on loopback that verifies every request with the Standard Webhooks
reference library, and can go down (its port closed: connections refused) and come back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.postgres import free_port


@dataclass
class Received:
    webhook_id: str
    body: bytes
    payload: dict[str, Any]


@dataclass
class Receiver:
    secret: str = ""
    port: int = field(default_factory=free_port)
    answer: int = 200  # the status it answers (410 to unsubscribe)
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # requests whose signature did not verify
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k: v for k, v in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                except WebhookVerificationError as error:
                    with receiver._lock:
                        receiver.rejected.append(str(error))
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver.received.append(Received(headers["webhook-id"], body, payload))
                self.send_response(receiver.answer)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def unique(self) -> list[Received]:
        """The deliveries in the order they first arrived, each webhook-id once."""
        seen: set[str] = set()
        result = []
        with self._lock:
            for r in self.received:
                if r.webhook_id not in seen:
                    seen.add(r.webhook_id)
                    result.append(r)
        return result

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.unique() if r.payload["type"] == event_type]


def wait_until(
    condition: Callable[[], bool], timeout: float = 15.0, step: Callable[[], None] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        if step is not None:
            step()
        time.sleep(0.02)


__all__ = ["Received", "Receiver", "wait_until"]
