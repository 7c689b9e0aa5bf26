"""Communication intelligence of people and companies: connection strength, explained."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import RuntimeDep, ViewerDep
from api.paging import found
from projections.intelligence_queries import company_intelligence, person_intelligence

router = APIRouter(tags=["intelligence"])

AsOfParam = Annotated[
    datetime | None,
    Query(
        description="Evaluate as of this ISO 8601 time (naive = UTC); mail after it does not count. "
        "Default: the time of the newest visible email in the workspace, never the wall clock, "
        "so the same data always gives the same grades.",
    ),
]
SortParam = Annotated[
    Literal["last_interaction", "strength"] | None,
    Query(
        description="`last_interaction` (newest first) or `strength` (strongest connection first, as of the "
        "newest email); default: creation order. Ties keep creation order.",
    ),
]


@router.get("/people/{person_id}/intelligence")
def get_person_intelligence(
    person_id: str, viewer: ViewerDep, runtime: RuntimeDep, as_of: AsOfParam = None
) -> dict[str, Any]:
    """Per member: counts, first/last interaction, score, grade and the figures behind it."""
    with runtime.engine.connect() as conn:
        return found(person_intelligence(conn, viewer, person_id, as_of), "person", person_id)


@router.get("/companies/{company_id}/intelligence")
def get_company_intelligence(
    company_id: str, viewer: ViewerDep, runtime: RuntimeDep, as_of: AsOfParam = None
) -> dict[str, Any]:
    """Through the company's people: each member's best connection, and the company's best."""
    with runtime.engine.connect() as conn:
        return found(company_intelligence(conn, viewer, company_id, as_of), "company", company_id)
