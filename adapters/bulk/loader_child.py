"""The loading process of a pipelined rebuild: runs SQL on one SQLite file, in order.

Started by adapters/bulk/loader.py as `python -I -S loader_child.py PATH` and fed
requests on stdin; it imports the standard library only, so it starts in a few
milliseconds. Requests are frames (4-byte length, 1-byte codec, body). A large body
(a batch of rows) is not put through the pipe but appended to a spool file beside
the database, and the frame names where it is: a full pipe would make the sender
wait, and the sender would then wait again for the interpreter lock at every 64 KiB.
A body is a tuple:

    ("x", sql, params, reply)   execute one statement
    ("m", sql, rows)            executemany, never answered
    ("c",) / ("r", reply)       commit / rollback
    ("q",)                      close and exit

An answered request gets ("ok", description, rows, rowcount, lastrowid) or
("err", exception class name, message). The first failure of an unanswered
request is kept and every later request is skipped until one that is answered,
which gets that failure, after a rollback: nothing runs past an error.
"""

from __future__ import annotations

import marshal
import math
import os
import pickle
import re
import sqlite3
import sys
from typing import Any, BinaryIO

MARSHAL, PICKLE, SPOOLED = b"m", b"p", b"s"


def frame(codec: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + codec + body


def encode(message: Any) -> tuple[bytes, bytes]:
    """(codec, body): marshal when the values allow (ten times faster than pickle), else pickle of the
    values as built-in types (a str subclass such as SQLAlchemy's quoted_name as a str)."""
    try:
        codec, body = MARSHAL, marshal.dumps(message)
    except ValueError:
        plain = _plain(message)
        try:
            codec, body = MARSHAL, marshal.dumps(plain)
        except ValueError:
            codec, body = PICKLE, pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)
    return codec, body


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return (
            type(value)(_plain(v) for v in value)
            if type(value) in (tuple, list)
            else tuple(map(_plain, value))
        )
    if isinstance(value, str) and type(value) is not str:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
    if isinstance(value, int) and type(value) not in (int, bool):
        return int(value)
    return value


def read_frame(stream: BinaryIO, spool: Spool | None = None) -> Any:
    head = stream.read(5)
    if len(head) < 5:
        raise EOFError("the other side closed the pipe")
    codec, body = head[4:5], stream.read(int.from_bytes(head[:4], "big"))
    if codec == SPOOLED:
        if spool is None:
            raise ValueError("a spooled frame where none was expected")
        codec, body = spool.read(*marshal.loads(body))
    return marshal.loads(body) if codec == MARSHAL else pickle.loads(body)


def spool_path(database: str, number: int) -> str:
    return f"{database}.spool{number}"


class Spool:
    """Reads bodies out of the numbered spool files; deletes each once past it."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.number = -1
        self.file: BinaryIO | None = None

    def read(self, number: int, offset: int, length: int, codec: bytes) -> tuple[bytes, bytes]:
        if number != self.number:
            self.close()
            self.number, self.file = number, open(spool_path(self.database, number), "rb")  # noqa: SIM115
        assert self.file is not None
        self.file.seek(offset)
        return codec, self.file.read(length)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            os.unlink(self.file.name)
            self.file = None


def _regexp(pattern: str, value: str | None) -> bool | None:
    return None if value is None else re.search(pattern, value) is not None


def connect(path: str) -> sqlite3.Connection:
    """The functions SQLAlchemy's SQLite dialect registers on its connections, here too."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    conn.create_function("floor", 1, math.floor, deterministic=True)
    return conn


def serve(path: str, requests: BinaryIO, replies: BinaryIO) -> None:
    conn = connect(path)
    spool = Spool(path)
    failure: tuple[str, str] | None = None  # of a request nobody waited for, not yet told
    while (request := _next(requests, spool)) is not None and request[0] != "q":
        answered = request[0] in ("x", "r") and request[-1] is True
        if failure is not None:  # nothing runs past a failure until the caller is told of it
            if answered:
                _reply(replies, ("err", *failure))
                failure = None
            continue
        try:
            reply = _run(conn, request)
        except Exception as error:  # noqa: BLE001 - every failure goes back to the caller
            if answered:  # as sqlite3 does: the statement failed, the transaction is the caller's
                reply = ("err", type(error).__name__, str(error))
            else:
                failure = (type(error).__name__, f"{error} (from a statement sent earlier without waiting)")
                _rollback(conn)
                continue
        if answered:
            _reply(replies, reply)
    spool.close()
    conn.close()


def _next(requests: BinaryIO, spool: Spool) -> Any:
    try:
        return read_frame(requests, spool)
    except EOFError:  # the caller went away without saying goodbye
        return None


def _reply(replies: BinaryIO, reply: tuple[Any, ...]) -> None:
    replies.write(frame(*encode(reply)))
    replies.flush()


def _run(conn: sqlite3.Connection, request: tuple[Any, ...]) -> tuple[Any, ...]:
    kind = request[0]
    if kind == "m":
        conn.executemany(request[1], request[2])
        return ("ok",)
    if kind == "c":
        if conn.in_transaction:
            conn.execute("COMMIT")
        return ("ok",)
    if kind == "r":
        _rollback(conn)
        return ("ok", None, [], -1, None)
    cursor = conn.execute(request[1], request[2])
    description = tuple(tuple(d) for d in cursor.description) if cursor.description else None
    rows = cursor.fetchall() if description else []
    return ("ok", description, rows, cursor.rowcount, cursor.lastrowid)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
