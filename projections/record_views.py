"""People and companies views."""

from __future__ import annotations

from typing import Any

from domain.company import Company
from domain.person import Person
from projections.tables import companies, people, person_addresses
from projections.writer import Handler, ViewWriter


def person_created(event: Any, w: ViewWriter, position: int) -> None:
    person_id = str(event.originator_id)
    w.insert(people, {
        "id": person_id,
        "workspace_id": event.workspace_id,
        "name": event.name,
        "origin": event.origin,
        "created_at": event.timestamp.isoformat(),
    })
    for address in event.addresses:
        _add_address(w, event.workspace_id, person_id, address)


def _add_address(w: ViewWriter, workspace_id: str, person_id: str, address: str) -> None:
    w.insert(person_addresses, {
        "workspace_id": workspace_id,
        "address": address,
        "person_id": person_id,
        "domain": address.rpartition("@")[2],
    })


def address_added(event: Any, w: ViewWriter, position: int) -> None:
    row = w.execute(people.select().where(people.c.id == str(event.originator_id))).one()
    _add_address(w, row.workspace_id, row.id, event.address)


def company_created(event: Any, w: ViewWriter, position: int) -> None:
    w.insert(companies, {
        "id": str(event.originator_id),
        "workspace_id": event.workspace_id,
        "domain": event.domain,
        "name": event.name,
        "origin": event.origin,
        "created_at": event.timestamp.isoformat(),
    })


HANDLERS: dict[type, Handler] = {
    Person.Created: person_created,
    Person.AddressAdded: address_added,
    Company.Created: company_created,
}
