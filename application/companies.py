"""Companies for the domains of new people's addresses: one per domain that is not free mail."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from application.app import MailTrail
from domain.company import Company


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
