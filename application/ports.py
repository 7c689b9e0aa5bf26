"""The outside world as the application needs it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from domain.message import ParsedMessage


class DomainCatalog(Protocol):
    """Knowledge about domains that comes from maintained lists."""

    def is_free_mail(self, domain: str) -> bool: ...

    def company_name(self, host: str) -> str: ...


@dataclass(frozen=True)
class Rejected:
    """A message that could not be ingested, and why (no content kept)."""

    ref: str
    reason: str


Item = ParsedMessage | Rejected


class MailSource(Protocol):
    """Yields batches of one folder's messages with the cursor after each batch."""

    def batches(self) -> Iterator[tuple[str, list[Item], dict[str, object] | None]]: ...
