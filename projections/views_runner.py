"""The catch-up loop: pages of the notification log applied to the views.

Each page's view rows and its tracking position commit in one transaction, so a
crash replays at most the uncommitted page and never applies an event twice."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any, cast

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Notification
from sqlalchemy import Engine, select

from projections import (
    email_views,
    interaction_views,
    lead_views,
    privacy_views,
    record_views,
    workspace_views,
)
from projections.audit_views import AuditLogView
from projections.collector import collector_paused
from projections.tables import tracking
from projections.writer import BulkLoad, Handler, ViewWriter

log = logging.getLogger(__name__)

VIEWS_NAME = "views"
PAGE_SIZE = 2000
REBUILD_PAGE = 5_000  # larger pages for a fresh store: no reader waits on it

# Where a runner reads its pages, when not the whole log: (after, until, limit) -> notifications.
Source = Callable[[int, int | None, int], Sequence[Any]]


# Per event type, the handlers in this order: a view's own row first, then the rules that read it.
HANDLERS: dict[type, list[Handler]] = {}
for _module in (workspace_views, email_views, record_views, privacy_views, lead_views, interaction_views):
    for _type, _handler in _module.HANDLERS.items():
        HANDLERS.setdefault(_type, []).append(_handler)


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
        missing = interaction_views.unscored(self.engine)
        if missing:
            log.warning("computing the kept summaries of %d workspace(s) once (a store upgraded to 0010)…",
                        len(missing))
            started = time.monotonic()
            interaction_views.refresh_all(self.engine, missing)
            log.warning("kept summaries computed in %.1f s", time.monotonic() - started)
        self._summaries_checked = True

    def position(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(tracking.c.position).where(tracking.c.name == VIEWS_NAME)
            ).scalar()
        return int(value or 0)

    def catch_up(
        self, until: int | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Apply every event up to `until` (default: the end); returns the new position.

        With `read_ahead`, the page after a full one is read in the background while
        this one is applied: a database server then reads while we write."""
        with self._lock, ExitStack() as stack:
            self._fill_summaries()
            reader = (
                stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="views-read"))
                if self.read_ahead else None
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
            untracked = previous == 0 and conn.execute(
                select(tracking.c.position).where(tracking.c.name == VIEWS_NAME)
            ).first() is None
            writer = ViewWriter(conn, self.bulk)
            for notification in notifications:
                event = to_event(notification)
                for handler in HANDLERS.get(type(event), ()):
                    handler(event, writer, notification.id)
                self.audit(event, writer, notification.id)
            position: int = notifications[-1].id
            interaction_views.settle(writer)  # before lead_views.settle: it reads writer.threads
            lead_views.settle(writer)
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
