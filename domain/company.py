"""The Company aggregate, keyed by the full host of its domain."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.values import stable_id


class Company(Aggregate):
    @staticmethod
    def create_id(workspace_id: str, domain: str, **_: Any) -> UUID:
        return stable_id("company", workspace_id, domain)

    class Created(Aggregate.Created):
        workspace_id: str
        domain: str
        name: str
        origin: dict[str, Any]

    @event(Created)
    def __init__(self, workspace_id: str, domain: str, name: str, origin: dict[str, Any]) -> None:
        self.workspace_id = workspace_id
        self.domain = domain
        self.name = name
        self.origin = origin
