"""Leads (Close-style) with people as contacts, and the emails that attach to them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import MemberDep, RuntimeDep, ServicesDep, ViewerDep, ViewsDep
from api.paging import CursorParam, LimitParam, email_page, keyset_page, only, record_shape, require
from api.schemas import MergeRequest, NewContact, NewLead
from domain.visibility import Viewer
from projections.lead_queries import lead_email_keys, lead_exists, lead_rows

router = APIRouter(tags=["records"])


def _lead(runtime: Any, viewer: Viewer, lead_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return only(lead_rows(conn, viewer, None, 1, lead_id)[1], "lead", lead_id)


@router.get("/leads")
def list_leads(
    viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> dict[str, Any]:
    return keyset_page(
        runtime.engine,
        cursor,
        limit,
        "leads",
        "created",
        record_shape(None),
        lambda conn, after, size: lead_rows(conn, viewer, after, size),
    )


@router.post("/leads", status_code=201)
def create_lead(
    body: NewLead, viewer: MemberDep, services: ServicesDep, views: ViewsDep, runtime: RuntimeDep
) -> dict[str, Any]:
    lead = services.records.create_lead(viewer.workspace_id, body.name, body.contacts)
    views.applied(lead.position)
    return _lead(runtime, viewer, lead.id)


@router.get("/leads/{lead_id}")
def get_lead(lead_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _lead(runtime, viewer, lead_id)


@router.post("/leads/{lead_id}/contacts")
def add_contact(
    lead_id: str,
    body: NewContact,
    viewer: MemberDep,
    services: ServicesDep,
    views: ViewsDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    _lead(runtime, viewer, lead_id)
    views.applied(services.records.add_lead_contact(viewer.workspace_id, lead_id, body.person_id))
    return _lead(runtime, viewer, lead_id)


@router.get("/leads/{lead_id}/emails")
def list_lead_emails(
    lead_id: str, viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        require(lead_exists(conn, viewer, lead_id), "lead", lead_id)
    return email_page(
        runtime.engine,
        viewer,
        cursor,
        limit,
        f"leads/{lead_id}/emails",
        lambda conn, after, size: lead_email_keys(conn, viewer, lead_id, after, size),
    )


@router.post("/people/{person_id}/merge")
def merge_person(
    person_id: str,
    body: MergeRequest,
    viewer: MemberDep,
    services: ServicesDep,
    views: ViewsDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    """Merge another person into this one: addresses, emails and interactions follow."""
    views.applied(services.records.merge_people(viewer.workspace_id, person_id, body.person_id))
    return {"id": person_id, "merged": body.person_id}
