"""People and companies views."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from domain.company import Company
from domain.lead import Lead
from domain.person import Person
from projections.tables import companies, lead_contacts, leads, people, person_addresses
from projections.writer import Handler, ViewWriter


def person_created(event: Person.Created, w: ViewWriter, position: int) -> None:
    person_id = str(event.originator_id)
    w.insert(
        people,
        {
            "id": person_id,
            "workspace_id": event.workspace_id,
            "name": event.name,
            "origin": event.origin,
            "created_at": event.timestamp.isoformat(),
            "merged_into": None,
        },
    )
    for address in event.addresses:
        _add_address(w, event.workspace_id, person_id, address)


def _add_address(w: ViewWriter, workspace_id: str, person_id: str, address: str) -> None:
    w.insert(
        person_addresses,
        {
            "workspace_id": workspace_id,
            "address": address,
            "person_id": person_id,
            "domain": address.rpartition("@")[2],
        },
    )


def address_added(event: Person.AddressAdded, w: ViewWriter, position: int) -> None:
    row = w.execute(people.select().where(people.c.id == str(event.originator_id))).one()
    _add_address(w, row.workspace_id, row.id, event.address)


def company_created(event: Company.Created, w: ViewWriter, position: int) -> None:
    w.insert(
        companies,
        {
            "id": str(event.originator_id),
            "workspace_id": event.workspace_id,
            "domain": event.domain,
            "name": event.name,
            "origin": event.origin,
            "created_at": event.timestamp.isoformat(),
        },
    )


HANDLERS: dict[type, Handler] = {
    Person.Created: person_created,
    Person.AddressAdded: address_added,
    Company.Created: company_created,
}


def person_merged(event: Person.Merged, w: ViewWriter, position: int) -> None:
    """The retired person's addresses move with the AddressAdded events that follow."""
    other = str(event.originator_id)
    w.execute(delete(person_addresses).where(person_addresses.c.person_id == other))
    w.execute(update(people).where(people.c.id == other).values(merged_into=event.target_id))
    already = select(lead_contacts.c.lead_id).where(lead_contacts.c.person_id == event.target_id)
    w.execute(
        delete(lead_contacts).where(lead_contacts.c.person_id == other, lead_contacts.c.lead_id.in_(already))
    )
    w.execute(
        update(lead_contacts).where(lead_contacts.c.person_id == other).values(person_id=event.target_id)
    )


def lead_created(event: Lead.Created, w: ViewWriter, position: int) -> None:
    lead_id = str(event.originator_id)
    w.insert(
        leads,
        {
            "id": lead_id,
            "workspace_id": event.workspace_id,
            "name": event.name,
            "created_at": event.timestamp.isoformat(),
        },
    )
    for person_id in event.contacts:
        w.insert(
            lead_contacts, {"lead_id": lead_id, "person_id": person_id, "workspace_id": event.workspace_id}
        )


def lead_contact_added(event: Lead.ContactAdded, w: ViewWriter, position: int) -> None:
    lead = w.execute(select(leads.c.workspace_id).where(leads.c.id == str(event.originator_id))).one()
    # the person may already be a contact through a merge the lead aggregate does not know of
    w.insert(
        lead_contacts,
        {
            "lead_id": str(event.originator_id),
            "person_id": event.person_id,
            "workspace_id": lead.workspace_id,
        },
        ignore_conflict=True,
    )


def lead_contact_removed(event: Lead.ContactRemoved, w: ViewWriter, position: int) -> None:
    w.execute(
        delete(lead_contacts).where(
            lead_contacts.c.lead_id == str(event.originator_id), lead_contacts.c.person_id == event.person_id
        )
    )


HANDLERS.update(
    {
        Person.Merged: person_merged,
        Lead.Created: lead_created,
        Lead.ContactAdded: lead_contact_added,
        Lead.ContactRemoved: lead_contact_removed,
    }
)
