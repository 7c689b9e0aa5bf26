"""The views' applier lock and wake-ups: a file lock next to a SQLite store, a PostgreSQL
advisory lock and LISTEN/NOTIFY on PostgreSQL (projections/views_runner.py ViewApplier uses them)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from projections.views_runner import Wakeups

log = logging.getLogger(__name__)

ADVISORY_KEY = 0x6D61696C7472  # "mailtr": one views applier per database
VIEWS_CHANNEL = "mailtrail_views"


class FileLock:
    """An exclusive `flock` on a file beside the SQLite store. Per open file: two runtimes of
    one process exclude each other too; the kernel lets it go when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = False
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        return True

    def still_held(self) -> bool:
        return self.held

    def release(self) -> None:
        if self._fd is not None and self.held:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self.held = False

    def close(self) -> None:
        self.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class AdvisoryLock:
    """A session-level PostgreSQL advisory lock on a connection of its own; the server lets it
    go when the session ends, so a dead applier frees it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.held = False
        self._conn: psycopg.Connection[Any] | None = None
        self._guard = threading.Lock()

    def try_acquire(self) -> bool:
        with self._guard:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.url, autocommit=True)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()
            self.held = bool(row and row[0])
            return self.held

    def still_held(self) -> bool:
        """False once the lock's session is gone (then another process may hold it)."""
        with self._guard:
            try:
                assert self._conn is not None
                self._conn.execute("SELECT 1")
            except (psycopg.Error, AssertionError):
                if self.held:
                    log.warning("lost the views applier lock with its database session")
                self.held = False
                self._close()
            return self.held

    def release(self) -> None:
        with self._guard:
            if self.held and self._conn is not None and not self._conn.closed:
                with contextlib.suppress(psycopg.Error):
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
            self.held = False

    def close(self) -> None:
        self.release()
        with self._guard:
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class PostgresWakeups(Wakeups):
    """LISTEN on the event store's channel (its recorder NOTIFYs on every insert) and on the
    views' channel (the applier NOTIFYs after a catch-up). Ticks are only a fallback."""

    events_tick = 0.5
    views_tick = 0.05

    def __init__(self, url: str, events_channel: str) -> None:
        super().__init__()
        self.url = url
        self.events_channel = events_channel
        self._closed = threading.Event()
        self._notifier: psycopg.Connection[Any] | None = None
        self._notify_guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def _listening(self) -> None:
        """Start listening on first wait: a command that only applies never needs to."""
        with self._notify_guard:
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._listen, name="views-listen", daemon=True)
                self._thread.start()

    def wait_for_events(self, since: int, timeout: float, log_grew: Any) -> None:
        self._listening()
        self.events.wait(since, timeout)

    def wait_for_views(self, since: int, timeout: float) -> None:
        self._listening()
        self.views.wait(since, timeout)

    def views_moved(self, position: int) -> None:
        super().views_moved(position)
        with self._notify_guard:
            try:
                if self._notifier is None or self._notifier.closed:
                    self._notifier = psycopg.connect(self.url, autocommit=True)
                self._notifier.execute("SELECT pg_notify(%s, %s)", (VIEWS_CHANNEL, str(position)))
            except psycopg.Error:
                log.warning("could not announce the views' position; waiters poll instead")
                self._notifier = None

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.events_channel)))
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(VIEWS_CHANNEL)))
                    self.events.fire()  # anything missed while not listening
                    while not self._closed.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            (self.views if notice.channel == VIEWS_CHANNEL else self.events).fire()
            except psycopg.Error:
                if not self._closed.is_set():
                    log.warning("views listener lost its connection; reconnecting")
                self._closed.wait(1.0)

    def close(self) -> None:
        self._closed.set()
        with self._notify_guard:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=2)
        with self._notify_guard:
            if self._notifier is not None:
                with contextlib.suppress(psycopg.Error):
                    self._notifier.close()
