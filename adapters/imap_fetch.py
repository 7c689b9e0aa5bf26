"""Fetch and parse in a child process, so the parent only saves.

`python -m adapters.imap_fetch` reads one pickled job on stdin (connector, connection,
secret, folder, UIDVALIDITY, UID batches: the secret never shows in argv or the
environment), logs in with its own connection, EXAMINEs the folder and writes one
length-prefixed pickled batch of Fetched records after another to stdout. The pipe is
the bounded queue: when the parent falls behind, the child blocks, so memory stays flat.
The child dies with its parent (PR_SET_PDEATHSIG, and EPIPE on its next write), so a
SIGKILLed sync never leaves a fetcher behind. Only this module's imports are loaded
in the child, not the CLI or the API."""

from __future__ import annotations

import contextlib
import copyreg
import ctypes
import dataclasses
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from application.ports import Fetched, MailAuthError, MailServerError, MailUnavailableError, Rejected
from domain.message import Address, Attachment, ParsedMessage

if TYPE_CHECKING:
    from adapters.imap import ImapServer

log = logging.getLogger(__name__)
DEPTH = 3  # batches read ahead of the saver
HEADER = struct.Struct("!Q")
_ROOT = str(Path(__file__).resolve().parents[1])
_PEAK_KB = [0]
_ERRORS: dict[str, type[MailServerError]] = {
    "MailAuthError": MailAuthError,
    "MailUnavailableError": MailUnavailableError,
    "MailServerError": MailServerError,
}


def fetch_in_child(
    server: ImapServer, folder: str, uidvalidity: int, batches: Sequence[Sequence[int]]
) -> Generator[list[Fetched], None, None]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-m", "adapters.imap_fetch"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=env)  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    job = (
        server.connector,
        server.connection,
        server.secret,
        folder,
        uidvalidity,
        [list(b) for b in batches],
    )
    frames: queue.Queue[bytes | None] = queue.Queue(maxsize=DEPTH)
    reader = threading.Thread(target=_read_frames, args=(child.stdout, frames), daemon=True)
    try:
        child.stdin.write(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
        child.stdin.close()
        reader.start()
        for _ in batches:
            frame = frames.get()
            if frame is None:
                raise MailUnavailableError(f"the fetch process ended (exit code {child.wait()})")
            kind, payload = pickle.loads(frame)
            if kind == "error":
                name, message = payload
                raise _ERRORS.get(name, MailServerError)(message)
            yield payload
        last = frames.get()  # ("done", the child's peak RSS)
        if last is not None:
            _PEAK_KB[0] = max(_PEAK_KB[0], int(pickle.loads(last)[1]))
    except BrokenPipeError:
        raise MailUnavailableError(f"the fetch process ended (exit code {child.wait()})") from None
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        while reader.is_alive():  # it may wait on a full queue: drain until it sees EOF
            with contextlib.suppress(queue.Empty):
                while True:
                    frames.get_nowait()
            reader.join(0.05)
        child.stdout.close()


def peak_rss_kb() -> int:
    """The largest peak RSS a fetch process of this process reported (VmHWM: after exec,
    unlike ru_maxrss, which counts the parent's pages the child had before exec)."""
    return _PEAK_KB[0]


def _read_frames(stream: IO[bytes], frames: queue.Queue[bytes | None]) -> None:
    try:
        while header := stream.read(HEADER.size):
            (size,) = HEADER.unpack(header)
            frames.put(stream.read(size))
    except (OSError, ValueError):
        pass
    frames.put(None)


def _compact_pickles() -> None:
    """Pickle parsed messages as constructor calls: unpickling a slotted dataclass through
    its generic __setstate__ costs the saving parent several times more."""
    for cls in (Address, Attachment, ParsedMessage, Fetched, Rejected):
        copyreg.pickle(cls, _as_constructor_call(cls))


def _as_constructor_call(cls: type) -> Callable[[Any], tuple[type, tuple[Any, ...]]]:
    names = [f.name for f in dataclasses.fields(cls)]

    def reduce(obj: Any) -> tuple[type, tuple[Any, ...]]:
        return cls, tuple(getattr(obj, name) for name in names)

    return reduce


def _serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """The child: fetch each batch, parse it and write it to the parent."""
    _compact_pickles()
    connector, connection, secret, folder, uidvalidity, batches = pickle.load(source)
    server = None
    try:
        server = connector.connect(connection, secret)
        server.open(folder)
        for fetched in server.fetch_here(folder, uidvalidity, batches):
            _write(sink, ("batch", fetched))
        _write(sink, ("done", _own_peak_kb()))
    except MailServerError as error:
        _write(sink, ("error", (type(error).__name__, str(error))))
    except BrokenPipeError:
        raise
    except Exception as error:  # noqa: BLE001 - reported to the parent, typed; the detail is logged only
        log.warning("the fetch process failed: %s: %s", type(error).__name__, error)
        _write(sink, ("error", ("MailServerError", f"the fetch process failed ({type(error).__name__})")))
    finally:
        if server is not None:
            server.close()


def _write(sink: IO[bytes], message: tuple[str, Any]) -> None:
    frame = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sink.write(HEADER.pack(len(frame)) + frame)
    sink.flush()


def _own_peak_kb() -> int:
    with contextlib.suppress(OSError, StopIteration, ValueError), open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1])
    return 0


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent is already gone
        os._exit(1)


if __name__ == "__main__":
    _die_with_parent()
    try:
        _serve(sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:
        os._exit(1)
