"""People and companies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import MemberDep, RuntimeDep, ViewerDep
from api.paging import CursorParam, LimitParam, offset_of, only, page
from api.routes.intelligence import SortParam
from api.schemas import NewAddress, NewCompany, NewPerson
from domain.visibility import Viewer
from projections.record_queries import company_emails, company_rows, person_emails, person_rows

router = APIRouter(tags=["records"])


def _person(runtime: Any, viewer: Viewer, person_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return only(person_rows(conn, viewer, 0, 1, person_id), "person", person_id)


def _company(runtime: Any, viewer: Viewer, company_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return only(company_rows(conn, viewer, 0, 1, company_id), "company", company_id)


@router.get("/people")
def list_people(viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50,
                sort: SortParam = None) -> dict[str, Any]:
    offset = offset_of(cursor)
    with runtime.engine.connect() as conn:
        return page(person_rows(conn, viewer, offset, limit + 1, sort=sort), offset, limit)


@router.post("/people", status_code=201)
def create_person(body: NewPerson, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    person_id = runtime.app.create_person(viewer.workspace_id, body.name, body.emails)
    runtime.catch_up()
    return _person(runtime, viewer, person_id)


@router.get("/people/{person_id}")
def get_person(person_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _person(runtime, viewer, person_id)


@router.post("/people/{person_id}/addresses")
def add_address(person_id: str, body: NewAddress, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    runtime.app.add_person_address(viewer.workspace_id, person_id, body.address)
    runtime.catch_up()
    return _person(runtime, viewer, person_id)


@router.get("/people/{person_id}/emails")
def list_person_emails(
    person_id: str, viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> dict[str, Any]:
    _person(runtime, viewer, person_id)
    offset = offset_of(cursor)
    with runtime.engine.connect() as conn:
        return page(person_emails(conn, viewer, person_id, offset, limit + 1), offset, limit)


@router.get("/companies")
def list_companies(viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50,
                   sort: SortParam = None) -> dict[str, Any]:
    offset = offset_of(cursor)
    with runtime.engine.connect() as conn:
        return page(company_rows(conn, viewer, offset, limit + 1, sort=sort), offset, limit)


@router.post("/companies", status_code=201)
def create_company(body: NewCompany, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    company_id = runtime.app.create_company(viewer.workspace_id, body.domain, body.name)
    runtime.catch_up()
    return _company(runtime, viewer, company_id)


@router.get("/companies/{company_id}")
def get_company(company_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _company(runtime, viewer, company_id)


@router.get("/companies/{company_id}/emails")
def list_company_emails(
    company_id: str, viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> dict[str, Any]:
    company = _company(runtime, viewer, company_id)
    offset = offset_of(cursor)
    with runtime.engine.connect() as conn:
        return page(company_emails(conn, viewer, company["domain"], offset, limit + 1), offset, limit)
