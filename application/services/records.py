"""CRM records: people (one per address), companies (one per domain), leads."""

from __future__ import annotations

from application.app import Created, MailTrail
from application.companies import new_companies
from application.errors import RuleViolationError
from domain.authority import check_can_be_person
from domain.company import Company
from domain.inputs import address, domain_name
from domain.lead import Lead
from domain.person import AddressClaim, Person
from domain.workspace import Workspace

MANUAL = {"manual": True}


class Records:
    def __init__(self, app: MailTrail) -> None:
        self.app = app

    def create_person(self, workspace_id: str, name: str, emails: list[str]) -> Created:
        workspace = self.app.load(Workspace, workspace_id)
        addresses = list(dict.fromkeys(address(e) for e in emails))
        for each in addresses:
            check_can_be_person(workspace, each)
        person = Person(workspace_id=workspace_id, name=name, addresses=addresses, origin=MANUAL)
        claims = [
            AddressClaim(workspace_id=workspace_id, address=a, person_id=str(person.id)) for a in addresses
        ]
        companies = new_companies(self.app, workspace_id, addresses, MANUAL)
        position = self.app.save_all(
            person, *claims, *companies, conflict="an address already belongs to a person"
        )
        return Created(str(person.id), position)

    def add_person_address(self, workspace_id: str, person_id: str, email: str) -> int:
        person = self.app.load(Person, person_id, workspace_id)
        added = address(email)
        check_can_be_person(self.app.load(Workspace, workspace_id), added)
        if added in person.addresses:
            return self.app.position()
        person.add_address(added)
        claim = AddressClaim(workspace_id=workspace_id, address=added, person_id=person_id)
        companies = new_companies(self.app, workspace_id, [added], MANUAL)
        return self.app.save_all(person, claim, *companies, conflict=f"{added} already belongs to a person")

    def merge_people(self, workspace_id: str, target_id: str, other_id: str) -> int:
        """`other` joins `target`: its addresses (and so its emails) follow; the merge is an event."""
        target = self.app.load(Person, target_id, workspace_id)
        other = self.app.load(Person, other_id, workspace_id)
        if target.merged_into is not None:
            raise RuleViolationError("the target person was merged into another")
        other.merge_into(target_id)
        claims = [
            self.app.load(AddressClaim, AddressClaim.create_id(workspace_id, a)) for a in other.addresses
        ]
        for each, claim in zip(other.addresses, claims, strict=True):
            target.add_address(each)
            claim.transfer(target_id)
        return self.app.save_all(other, target, *claims)

    def create_lead(self, workspace_id: str, name: str, contacts: list[str]) -> Created:
        for person_id in contacts:
            person = self.app.load(Person, person_id, workspace_id)
            if person.merged_into is not None:
                raise RuleViolationError(f"person {person_id} was merged into {person.merged_into}")
        lead = Lead(workspace_id=workspace_id, name=name, contacts=list(dict.fromkeys(contacts)))
        return Created(str(lead.id), self.app.save_all(lead))

    def add_lead_contact(self, workspace_id: str, lead_id: str, person_id: str) -> int:
        lead = self.app.load(Lead, lead_id, workspace_id)
        self.app.load(Person, person_id, workspace_id)
        lead.add_contact(person_id)
        return self.app.save_all(lead)

    def create_company(self, workspace_id: str, domain: str, name: str | None = None) -> Created:
        host = domain_name(domain)
        company = Company(
            workspace_id=workspace_id,
            domain=host,
            name=name or self.app.catalog.company_name(host),
            origin=MANUAL,
        )
        return Created(str(company.id), self.app.save_all(company, conflict=f"a company for {host} exists"))
