"""The audit surface (auditors and admins): the log, explain, point-in-time replay, the report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import AuditorDep, RuntimeDep
from api.paging import CursorParam, LimitParam, decode_cursor, page
from api.replay import fresh_views, replay_digests, resolve_until
from api.schemas import ReplayRequest
from application.errors import NotFoundError, RuleViolationError
from domain.visibility import Viewer
from projections.audit_queries import explain, log_page
from projections.compliance import privacy_report
from projections.digest import view_digest
from projections.email_queries import email_in_workspace, email_summaries, visible_email_ids
from projections.record_queries import member_role, person_rows
from projections.redaction import redact_now_hidden

router = APIRouter(tags=["audit"])


@router.get("/audit/emails/{email_id}/explain")
def explain_email(
    email_id: str,
    viewer: Annotated[str, Query(description="The member whose view to explain.", max_length=64)],
    caller: AuditorDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        role = member_role(conn, caller.workspace_id, viewer)
        if role is None:
            raise NotFoundError(f"member {viewer} not found")
        if not email_in_workspace(conn, caller, email_id):
            raise NotFoundError(f"email {email_id} not found")
        result = explain(conn, Viewer(caller.workspace_id, viewer, role), email_id)
    if result is None:
        raise NotFoundError(f"email {email_id} not found")
    return result


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise RuleViolationError("times need a timezone, e.g. 2025-06-01T12:00:00+00:00")
    return value.astimezone(UTC).isoformat()


@router.get("/audit/events")
def audit_events(
    caller: AuditorDep,
    runtime: RuntimeDep,
    aggregate_id: Annotated[str | None, Query(max_length=64)] = None,
    event_type: Annotated[
        str | None, Query(max_length=96, description="e.g. Mailbox.Removed or Mailbox")
    ] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    member_id: Annotated[
        str | None, Query(max_length=64, description="that member's mailboxes and mail")
    ] = None,
    mailbox_id: Annotated[str | None, Query(max_length=64, description="that mailbox and its mail")] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 100,
) -> dict[str, Any]:
    """The log of the caller's workspace, filtered and paged; metadata only."""
    after = decode_cursor(cursor, "audit_events", "position", ("int",))
    with runtime.engine.connect() as conn:
        items = log_page(
            conn,
            caller.workspace_id,
            aggregate_id,
            event_type,
            _utc(since),
            _utc(until),
            after[0] if after else 0,
            limit + 1,
            member_id,
            mailbox_id,
        )
    return page(items, [(item["position"],) for item in items], limit, "audit_events", "position")


@router.post("/audit/replay")
def replay_as_of(body: ReplayRequest, caller: AuditorDep, runtime: RuntimeDep) -> dict[str, Any]:
    """The caller's workspace rebuilt as of `until` (a position or an ISO time), queried as the
    caller; content that a current exclusion or blocklist hides is redacted."""
    target = resolve_until(runtime, body.until, caller.workspace_id)
    with (
        fresh_views(runtime, target, workspace_id=caller.workspace_id) as (engine, position),
        engine.connect() as conn,
        runtime.engine.connect() as live,
    ):
        people = person_rows(conn, caller, None, body.limit)[1]
        ids = [email_id for _, email_id in visible_email_ids(conn, caller, None, body.limit)]
        emails = redact_now_hidden(conn, live, caller, email_summaries(conn, caller, ids))
        digest = view_digest(engine, caller.workspace_id)
    return {"position": position, "digest": digest, "people": people, "emails": emails}


@router.get("/compliance/report")
def compliance_report(caller: AuditorDep, runtime: RuntimeDep) -> dict[str, Any]:
    """The privacy invariants over the caller's workspace, and its replay digest check."""
    runtime.catch_up()
    with runtime.engine.connect() as conn:
        report = privacy_report(conn, caller.workspace_id)
    digests = replay_digests(runtime, workspace_id=caller.workspace_id)
    if not digests["equal"]:
        report["violations"].append({"rule": "replay_digest_differs", **digests})
    report["digests"] = digests
    return report
