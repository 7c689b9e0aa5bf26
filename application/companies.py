"""The records a batch creates: a person per new address, and a company per domain of a new
person's address that is not free mail."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from application.app import MailTrail
from domain.company import Company
from domain.person import AddressClaim, Person


def new_companies(
    app: MailTrail,
    workspace_id: str,
    addresses: list[str],
    origin: dict[str, Any],
    known: set[UUID] | None = None,
) -> list[Company]:
    """New companies for the non-free-mail domains of `addresses` (`known`: ids seen to exist)."""
    companies: dict[UUID, Company] = {}
    for each in addresses:
        host = each.rpartition("@")[2]
        if app.catalog.is_free_mail(host):
            continue
        company_id = Company.create_id(workspace_id, host)
        if company_id in companies or (known is not None and company_id in known):
            continue
        if app.exists(company_id):
            if known is not None:
                known.add(company_id)
            continue
        companies[company_id] = Company(
            workspace_id=workspace_id, domain=host, name=app.catalog.company_name(host), origin=origin
        )
    return list(companies.values())


def add_person(
    app: MailTrail,
    records: dict[UUID, Aggregate],
    known: set[UUID],
    workspace_id: str,
    address: str,
    name: str,
    origin: dict[str, Any],
) -> bool:
    """Add to `records` a new person for `address` (its address claim, its company) unless one
    exists; `known` holds the ids seen to exist. True when one was added."""
    claim_id = AddressClaim.create_id(workspace_id, address)
    if claim_id in records or claim_id in known:
        return False
    if app.exists(claim_id):
        known.add(claim_id)
        return False
    person = Person(workspace_id=workspace_id, name=name, addresses=[address], origin=origin)
    records[claim_id] = AddressClaim(workspace_id=workspace_id, address=address, person_id=str(person.id))
    records[person.id] = person
    for company in new_companies(app, workspace_id, [address], origin, known):
        if company.id not in records:
            records[company.id] = company
            known.add(company.id)
    return True
