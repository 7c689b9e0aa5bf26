"""The Person aggregate and the address claim that makes an address one person's."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from domain.errors import RuleViolationError
from domain.values import stable_id


class Person(Aggregate):
    @staticmethod
    def create_id(workspace_id: str, addresses: list[str], **_: Any) -> UUID:
        """People made from an address get that address's id; others a random one."""
        if addresses:
            return person_id_for_address(workspace_id, addresses[0])
        return uuid4()

    class Created(Aggregate.Created):
        workspace_id: str
        name: str
        addresses: list[str]
        origin: dict[str, Any]

    @event(Created)
    def __init__(self, workspace_id: str, name: str, addresses: list[str], origin: dict[str, Any]) -> None:
        self.workspace_id = workspace_id
        self.name = name
        self.addresses = addresses
        self.origin = origin
        self.merged_into: str | None = None

    def add_address(self, address: str) -> None:
        if address not in self.addresses:
            self._address_added(address=address)

    class AddressAdded(Aggregate.Event):
        address: str

    @event(AddressAdded)
    def _address_added(self, address: str) -> None:
        self.addresses = [*self.addresses, address]

    def merge_into(self, target_id: str) -> None:
        """This person's addresses now belong to `target_id`; this record is retired."""
        if self.merged_into is not None:
            raise RuleViolationError("this person was already merged")
        if target_id == str(self.id):
            raise RuleViolationError("a person cannot be merged into itself")
        self._merged(target_id=target_id)

    class Merged(Aggregate.Event):
        target_id: str

    @event(Merged)
    def _merged(self, target_id: str) -> None:
        self.merged_into = target_id


def person_id_for_address(workspace_id: str, address: str) -> UUID:
    """The id of a person created automatically from an address."""
    return stable_id("person", workspace_id, address)


class AddressClaim(Aggregate):
    """Exists once per (workspace, address): creating a second one conflicts."""

    @staticmethod
    def create_id(workspace_id: str, address: str, **_: Any) -> UUID:
        return stable_id("address", workspace_id, address)

    class Claimed(Aggregate.Created):
        workspace_id: str
        address: str
        person_id: str

    @event(Claimed)
    def __init__(self, workspace_id: str, address: str, person_id: str) -> None:
        self.workspace_id = workspace_id
        self.address = address
        self.person_id = person_id
        self.bouncing = False

    def mark_bouncing(self, status: str, diagnostic: str) -> None:
        """A delivery report says mail to this address fails (its person shows it as bouncing)."""
        if not self.bouncing:
            self._bounced(
                workspace_id=self.workspace_id, address=self.address, status=status, diagnostic=diagnostic
            )

    class Bounced(Aggregate.Event):
        workspace_id: str
        address: str
        status: str
        diagnostic: str

    @event(Bounced)
    def _bounced(self, workspace_id: str, address: str, status: str, diagnostic: str) -> None:
        self.bouncing = True

    def transfer(self, person_id: str) -> None:
        if person_id != self.person_id:
            self._transferred(person_id=person_id)

    class Transferred(Aggregate.Event):
        person_id: str

    @event(Transferred)
    def _transferred(self, person_id: str) -> None:
        self.person_id = person_id
