"""One applier of the views per store; every other process waits for the views to reach a position.

The process that holds the applier lock (adapters/applier_lock.py: a PostgreSQL advisory lock,
or a file lock next to the SQLite file) runs the projection runner; any other process never
applies and, to read its own writes, waits until the views' tracked position reaches the
position it needs. A server's runtime keeps the lock once it has it (`hold`); a one-shot command
takes it for one catch-up and lets it go, so it never keeps a server from applying."""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from projections.views_runner import ViewsRunner

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


class ViewsBehindError(Exception):
    """The views did not reach the position a request waits for in time."""

    retry_after = 1  # seconds; the API answers it as Retry-After


class ApplierLock(Protocol):
    held: bool

    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class Pulse:
    """A generation counter to wait on: `since = mark()`, look, then `wait(since, timeout)`
    returns as soon as `fire()` was called after the mark (or when the timeout passes)."""

    def __init__(self) -> None:
        self._generation = 0
        self._changed = threading.Condition()

    def mark(self) -> int:
        with self._changed:
            return self._generation

    def fire(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def wait(self, since: int, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._generation != since, timeout)


class Wakeups:
    """What wakes the applier (new events) and the waiters (the views moved). This one polls:
    SQLite has no notifications, so the applier looks at the log's last position every
    `events_tick` and waiters at the views' every `views_tick`."""

    events_tick = 0.01
    views_tick = 0.005

    def __init__(self) -> None:
        self.events = Pulse()
        self.views = Pulse()

    def wait_for_events(self, since: int, timeout: float, log_grew: Callable[[], bool]) -> None:
        """Return when the log may hold new events, or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.events.mark() == since and (left := deadline - time.monotonic()) > 0:
            self.events.wait(since, min(self.events_tick, left))
            if log_grew():
                return

    def wait_for_views(self, since: int, timeout: float) -> None:
        """Return when the views may have moved, or after `timeout` seconds."""
        self.views.wait(since, min(timeout, self.views_tick))

    def views_moved(self, position: int) -> None:
        self.views.fire()

    def close(self) -> None:
        pass


class ViewApplier:
    """Catch the views up if this process may apply, else wait for the applier to."""

    def __init__(self, runner: ViewsRunner, lock: ApplierLock, wakeups: Wakeups,
                 log_position: Callable[[], int], *, hold: bool, wait_seconds: float,
                 lock_retry_seconds: float) -> None:
        self.runner = runner
        self.lock = lock
        self.wakeups = wakeups
        self.log_position = log_position
        self.hold = hold
        self.wait_seconds = wait_seconds
        self.lock_retry_seconds = lock_retry_seconds
        self._mutex = threading.Lock()  # one thread of this process applies at a time

    @property
    def is_applier(self) -> bool:
        return self.lock.held

    def catch_up(self, progress: Progress | None = None, timeout: float | None = None) -> int:
        """Apply every event in the log (when this process may), else wait until the views show
        the log's last position at the time of the call."""
        applied = self._apply(progress)
        if applied is not None:
            return applied
        return self.wait_for(self.log_position(), progress, timeout)

    def wait_for(self, position: int, progress: Progress | None = None, timeout: float | None = None) -> int:
        """Return once the views' position reaches `position`; ViewsBehindError after `timeout`
        seconds (the setting by default; math.inf waits as long as it takes)."""
        limit = self.wait_seconds if timeout is None else timeout
        deadline = time.monotonic() + limit
        next_try = time.monotonic() + self.lock_retry_seconds
        seen = None
        while True:
            since = self.wakeups.views.mark()
            current = self.runner.position()
            if progress is not None and seen is not None and current > seen:
                progress(current - seen)
            seen = current
            if current >= position:
                return current
            now = time.monotonic()
            if now >= next_try or self.lock.held:  # the applier went away: take over
                next_try = now + self.lock_retry_seconds
                applied = self._apply(progress)
                if applied is not None and applied >= position:
                    return applied
            if now >= deadline:
                raise ViewsBehindError(
                    f"the views are at position {current}, not yet at {position}; retry shortly"
                )
            remaining = deadline - now if math.isfinite(deadline) else self.wakeups.views_tick
            self.wakeups.wait_for_views(since, min(remaining, self.wakeups.views_tick))

    def fill_summaries(self) -> None:
        """Compute the kept summaries a store upgraded to 0010 lacks, when this process may
        apply (else the applier does, before its next page)."""
        with self._mutex:
            if self.lock.held:
                self.runner.fill_summaries()
                return
            if not self.lock.try_acquire():
                return
            try:  # let go even when holding: the process announces itself when it takes the lock to apply
                self.runner.fill_summaries()
            finally:
                self.lock.release()

    def try_apply(self) -> int | None:
        """Catch up now if this process may apply (taking the lock when it is free)."""
        return self._apply(None)

    def _apply(self, progress: Progress | None) -> int | None:
        """Catch up under the lock when it is ours or free; None when another process holds it."""
        with self._mutex:
            if not self._take_lock():
                return None
            try:
                position = self.runner.catch_up(progress=progress)
            finally:
                if not self.hold:
                    self.lock.release()
        self.wakeups.views_moved(position)
        return position

    def _take_lock(self) -> bool:
        if self.lock.held:
            return True
        if not self.lock.try_acquire():
            return False
        if self.hold:
            log.info("process %d applies events to the views", os.getpid())
        return True

    def run(self, stop: threading.Event, poll_seconds: float) -> None:
        """Until `stop`: while this process holds the lock, apply new events as they arrive
        (woken by the log, or every `poll_seconds`); otherwise try for the lock now and then."""
        announced = False
        applied = -1
        while not stop.is_set():
            try:
                if not (self.lock.held and self.lock.still_held()) and not self._try_to_lead():
                    if not announced:
                        log.info("process %d serves reads; another process applies events to the views",
                                 os.getpid())
                        announced = True
                    stop.wait(self.lock_retry_seconds)
                    continue
                since = self.wakeups.events.mark()
                if self.log_position() > applied:
                    position = self._apply(None)
                    applied = applied if position is None else position
                self.wakeups.wait_for_events(since, poll_seconds, functools.partial(self._log_passed, applied))
            except Exception:  # logged and retried on the next tick
                log.exception("projection catch-up failed")
                stop.wait(poll_seconds)

    def _log_passed(self, position: int) -> bool:
        return self.log_position() > position

    def _try_to_lead(self) -> bool:
        with self._mutex:
            return self._take_lock()
