"""The Send aggregate: one message in the outbox, from queued to sent, failed or cancelled.

Its Message-ID is fixed when it is queued (before any attempt), so a send interrupted after
the server took it can be looked for in the Sent folder instead of being sent again. The
addresses, subject and bodies ride in `headers` and `content`, which the transcoder seals
with the mailbox's data key like a synced copy's (erased with it); the public part holds ids,
times and statuses only, which is all the audit log and the views keep."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import RuleViolationError
from domain.values import stable_id

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"
SINGLE = "single"
MASS = "mass"
MAX_ATTEMPTS = 8  # transient failures tried again with backoff, then failed for good


def send_id_for(workspace_id: str, mailbox_id: str, sender_id: str, key: str) -> UUID:
    """The same idempotency key (its digest) from the same sender and mailbox is the same send."""
    return stable_id("send", workspace_id, mailbox_id, sender_id, key)


_OWN_MESSAGE_ID = re.compile(r"([0-9a-f]{32})\.mailtrail@", re.IGNORECASE)


def message_id_for(send_id: UUID, domain: str) -> str:
    return f"<{send_id.hex}.mailtrail@{domain}>"


def send_id_from_message_id(message_id: str | None) -> UUID | None:
    """The send a Message-ID of ours names (a bounce quotes it), or None."""
    found = _OWN_MESSAGE_ID.match((message_id or "").strip().strip("<"))
    return UUID(found.group(1)) if found else None


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 ... minutes after the n-th transient failure, at most an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def bounce_reason(recipient: str, status: str, diagnostic: str) -> str:
    return " ".join(f"bounced: {recipient}: {status} {diagnostic}".split())


class Send(Aggregate):
    @staticmethod
    def create_id(workspace_id: str, mailbox_id: str, sender_id: str, key: str, **_: Any) -> UUID:
        return send_id_for(workspace_id, mailbox_id, sender_id, key)

    class Created(Aggregate.Created):
        """Queued. `not_before` is the time asked for (ISO, None: at once); `spaced` sends
        (mass, sequences) keep the mailbox's spacing apart; `batch_id` a mass send's id."""

        workspace_id: str
        mailbox_id: str
        sender_id: str
        key: str
        message_id: str
        thread_key: str
        headers: dict[str, Any]
        content: dict[str, Any]
        queued_at: str
        not_before: str | None = None
        kind: str = SINGLE
        spaced: bool = False
        batch_id: str | None = None

    @event(Created)
    def __init__(
        self,
        workspace_id: str,
        mailbox_id: str,
        sender_id: str,
        key: str,
        message_id: str,
        thread_key: str,
        headers: dict[str, Any],
        content: dict[str, Any],
        queued_at: str,
        not_before: str | None = Created.not_before,
        kind: str = Created.kind,
        spaced: bool = Created.spaced,
        batch_id: str | None = Created.batch_id,
    ) -> None:
        self.workspace_id = workspace_id
        self.mailbox_id = mailbox_id
        self.sender_id = sender_id
        self.key = key
        self.message_id = message_id
        self.thread_key = thread_key
        self.headers = headers
        self.content = content
        self.queued_at = queued_at
        self.not_before = not_before
        self.kind = kind
        self.spaced = spaced
        self.batch_id = batch_id
        self.status = QUEUED
        self.attempts = 0
        self.reason = ""
        self.email_id: str | None = None
        self.bounced: list[str] = []

    def due(self, now: datetime) -> bool:
        return self.status in (QUEUED, SENDING) and (
            self.not_before is None or datetime.fromisoformat(self.not_before) <= now
        )

    def attempt(self, at: datetime, lease_until: datetime) -> None:
        """About to hand the message to the server; until `lease_until` no other worker
        touches it, after that it is in doubt (looked for in the Sent folder first)."""
        if self.status not in (QUEUED, SENDING):
            raise RuleViolationError(f"a {self.status} send cannot be attempted")
        self._attempted(at=at.isoformat(), lease_until=lease_until.isoformat())

    class Attempted(Aggregate.Event):
        at: str
        lease_until: str

    @event(Attempted)
    def _attempted(self, at: str, lease_until: str) -> None:
        self.status = SENDING
        self.attempts += 1
        self.not_before = lease_until

    def mark_sent(
        self, at: datetime, reply: str, email_id: str | None = None, reconciled: bool = False
    ) -> None:
        if self.status == SENT:
            return
        self._sent(at=at.isoformat(), reply=reply, email_id=email_id, reconciled=reconciled)

    class Sent(Aggregate.Event):
        """`reconciled`: found in the Sent folder after an interruption, not sent again."""

        at: str
        reply: str
        email_id: str | None = None
        reconciled: bool = False

    @event(Sent)
    def _sent(self, at: str, reply: str, email_id: str | None = None, reconciled: bool = False) -> None:
        self.status = SENT
        self.reason = ""
        self.email_id = email_id
        self.not_before = None

    def defer(self, until: datetime, reason: str) -> None:
        """Waits: a transient failure (backoff) or a sending limit."""
        if self.status in (SENT, FAILED, CANCELLED):
            return
        if (self.status, self.not_before, self.reason) != (QUEUED, until.isoformat(), reason):
            self._deferred(until=until.isoformat(), reason=reason)

    class Deferred(Aggregate.Event):
        until: str
        reason: str

    @event(Deferred)
    def _deferred(self, until: str, reason: str) -> None:
        self.status = QUEUED
        self.not_before = until
        self.reason = reason

    def fail(self, at: datetime, reason: str) -> None:
        if self.status in (SENT, FAILED, CANCELLED):
            return
        self._failed(at=at.isoformat(), reason=reason)

    class Failed(Aggregate.Event):
        at: str
        reason: str

    @event(Failed)
    def _failed(self, at: str, reason: str) -> None:
        self.status = FAILED
        self.reason = reason
        self.not_before = None

    def bounce(self, recipient: str, status: str, diagnostic: str) -> None:
        """A delivery status notification says `recipient` did not get it: the send failed."""
        if self.status in (SENT, SENDING, FAILED) and recipient not in self.bounced:
            self._bounced(recipient=recipient, status=status, diagnostic=diagnostic)

    class Bounced(Aggregate.Event):
        recipient: str
        status: str
        diagnostic: str

    @event(Bounced)
    def _bounced(self, recipient: str, status: str, diagnostic: str) -> None:
        self.status = FAILED
        self.bounced = [*self.bounced, recipient]
        self.reason = bounce_reason(recipient, status, diagnostic)
        self.not_before = None

    def cancel(self, by: str) -> None:
        if self.status != QUEUED:
            raise RuleViolationError(f"a {self.status} send cannot be cancelled")
        self._cancelled(by=by)

    class Cancelled(Aggregate.Event):
        by: str

    @event(Cancelled)
    def _cancelled(self, by: str) -> None:
        self.status = CANCELLED
        self.not_before = None
