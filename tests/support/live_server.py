"""The real API served by uvicorn in a subprocess, and raw HTTP/1.1 exchanges with it.

The raw client sends a body chunk by chunk while a reader thread waits for the answer, so a
server that answers early (413) is seen answering early, and the client stops sending."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import free_port

START_TIMEOUT_S = 60


@dataclass
class LiveServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def status_kib(self, field: str) -> int:
        """A figure of /proc/<pid>/status in KiB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)


@contextlib.contextmanager
def live_server(database_url: str, master_key: str, cwd: Path) -> Iterator[LiveServer]:
    """`uvicorn --factory api.main:create_app` on a free loopback port, stopped (by its pid) after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILTRAIL_")}
    env.update({"MAILTRAIL_DATABASE_URL": database_url, "MAILTRAIL_MASTER_KEY": master_key})
    log = (cwd / "uvicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=Path(__file__).resolve().parents[2], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(port, process, cwd / "uvicorn.log")
        yield LiveServer(port, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not listen on {port}:\n{log.read_text()}")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the client managed to send before the answer came


def chunked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Transfer-Encoding: chunked framing of a stream of chunks."""
    for chunk in chunks:
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def exchange(port: int, method: str, path: str, headers: dict[str, str], body: Iterable[bytes]) -> Reply:
    """Send a request whose body is sent piece by piece, stopping as soon as the answer is complete."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    received = bytearray()
    answered = threading.Event()

    def read() -> None:
        try:
            while not _complete(received):
                data = sock.recv(65536)
                if not data:
                    break
                received.extend(data)
        except OSError:
            pass
        finally:
            answered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    try:
        sock.sendall(head.encode())
        for piece in body:
            if answered.is_set():
                break
            sock.sendall(piece)
            sent += len(piece)
    except OSError:  # the server closed the connection after answering
        pass
    answered.wait(60)
    sock.close()
    return _parse(bytes(received), sent)


def _split(data: bytes) -> tuple[bytes, bytes] | None:
    if b"\r\n\r\n" not in data:
        return None
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def _complete(data: bytearray) -> bool:
    parts = _split(bytes(data))
    if parts is None:
        return False
    head, rest = parts
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(rest) >= int(value)
    return False


def _parse(data: bytes, sent: int) -> Reply:
    parts = _split(data)
    assert parts is not None, f"no complete answer: {data[:200]!r}"
    head, body = parts
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), headers, body, sent)
