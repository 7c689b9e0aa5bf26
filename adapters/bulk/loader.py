"""A DB-API connection whose SQL runs in a loading process: a pipelined SQLite rebuild.

A rebuild spends about as long in SQLite (inserting rows, building indexes) as in
Python (reading, decrypting and parsing the log, making rows), and SQLite cannot
overlap them in one process: its driver takes the interpreter lock back for every
row. So a rebuild's SQL goes to a second process (adapters/bulk/loader_child.py),
in order, over a pipe; statements that change rows are sent without waiting, and
only a statement whose rows or count are read (a SELECT) waits for its answer.
While the loader writes one batch of rows, this process decodes the next.

SQLAlchemy sees an ordinary pysqlite connection: `create_engine(..., creator=...)`.
What differs, and why it is safe for a throwaway store only:

* a statement sent without waiting reports `rowcount == -1` (DB-API: unknown);
* its failure is raised by the next statement that waits (or by `close`), after
  the loader rolled back; nothing runs in between. A rebuild ends by reading its
  position back, which waits for everything before it.
"""

from __future__ import annotations

import glob
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, QueuePool, create_engine

from adapters.bulk.loader_child import SPOOLED, encode, frame, read_frame, spool_path
from adapters.persistence import configure_sqlite, private_sqlite_file, writer_engine

CHILD = Path(__file__).with_name("loader_child.py")
INLINE_BYTES = 16 * 1024  # bodies up to this go through the pipe, larger ones by a spool file
SPOOL_BYTES = 64 * 1024 * 1024  # a spool file this full is left for a new one (the loader deletes it)
# Statements whose answer someone reads: their rows, or the count of a RETURNING.
_ANSWERED = re.compile(r"^\s*(SELECT|WITH|PRAGMA|VALUES|EXPLAIN)\b|\bRETURNING\b", re.IGNORECASE)


class LoaderConnection:
    """The DB-API connection SQLAlchemy's SQLite dialect uses, backed by a loading process."""

    pipelined = True  # told to projections.writer.ViewWriter: send rows early, do not batch for long

    def __init__(self, path: Path | str) -> None:
        self.isolation_level: str | None = None
        self._database = str(path)
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(CHILD), self._database],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._spool_number, self._spool_fd, self._spool_size = -1, -1, SPOOL_BYTES
        self._closed = False

    def post(self, request: tuple[Any, ...]) -> None:
        """Send without waiting."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        codec, body = encode(request)
        if len(body) > INLINE_BYTES:
            codec, body = SPOOLED, self._spool(codec, body)
        try:
            _write_all(self._process.stdin.fileno(), frame(codec, body))  # type: ignore[union-attr]
        except BrokenPipeError:
            raise self._died() from None

    def ask(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        """Send and wait for the answer, which comes after everything sent before."""
        self.post(request)
        try:
            reply = read_frame(self._process.stdout)  # type: ignore[arg-type]
        except EOFError:
            raise self._died() from None
        if reply[0] == "err":
            raise _error(reply[1], reply[2])
        return reply

    def cursor(self) -> LoaderCursor:
        return LoaderCursor(self)

    def commit(self) -> None:
        self.post(("c",))

    def rollback(self) -> None:
        """Sent without waiting too: the pool rolls back on every check-in, after each commit."""
        self.post(("r", False))

    def create_function(self, name: str, *_: Any, **__: Any) -> None:
        """The loader registers SQLAlchemy's two functions itself; others cannot cross a pipe."""
        if name not in ("regexp", "floor"):
            raise sqlite3.NotSupportedError(f"function {name!r} is not available in the loading process")

    def close(self) -> None:
        """Stop the loader after what was sent; raises a failure nobody was told of yet."""
        if self._closed:
            return
        try:
            self.ask(("r", True))  # waits for everything sent, and reports what failed unseen
        finally:
            self._closed = True
            try:
                _write_all(self._process.stdin.fileno(), frame(*encode(("q",))))  # type: ignore[union-attr]
            except OSError:
                pass  # it is gone already
            for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
                if stream is not None and not stream.closed:
                    stream.close()
            self._process.wait()
            if self._spool_fd >= 0:
                os.close(self._spool_fd)
            for leftover in glob.glob(glob.escape(self._database) + ".spool*"):
                os.unlink(leftover)

    def _spool(self, codec: bytes, body: bytes) -> bytes:
        """Append a body to the spool; returns the frame body that says where it is."""
        if self._spool_size + len(body) > SPOOL_BYTES and self._spool_size > 0:
            if self._spool_fd >= 0:
                os.close(self._spool_fd)
            self._spool_number += 1
            self._spool_fd = os.open(
                spool_path(self._database, self._spool_number), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
            )
            self._spool_size = 0
        _write_all(self._spool_fd, body)
        where = (self._spool_number, self._spool_size, len(body), codec)
        self._spool_size += len(body)
        return encode(where)[1]

    def _died(self) -> sqlite3.OperationalError:
        _, stderr = self._process.communicate()
        detail = stderr.decode(errors="replace").strip()
        return sqlite3.OperationalError(
            f"the loading process exited with status {self._process.returncode}"
            + (f": {detail}" if detail else "")
        )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class LoaderCursor:
    """Enough of a sqlite3 cursor for SQLAlchemy: execute, executemany, fetch*, description."""

    arraysize = 1

    def __init__(self, connection: LoaderConnection) -> None:
        self.connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> LoaderCursor:
        request = ("x", sql, tuple(parameters))
        if _ANSWERED.search(sql):
            _, description, rows, rowcount, lastrowid = self.connection.ask((*request, True))
            self._set(description, rows, rowcount, lastrowid)
        else:
            self.connection.post((*request, False))
            self._set(None, [], -1, None)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]]) -> LoaderCursor:
        rows = seq_of_parameters if isinstance(seq_of_parameters, list) else list(seq_of_parameters)
        self.connection.post(("m", sql, rows))
        self._set(None, [], -1, None)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        size = self.arraysize if size is None else size
        taken, self._rows = self._rows[:size], self._rows[size:]
        return taken

    def fetchall(self) -> list[tuple[Any, ...]]:
        taken, self._rows = self._rows, []
        return taken

    def close(self) -> None:
        self._rows = []

    def _set(self, description: Any, rows: list[Any], rowcount: int, lastrowid: int | None) -> None:
        self.description, self._rows, self.rowcount, self.lastrowid = (
            description,
            list(rows),
            rowcount,
            lastrowid,
        )


def _error(name: str, message: str) -> sqlite3.Error:
    """The loader's exception as the sqlite3 class of the same name, so SQLAlchemy wraps it alike."""
    kind = getattr(sqlite3, name, None)
    if isinstance(kind, type) and issubclass(kind, sqlite3.Error):
        return kind(message)
    return sqlite3.OperationalError(f"{name}: {message}")


def loading_engine(path: Path | str) -> Engine:
    """A scratch SQLite store's writer whose SQL runs in a loading process, pipelined with
    the caller; one connection. Dispose of it to stop the process."""
    private_sqlite_file(Path(path))
    engine = create_engine(
        "sqlite://", creator=lambda: LoaderConnection(path), poolclass=QueuePool, pool_size=1, max_overflow=0
    )
    configure_sqlite(engine, scratch=True)
    return writer_engine(engine)
