"""Calendars (connect, inspect, share, sync now, remove) and the meetings of records."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import MemberDep, RuntimeDep, ServicesDep, ViewerDep, ViewsDep
from api.paging import EMAIL_SHAPE, CursorParam, LimitParam, found, keyset_page, only
from api.routes.leads import _lead
from api.routes.records import _company, _person
from api.runtime import Runtime
from api.schemas import CalendarChange, NewCalendar
from domain.visibility import Viewer
from projections.meeting_queries import (
    calendar_rows,
    company_meetings,
    lead_meetings,
    meeting_row,
    person_meetings,
)

router = APIRouter(tags=["calendars"])


def calendar_row(runtime: Runtime, viewer: Viewer, calendar_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return only(calendar_rows(conn, viewer, calendar_id), "calendar", calendar_id)


@router.post("/calendars", status_code=201)
def connect_calendar(
    body: NewCalendar, viewer: MemberDep, services: ServicesDep, views: ViewsDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """A CalDAV account (checked by logging in; its first full sync starts now)."""
    created = services.calendars.connect(
        viewer.workspace_id, viewer.member_id, body.provider, body.url, body.username, body.password
    )
    views.applied(created.position)
    return calendar_row(runtime, viewer, created.id)


@router.get("/calendars")
def list_calendars(viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return {"items": calendar_rows(conn, viewer), "next": None}


@router.get("/calendars/{calendar_id}")
def get_calendar(calendar_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return calendar_row(runtime, viewer, calendar_id)


@router.patch("/calendars/{calendar_id}")
def change_calendar(
    calendar_id: str, body: CalendarChange, viewer: MemberDep, services: ServicesDep, views: ViewsDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:  # fmt: skip
    views.applied(
        services.calendars.change(
            viewer.workspace_id, calendar_id, viewer.member_id, body.sharing, body.status
        )
    )
    return calendar_row(runtime, viewer, calendar_id)


@router.post("/calendars/{calendar_id}/sync", status_code=202)
def sync_calendar(calendar_id: str, viewer: MemberDep, services: ServicesDep) -> dict[str, Any]:
    started = services.calendars.sync_now(viewer.workspace_id, calendar_id, viewer.member_id)
    return {"id": calendar_id, "sync": "started" if started else "running"}


@router.delete("/calendars/{calendar_id}", status_code=204)
def remove_calendar(calendar_id: str, viewer: MemberDep, services: ServicesDep, runtime: RuntimeDep) -> None:
    position = services.erasure.remove_calendar(viewer.workspace_id, calendar_id, viewer.member_id)
    runtime.finish_erasures(position)


@router.get("/meetings/{meeting_id}")
def get_meeting(meeting_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return found(meeting_row(conn, viewer, meeting_id), "meeting", meeting_id)


@router.get("/people/{person_id}/meetings")
def list_person_meetings(
    person_id: str, viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> dict[str, Any]:
    _person(runtime, viewer, person_id)
    return keyset_page(
        runtime.engine, cursor, limit, f"people/{person_id}/meetings", "newest", EMAIL_SHAPE,
        lambda conn, after, size: person_meetings(conn, viewer, person_id, after, size),  # type: ignore[arg-type]
    )  # fmt: skip


@router.get("/companies/{company_id}/meetings")
def list_company_meetings(
    company_id: str,
    viewer: ViewerDep,
    runtime: RuntimeDep,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> dict[str, Any]:
    company = _company(runtime, viewer, company_id)
    return keyset_page(
        runtime.engine, cursor, limit, f"companies/{company_id}/meetings", "newest", EMAIL_SHAPE,
        lambda conn, after, size: company_meetings(conn, viewer, company["domain"], after, size),  # type: ignore[arg-type]
    )  # fmt: skip


@router.get("/leads/{lead_id}/meetings")
def list_lead_meetings(
    lead_id: str, viewer: ViewerDep, runtime: RuntimeDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> dict[str, Any]:
    _lead(runtime, viewer, lead_id)
    return keyset_page(
        runtime.engine, cursor, limit, f"leads/{lead_id}/meetings", "newest", EMAIL_SHAPE,
        lambda conn, after, size: lead_meetings(conn, viewer, lead_id, after, size),  # type: ignore[arg-type]
    )  # fmt: skip
