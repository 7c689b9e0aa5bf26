"""Sending limits: the pure rule (`next_slot`) and the per-mailbox `Outbox` aggregate that
records every attempt's slot, saved with the attempt itself so that two workers can never
both take the last slot of an hour (the second save conflicts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import RuleViolationError
from domain.values import stable_id

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_SCHEDULED = 1000  # queued sends per workspace at most


@dataclass(frozen=True)
class SendLimits:
    """Per mailbox: attempts an hour, a day, and seconds between spaced (mass, sequence) sends."""

    per_hour: int = 12
    per_day: int = 200
    spacing_seconds: int = 300

    @classmethod
    def checked(cls, per_hour: Any, per_day: Any, spacing_seconds: Any) -> SendLimits:
        for name, value, low in (("per_hour", per_hour, 1), ("per_day", per_day, 1),
                                 ("spacing_seconds", spacing_seconds, 0)):  # fmt: skip
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 100_000:
                raise RuleViolationError(f"send_limits.{name} must be a whole number from {low} to 100000")
        return cls(per_hour, per_day, spacing_seconds)

    def as_dict(self) -> dict[str, int]:
        return {"per_hour": self.per_hour, "per_day": self.per_day, "spacing_seconds": self.spacing_seconds}


def next_slot(
    taken: list[datetime], last_spaced: datetime | None, now: datetime, limits: SendLimits, spaced: bool
) -> datetime:
    """The earliest time from `now` at which one more send keeps within the limits (`now`
    itself when it may go at once). `taken` are the mailbox's attempts of the last day."""
    at = now
    recent = sorted(t for t in taken if t > now - DAY)
    if len(recent) >= limits.per_day:
        at = max(at, recent[-limits.per_day] + DAY)
    hour = [t for t in recent if t > now - HOUR]
    if len(hour) >= limits.per_hour:
        at = max(at, hour[-limits.per_hour] + HOUR)
    if spaced and last_spaced is not None:
        at = max(at, last_spaced + timedelta(seconds=limits.spacing_seconds))
    return at


class Outbox(Aggregate):
    """One mailbox's attempts of the last day (what the limits count)."""

    @staticmethod
    def create_id(mailbox_id: str, **_: Any) -> UUID:
        return stable_id("outbox", mailbox_id)

    class Created(Aggregate.Created):
        mailbox_id: str

    @event(Created)
    def __init__(self, mailbox_id: str) -> None:
        self.mailbox_id = mailbox_id
        self.taken: list[str] = []
        self.last_spaced: str | None = None

    def times(self) -> list[datetime]:
        return [datetime.fromisoformat(t) for t in self.taken]

    def spaced_at(self) -> datetime | None:
        return datetime.fromisoformat(self.last_spaced) if self.last_spaced else None

    def take(self, send_id: str, at: datetime, spaced: bool) -> None:
        self._slot_taken(send_id=send_id, at=at.isoformat(), spaced=spaced)

    class SlotTaken(Aggregate.Event):
        send_id: str
        at: str
        spaced: bool = False

    @event(SlotTaken)
    def _slot_taken(self, send_id: str, at: str, spaced: bool = False) -> None:
        cutoff = datetime.fromisoformat(at) - DAY
        self.taken = [t for t in self.taken if datetime.fromisoformat(t) > cutoff] + [at]
        if spaced:
            self.last_spaced = at
