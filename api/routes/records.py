"""People and companies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import MemberDep, RuntimeDep, ServicesDep, ViewerDep, ViewsDep
from api.paging import EMAIL_SHAPE, CursorParam, LimitParam, keyset_page, only, record_shape, require
from api.routes.intelligence import SortParam
from api.schemas import NewAddress, NewCompany, NewPerson
from application.errors import RuleViolationError
from domain.visibility import Viewer
from projections.record_queries import (
    company_emails,
    company_rows,
    person_emails,
    person_exists,
    person_rows,
)
from projections.summary_queries import company_domain

router = APIRouter(tags=["records"])

SearchParam = Annotated[
    str | None,
    Query(min_length=1, max_length=100, description="prefix of a name (or of a word of it), an address or a "
          "domain; case-insensitive; lists in creation order"),
]  # fmt: skip


def searched(sort: str | None, q: str | None) -> str:
    """The list's sort as its cursors name it: a search's cursor is only good for the same search."""
    if q is None:
        return sort or "created"
    if sort is not None:
        raise RuleViolationError("a search (q) lists in creation order: leave out sort")
    return f"created:{q}"


def _person(runtime: Any, viewer: Viewer, person_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return only(person_rows(conn, viewer, None, 1, person_id)[1], "person", person_id)


def _company(runtime: Any, viewer: Viewer, company_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return only(company_rows(conn, viewer, None, 1, company_id)[1], "company", company_id)


@router.get("/people")
def list_people(
    viewer: ViewerDep,
    runtime: RuntimeDep,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
    sort: SortParam = None,
    q: SearchParam = None,
) -> dict[str, Any]:
    return keyset_page(
        runtime.engine,
        cursor,
        limit,
        "people",
        searched(sort, q),
        record_shape(sort),
        lambda conn, after, size: person_rows(conn, viewer, after, size, sort=sort, q=q),
    )


@router.post("/people", status_code=201)
def create_person(
    body: NewPerson, viewer: MemberDep, services: ServicesDep, views: ViewsDep, runtime: RuntimeDep
) -> dict[str, Any]:
    person = services.records.create_person(viewer.workspace_id, body.name, body.emails)
    views.applied(person.position)
    return _person(runtime, viewer, person.id)


@router.get("/people/{person_id}")
def get_person(person_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _person(runtime, viewer, person_id)


@router.post("/people/{person_id}/addresses")
def add_address(
    person_id: str,
    body: NewAddress,
    viewer: MemberDep,
    services: ServicesDep,
    views: ViewsDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    views.applied(services.records.add_person_address(viewer.workspace_id, person_id, body.address))
    return _person(runtime, viewer, person_id)


@router.get("/people/{person_id}/emails")
def list_person_emails(
    person_id: str, viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        require(person_exists(conn, viewer, person_id), "person", person_id)
    return keyset_page(
        runtime.engine,
        cursor,
        limit,
        f"people/{person_id}/emails",
        "newest",
        EMAIL_SHAPE,
        lambda conn, after, size: person_emails(conn, viewer, person_id, after, size),
    )


@router.get("/companies")
def list_companies(
    viewer: ViewerDep,
    runtime: RuntimeDep,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
    sort: SortParam = None,
    q: SearchParam = None,
) -> dict[str, Any]:
    return keyset_page(
        runtime.engine,
        cursor,
        limit,
        "companies",
        searched(sort, q),
        record_shape(sort),
        lambda conn, after, size: company_rows(conn, viewer, after, size, sort=sort, q=q),
    )


@router.post("/companies", status_code=201)
def create_company(
    body: NewCompany, viewer: MemberDep, services: ServicesDep, views: ViewsDep, runtime: RuntimeDep
) -> dict[str, Any]:
    company = services.records.create_company(viewer.workspace_id, body.domain, body.name)
    views.applied(company.position)
    return _company(runtime, viewer, company.id)


@router.get("/companies/{company_id}")
def get_company(company_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _company(runtime, viewer, company_id)


@router.get("/companies/{company_id}/emails")
def list_company_emails(
    company_id: str,
    viewer: ViewerDep,
    runtime: RuntimeDep,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        domain = company_domain(conn, viewer, company_id)
    require(domain is not None, "company", company_id)
    return keyset_page(
        runtime.engine,
        cursor,
        limit,
        f"companies/{company_id}/emails",
        "newest",
        EMAIL_SHAPE,
        lambda conn, after, size: company_emails(conn, viewer, str(domain), after, size),
    )
