"""Threads of the workspace, of a person, a company or a lead: newest activity first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import RuntimeDep, ViewerDep
from api.paging import CursorParam, LimitParam, found, keyset_page
from application.errors import NotFoundError, RuleViolationError
from projections.thread_queries import thread_detail, thread_rows

router = APIRouter(tags=["threads"])

RecordId = Annotated[str | None, Query(max_length=64)]


@router.get("/threads")
def list_threads(
    viewer: ViewerDep,
    runtime: RuntimeDep,
    person: RecordId = None,
    company: RecordId = None,
    lead: RecordId = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> dict[str, Any]:
    """Threads with a visible email, newest activity first; `subject` only at subject level."""
    named = [(k, v) for k, v in (("person", person), ("company", company), ("lead", lead)) if v is not None]
    if len(named) > 1:
        raise RuleViolationError("ask for the threads of one record at a time: person, company or lead")
    sort = named[0][0] if named else "all"

    def rows_of(conn: Any, after: Any, size: int) -> tuple[list[Any], list[Any]]:
        page = thread_rows(conn, viewer, after, size, person=person, company=company, lead=lead)
        if page is None:
            raise NotFoundError(f"{named[0][0]} {named[0][1]} not found")
        return list(page[0]), page[1]

    return keyset_page(runtime.engine, cursor, limit, "threads", sort, ("text", "text"), rows_of)


@router.get("/threads/{thread_id}")
def get_thread(thread_id: str, viewer: ViewerDep, runtime: RuntimeDep) -> dict[str, Any]:
    """The thread with its emails (oldest first, at most 200), each at the caller's level."""
    with runtime.engine.connect() as conn:
        return found(thread_detail(conn, viewer, thread_id), "thread", thread_id)
