"""The Lead aggregate (Close-style): a deal with people as its contacts."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.errors import RuleViolationError


class Lead(Aggregate):
    class Created(Aggregate.Created):
        workspace_id: str
        name: str
        contacts: list[str]

    @event(Created)
    def __init__(self, workspace_id: str, name: str, contacts: list[str]) -> None:
        self.workspace_id = workspace_id
        self.name = name
        self.contacts = contacts

    def add_contact(self, person_id: str) -> None:
        if person_id not in self.contacts:
            self._contact_added(person_id=person_id)

    class ContactAdded(Aggregate.Event):
        person_id: str

    @event(ContactAdded)
    def _contact_added(self, person_id: str) -> None:
        self.contacts = [*self.contacts, person_id]

    def remove_contact(self, person_id: str) -> None:
        if person_id not in self.contacts:
            raise RuleViolationError("that person is not a contact of this lead")
        self._contact_removed(person_id=person_id)

    class ContactRemoved(Aggregate.Event):
        person_id: str

    @event(ContactRemoved)
    def _contact_removed(self, person_id: str) -> None:
        self.contacts = [c for c in self.contacts if c != person_id]
