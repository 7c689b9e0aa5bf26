"""The views' catch-up: pages of the notification log applied to the views, by one applier
per store, while every other process waits for the position it needs.

`ViewsRunner` applies pages: each page's view rows and its tracking position commit in one
transaction, so a crash replays at most the uncommitted page and never applies an event twice.

`ViewApplier` decides who runs it. The process that holds the applier lock
(adapters/applier_lock.py: a PostgreSQL advisory lock, or a file lock next to the SQLite file)
applies; any other process never applies and, to read its own writes, waits until the views'
tracked position reaches the position it needs (`applied(position)`, read-your-writes for a
command). A server's runtime keeps the lock once it has it (`hold`); a one-shot command takes
it for one catch-up and lets it go, so it never keeps a server from applying.

`collector_paused`: Python's cyclic garbage collector paused over one page.

A page of events allocates hundreds of thousands of containers (notifications,
decoded headers, row tuples) that all live until the page is written; the collector
scans them again and again as they age, which was a third of a replay's time.
Reference counting still frees everything as usual; only reference cycles wait for
the end of the pause. Pauses nest and overlap across threads: the collector comes
back when the last one ends, if it was on when the first began."""

from __future__ import annotations

import functools
import gc
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol, cast

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Notification
from sqlalchemy import Engine, select

from projections import (
    capture_views,
    diagnostic_views,
    email_views,
    interaction_views,
    lead_views,
    meeting_views,
    privacy_views,
    record_views,
    send_views,
    thread_views,
    workspace_views,
)
from projections.audit_views import AuditLogView
from projections.tables import tracking
from projections.writer import BulkLoad, Handler, ViewWriter

log = logging.getLogger(__name__)

VIEWS_NAME = "views"
PAGE_SIZE = 2000
REBUILD_PAGE = 5_000  # larger pages for a fresh store: no reader waits on it

# Where a runner reads its pages, when not the whole log: (after, until, limit) -> notifications.
Source = Callable[[int, int | None, int], Sequence[Any]]
Progress = Callable[[int], None]


# Per event type, the handlers in this order: a view's own row first, then the rules that read it.
HANDLERS: dict[type, list[Handler]] = {}
for _module in (
    workspace_views,
    capture_views,
    email_views,
    record_views,
    privacy_views,
    lead_views,
    interaction_views,
    diagnostic_views,
    send_views,
    meeting_views,
):
    for _type, _handler in _module.HANDLERS.items():
        HANDLERS.setdefault(_type, []).append(_handler)


_collector_lock = threading.Lock()
_collector = {"holders": 0, "restore": False}


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a page is read or applied (see the module's note)."""
    with _collector_lock:
        if _collector["holders"] == 0:
            _collector["restore"] = gc.isenabled()
            gc.disable()
        _collector["holders"] += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector["holders"] -= 1
            if _collector["holders"] == 0 and _collector["restore"]:
                gc.enable()


class ViewsRunner:
    """Applies new events to the views; safe to call from several threads."""

    def __init__(
        self,
        app: Application[Any],
        engine: Engine,
        page_size: int = PAGE_SIZE,
        bulk: BulkLoad | None = None,
        read_ahead: bool = False,
        source: Source | None = None,
    ) -> None:
        self.source = source
        self.bulk = bulk
        self.read_ahead = read_ahead
        self.audit = AuditLogView()
        self.app = app
        mapper = app.view_mapper() if hasattr(app, "view_mapper") else app.mapper
        # Every event in the log is one of the aggregates' (domain/), so a DomainEvent.
        self._to_event = cast(Callable[[Notification], DomainEvent], mapper.to_domain_event)
        self.engine = engine
        self.page_size = page_size
        self._lock = threading.Lock()
        self._summaries_checked = bulk is not None or source is not None  # a rebuild computes its own

    def fill_summaries(self) -> None:
        """Once per runner, before it applies anything: compute the kept summaries of every
        workspace that has emails but none (a store upgraded to 0010 from an earlier one)."""
        with self._lock:
            self._fill_summaries()

    def _fill_summaries(self) -> None:
        if self._summaries_checked:
            return
        unthreaded = thread_views.unfilled(self.engine)
        if unthreaded:  # a store upgraded to 0015: its threads once
            thread_views.fill(self.engine, unthreaded)
        missing = interaction_views.unscored(self.engine)
        if missing:
            log.warning(
                "computing the kept summaries of %d workspace(s) once (a store upgraded to 0010)…",
                len(missing),
            )
            started = time.monotonic()
            interaction_views.refresh_all(self.engine, missing)
            log.warning("kept summaries computed in %.1f s", time.monotonic() - started)
        self._summaries_checked = True

    def position(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(select(tracking.c.position).where(tracking.c.name == VIEWS_NAME)).scalar()
        return int(value or 0)

    def catch_up(self, until: int | None = None, progress: Progress | None = None) -> int:
        """Apply every event up to `until` (default: the end); returns the new position.

        With `read_ahead`, the page after a full one is read in the background while
        this one is applied: a database server then reads while we write."""
        with self._lock, ExitStack() as stack:
            self._fill_summaries()
            reader = (
                stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="views-read"))
                if self.read_ahead
                else None
            )
            position = self.position()
            ahead: Future[Any] | None = None
            while until is None or position < until:
                notifications = ahead.result() if ahead is not None else self._read(position, until)
                if not notifications:
                    break
                last = notifications[-1].id
                more = len(notifications) == self.page_size and (until is None or last < until)
                ahead = reader.submit(self._read, last, until) if reader is not None and more else None
                try:
                    position = self._apply_page(notifications, position)
                except Exception:
                    # Another process's runner applied this page first (our rows collided with
                    # its rows, or the position had moved): go on from where it got to.
                    moved = self.position()
                    if moved <= position:
                        raise  # nobody else advanced: the failure is ours
                    position, ahead = moved, None
                    continue
                if progress is not None:
                    progress(len(notifications))
            return position

    def _read(self, after: int, until: int | None) -> Any:
        with collector_paused():
            if self.source is not None:
                return self.source(after, until, self.page_size)
            return self.app.recorder.select_notifications(start=after + 1, limit=self.page_size, stop=until)

    def _apply_page(self, notifications: Any, previous: int) -> int:
        to_event = self._to_event
        with collector_paused(), self.engine.begin() as conn:
            # Asked before the page's rows are written: a pipelined writer answers at once.
            untracked = (
                previous == 0
                and conn.execute(select(tracking.c.position).where(tracking.c.name == VIEWS_NAME)).first()
                is None
            )
            writer = ViewWriter(conn, self.bulk)
            for notification in notifications:
                event = to_event(notification)
                for handler in HANDLERS.get(type(event), ()):
                    handler(event, writer, notification.id)
                self.audit(event, writer, notification.id)
            position: int = notifications[-1].id
            interaction_views.settle(writer)  # before lead_views.settle: it reads writer.threads
            thread_views.settle(writer)  # likewise
            lead_views.settle(writer)
            meeting_views.settle(writer)
            writer.flush()
            self._save_position(conn, previous, position, untracked)
        return position

    @staticmethod
    def _save_position(conn: Any, previous: int, position: int, untracked: bool) -> None:
        if untracked:
            conn.execute(tracking.insert().values(name=VIEWS_NAME, position=position))
            return
        result = conn.execute(
            tracking.update()
            .where(tracking.c.name == VIEWS_NAME, tracking.c.position == previous)
            .values(position=position)
        )
        if result.rowcount == 0:  # -1: not known (a pipelined writer, adapters/bulk/loader.py)
            raise RuntimeError("another projection runner advanced the views concurrently")


log = logging.getLogger(__name__)


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

    def __init__(
        self,
        runner: ViewsRunner,
        lock: ApplierLock,
        wakeups: Wakeups,
        log_position: Callable[[], int],
        *,
        hold: bool,
        wait_seconds: float,
        lock_retry_seconds: float,
    ) -> None:
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

    def applied(self, position: int, timeout: float | None = None, progress: Progress | None = None) -> int:
        """Read-your-writes for a command whose last event is at `position`: return once the views
        reach it, applied here when this process may apply (it is the applier, or the lock is
        free), else by the applier while this process waits (ViewsBehindError after
        `wait_seconds`, or `timeout`). `progress`: a command's progress bar."""
        if progress is not None:
            return self.catch_up(progress, timeout)
        applied = self._apply(None)
        if applied is not None and applied >= position:
            return applied
        return self.wait_for(position, timeout=timeout)

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
                        log.info(
                            "process %d serves reads; another process applies events to the views",
                            os.getpid(),
                        )
                        announced = True
                    stop.wait(self.lock_retry_seconds)
                    continue
                since = self.wakeups.events.mark()
                if self.log_position() > applied:
                    position = self._apply(None)
                    applied = applied if position is None else position
                self.wakeups.wait_for_events(
                    since, poll_seconds, functools.partial(self._log_passed, applied)
                )
            except Exception:  # logged and retried on the next tick
                log.exception("projection catch-up failed")
                stop.wait(poll_seconds)

    def _log_passed(self, position: int) -> bool:
        return self.log_position() > position

    def _try_to_lead(self) -> bool:
        with self._mutex:
            return self._take_lock()
