"""Webhook deliveries driven by the event log.

Two steps, run by one loop (`run`) in the process that applies the views (`mailtrail serve`)
or in a worker:

* `enqueue`: the log read after each enabled subscription's position, up to the views' position
  (the payloads are read from the views, so they must have applied the event), turned into
  deliveries with their place in the log; the deliveries and the new position are stored in
  one transaction. A restart resumes from the stored position: nothing is lost, and
  deterministic delivery ids make a repeated page a no-op.
* `dispatch`: each subscription's oldest undelivered delivery sent, then the next, in log
  order, on a pool of threads with at most one job per subscription: a slow or dead endpoint
  holds its own job and nothing else (the views have their own thread). A failure is retried
  with exponential backoff; after `give_up` seconds (3 days) of failures of one delivery, or
  at once on 410 Gone, the subscription is disabled with a reason, its position and pending
  deliveries kept, so enabling it again resumes where it stopped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from application.ports import Delivery, KeyStore, Subscription, WebhookEvents, WebhookSender, WebhookStore

log = logging.getLogger(__name__)

GIVE_UP_SECONDS = 3 * 24 * 3600
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 6 * 3600.0
LOG_PAGE = 500
JOB_BATCH = 500  # deliveries one job sends before it lets other subscriptions' jobs in
PENDING_PAGE = 50  # pending deliveries read at once, in log order


class WebhookDelivery:
    def __init__(
        self,
        read_log: Callable[[int, int, int], list[tuple[int, Any]]],  # (after, until, limit) -> events
        views_position: Callable[[], int],
        store: WebhookStore,
        events: WebhookEvents,
        sender: WebhookSender,
        secrets: KeyStore,
        *,
        clock: Callable[[], float] = time.time,
        retry_base: float = RETRY_BASE_SECONDS,
        retry_max: float = RETRY_MAX_SECONDS,
        give_up: float = GIVE_UP_SECONDS,
        workers: int = 8,
    ) -> None:
        self.read_log = read_log
        self.views_position = views_position
        self.store = store
        self.events = events
        self.sender = sender
        self.secrets = secrets
        self.clock = clock
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.give_up = give_up
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhooks")
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._enqueue_lock = threading.Lock()
        self.sent = 0  # attempts made by this process (a benchmark's counter)

    # enqueue ------------------------------------------------------------------------------
    def enqueue(self) -> int:
        """Turn the log up to the views' position into deliveries; returns how many."""
        with self._enqueue_lock:
            subscriptions = self.store.enabled()
            until = self.views_position()
            behind = [s for s in subscriptions if s.position < until]
            made = 0
            while behind:
                start = min(s.position for s in behind)
                page = self.read_log(start, until, LOG_PAGE)
                last = page[-1][0] if page else until
                for subscription in behind:
                    made += self._enqueue_one(subscription, page, last)
                behind = [
                    s
                    for s in (self.store.get(s.id) for s in behind)
                    if s and s.enabled and s.position < until
                ]
                if not page:
                    break
            return made

    def _enqueue_one(self, subscription: Subscription, page: list[tuple[int, Any]], last: int) -> int:
        mine = [(p, e) for p, e in page if p > subscription.position]
        made = self.events.deliveries(mine, [subscription]).get(subscription.id, []) if mine else []
        self.store.enqueue(subscription.id, subscription.position, max(last, subscription.position), made)
        return len(made)

    # dispatch -----------------------------------------------------------------------------
    def dispatch(self) -> None:
        """Start a job for each enabled subscription with a delivery due and no job running."""
        now = self.clock()
        for subscription in self.store.enabled():
            head = self.store.head(subscription.id)
            if head is None or (head.next_attempt_at or 0) > now:
                continue
            with self._lock:
                if subscription.id in self._busy:
                    continue
                self._busy.add(subscription.id)
            self._pool.submit(self._job, subscription.id)

    def _job(self, webhook_id: str) -> None:
        try:
            sent = 0
            while sent < JOB_BATCH:
                subscription = self.store.get(webhook_id)  # looked at again every page: a PATCH stops it
                secret = (self.secrets.get(webhook_id) or {}).get("secret")
                due = self.store.pending(webhook_id, PENDING_PAGE)
                if subscription is None or not subscription.enabled or secret is None or not due:
                    return
                done: list[tuple[str, dict[str, Any]]] = []  # recorded once a page (a crash resends them)
                try:
                    for delivery in due:
                        if not self._attempt(subscription, secret, delivery, done):
                            return
                        sent += 1
                finally:
                    self.store.attempted_many(done)
        except Exception:  # logged; the delivery stays pending and the next dispatch retries
            log.exception("webhook %s: delivering failed", webhook_id)
        finally:
            with self._lock:
                self._busy.discard(webhook_id)

    def _attempt(
        self, subscription: Subscription, secret: str, head: Delivery, done: list[tuple[str, dict[str, Any]]]
    ) -> bool:
        """Attempt one delivery (the subscription's oldest pending one); True when it went (its
        record added to `done`)."""
        webhook_id = subscription.id
        now = self.clock()
        if (head.next_attempt_at or 0) > now:
            return False
        if head.body is None:
            done.append((head.id, {"status": "erased", "next_attempt_at": None}))
            return True
        result = self.sender.send(subscription.url, head.id, head.body, secret)
        self.sent += 1
        now = self.clock()
        first = head.first_attempt_at if head.first_attempt_at is not None else now
        attempts = head.attempts + 1
        common = {"attempts": attempts, "response_code": result.status, "first_attempt_at": first}
        if result.status is not None and 200 <= result.status < 300:
            done.append((head.id, {"status": "delivered", "last_error": None, "next_attempt_at": None,
                                   "delivered_at": datetime.now(UTC).isoformat(), **common}))  # fmt: skip
            return True
        error = result.error or f"the endpoint answered {result.status}"
        if result.status == 410:
            self.store.attempted(head.id, last_error=error, next_attempt_at=now, **common)
            self._disable(webhook_id, "the endpoint answered 410 Gone")
            return False
        if now - first >= self.give_up:
            self.store.attempted(head.id, last_error=error, next_attempt_at=now, **common)
            self._disable(webhook_id, f"deliveries failed for {self.give_up / 86400:g} days; last: {error}")
            return False
        delay = min(self.retry_base * 2 ** (attempts - 1), self.retry_max)
        self.store.attempted(head.id, last_error=error, next_attempt_at=now + delay, **common)
        return False

    def _disable(self, webhook_id: str, reason: str) -> None:
        log.warning("webhook %s disabled: %s", webhook_id, reason)
        self.store.change(webhook_id, enabled=False, disabled_reason=reason,
                          updated_at=datetime.now(UTC).isoformat())  # fmt: skip

    # the loop -----------------------------------------------------------------------------
    def step(self) -> None:
        self.enqueue()
        self.dispatch()

    def run(self, stop: threading.Event, poll_seconds: float, may_deliver: Callable[[], bool]) -> None:
        """Until `stop`: enqueue and dispatch every `poll_seconds`, while `may_deliver()` (this
        process applies the views: one process delivers)."""
        while not stop.is_set():
            try:
                if may_deliver():
                    self.step()
            except Exception:  # a failed step is retried at the next tick; nothing is lost
                log.exception("the webhook delivery step failed")
            stop.wait(poll_seconds)

    def idle(self) -> bool:
        with self._lock:
            return not self._busy

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
