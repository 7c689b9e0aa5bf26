"""The console's pages: each reads through the same queries as the API routes and renders them.

Auditors and admins only (a member gets 403 on every page); metadata only, as the audit API:
no page shows a subject or a body. Every response carries a Content-Security-Policy without
inline scripts, `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`; every value is
escaped by Jinja2's autoescaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.console import charts
from api.console.session import COOKIE, auditor_of, check_csrf, csrf_token, viewer_of
from api.deps import RuntimeDep
from api.errors import AuthError
from api.replay import fresh_views, replay_digests, resolve_until
from application.errors import NotFoundError, RuleViolationError
from domain.errors import ForbiddenError
from domain.fates import bare_message_id, message_text
from domain.visibility import Viewer
from projections.audit_queries import explain, log_page
from projections.compliance import privacy_report
from projections.diagnostic_queries import email_by_message_id, fates_of, mailbox_months, timeline_links
from projections.email_queries import email_summaries, visible_email_ids
from projections.intelligence_queries import person_intelligence
from projections.record_queries import company_rows, mailbox_rows, member_role, member_rows, person_rows

HERE = Path(__file__).parent
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
AS_OF_ROWS = 200

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
)
router = APIRouter(prefix="/console", include_in_schema=False)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.add_exception_handler(_Answered, lambda request, error: error.response)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")


def _page(request: Request, runtime: Any, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    viewer = viewer_of(runtime, request)
    html = templates.get_template(name).render(
        viewer=viewer, csrf=csrf_token(runtime, request) if viewer else "", path=request.url.path, **values
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


class _Answered(Exception):
    """A console page answered before its route ran: to sign in, or 403."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _auditor(request: Request, runtime: RuntimeDep) -> Viewer:
    """The signed-in auditor or admin; else the page that says why not (sign in, or 403)."""
    try:
        return auditor_of(runtime, request)
    except AuthError:
        raise _Answered(RedirectResponse("/console/login", status_code=303, headers=HEADERS)) from None
    except ForbiddenError as error:
        raise _Answered(_page(request, runtime, "denied.html", 403, reason=str(error))) from None


AuditorPage = Annotated[Viewer, Depends(_auditor)]


def _time(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise RuleViolationError(f"{field}: not a time, e.g. 2025-06-01T12:00") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    return _page(request, runtime, "login.html", error="")


@router.post("/login")
def login(request: Request, runtime: RuntimeDep, token: Annotated[str, Form(max_length=200)]) -> Response:
    if runtime.tokens.resolve(token.strip()) is None:
        return _page(request, runtime, "login.html", 401, error="That token is not valid.")
    response = RedirectResponse("/console", status_code=303, headers=HEADERS)
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE, token.strip(), httponly=True, samesite="strict", secure=secure, path="/console"
    )
    return response


@router.post("/logout")
def logout(
    request: Request, runtime: RuntimeDep, csrf: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    check_csrf(runtime, request, csrf)
    response = RedirectResponse("/console/login", status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("", response_class=HTMLResponse)
def home(request: Request, runtime: RuntimeDep, viewer: AuditorPage) -> Response:
    return _page(request, runtime, "home.html")


@router.get("/timeline", response_class=HTMLResponse)
def timeline(
    request: Request,
    runtime: RuntimeDep,
    viewer: AuditorPage,
    event_type: Annotated[str, Query(max_length=96)] = "",
    aggregate_id: Annotated[str, Query(max_length=64)] = "",
    member: Annotated[str, Query(max_length=64)] = "",
    mailbox: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    after: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    start, end = _time(since, "since"), _time(until, "until")
    with runtime.engine.connect() as conn:
        rows = log_page(
            conn, viewer.workspace_id, aggregate_id or None, event_type or None,
            start.astimezone(UTC).isoformat() if start else None,
            end.astimezone(UTC).isoformat() if end else None, after, 101, member or None, mailbox or None,
        )  # fmt: skip
        links = timeline_links(conn, viewer, rows[:100])
        people, boxes = member_rows(conn, viewer), mailbox_rows(conn, viewer)
    following = rows[99]["position"] if len(rows) > 100 else None
    filters = {"event_type": event_type, "aggregate_id": aggregate_id, "member": member, "mailbox": mailbox,
               "since": since, "until": until}  # fmt: skip
    return _page(request, runtime, "timeline.html", rows=rows[:100], links=links, following=following,
                 filters=filters, members=people, mailboxes=boxes)  # fmt: skip


@router.get("/explain", response_class=HTMLResponse)
def explain_page(
    request: Request,
    runtime: RuntimeDep,
    viewer: AuditorPage,
    email_id: Annotated[str, Query(max_length=64)] = "",
    message_id: Annotated[str, Query(max_length=998)] = "",
    member: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    result, error = None, ""
    with runtime.engine.connect() as conn:
        people = member_rows(conn, viewer)
        if not email_id and message_id:
            email_id = email_by_message_id(conn, viewer, bare_message_id(message_id)) or ""
            error = "" if email_id else "No email of this workspace has that Message-ID."
        if email_id and member:
            role = member_role(conn, viewer.workspace_id, member)
            result = explain(conn, Viewer(viewer.workspace_id, member, role), email_id) if role else None
            error = "" if result else "No such email in this workspace, or no such member."
    return _page(request, runtime, "explain.html", members=people, result=result, error=error,
                 email_id=email_id, message_id=message_id, member=member)  # fmt: skip


@router.get("/as-of", response_class=HTMLResponse)
def as_of(
    request: Request,
    runtime: RuntimeDep,
    viewer: AuditorPage,
    member: Annotated[str, Query(max_length=64)] = "",
    at: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    with runtime.engine.connect() as conn:
        people = member_rows(conn, viewer)
        role = member_role(conn, viewer.workspace_id, member) if member else None
    comparison = None
    when = _time(at, "at")
    if role is not None and when is not None:
        seen_as = Viewer(viewer.workspace_id, member, role)
        target = resolve_until(runtime, when.astimezone(UTC).isoformat(), viewer.workspace_id)
        with (
            fresh_views(runtime, target, workspace_id=viewer.workspace_id) as (engine, position),
            engine.connect() as conn,
        ):
            then = _visible(conn, seen_as)
        with runtime.engine.connect() as conn:
            now = _visible(conn, seen_as)
        comparison = {"position": position, **charts.compare(then, now)}
    return _page(request, runtime, "as_of.html", members=people, member=member, at=at, comparison=comparison)


def _visible(conn: Any, viewer: Viewer) -> dict[str, dict[str, dict[str, Any]]]:
    """What `viewer` sees, metadata only: people, companies and emails by id."""
    emails = email_summaries(conn, viewer, [e for _, e in visible_email_ids(conn, viewer, None, AS_OF_ROWS)])
    return {
        "people": {p["id"]: p for p in person_rows(conn, viewer, None, AS_OF_ROWS)[1]},
        "companies": {c["id"]: c for c in company_rows(conn, viewer, None, AS_OF_ROWS)[1]},
        "emails": {e["id"]: {k: e.get(k) for k in ("id", "sent_at", "from", "level")} for e in emails},
    }


@router.get("/compliance", response_class=HTMLResponse)
def compliance(request: Request, runtime: RuntimeDep, viewer: AuditorPage) -> Response:
    runtime.catch_up()
    with runtime.engine.connect() as conn:
        report = privacy_report(conn, viewer.workspace_id)
    return _page(request, runtime, "compliance.html", report=report, digests=None)


@router.post("/compliance", response_class=HTMLResponse)
def compliance_replay(
    request: Request,
    runtime: RuntimeDep,
    viewer: AuditorPage,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(runtime, request, csrf)
    runtime.catch_up()
    with runtime.engine.connect() as conn:
        report = privacy_report(conn, viewer.workspace_id)
    digests = replay_digests(runtime, workspace_id=viewer.workspace_id)
    return _page(request, runtime, "compliance.html", report=report, digests=digests)


@router.get("/diagnostics", response_class=HTMLResponse)
def diagnostics(
    request: Request,
    runtime: RuntimeDep,
    viewer: AuditorPage,
    message_id: Annotated[str, Query(max_length=998)] = "",
) -> Response:
    bare = bare_message_id(message_id)
    found = None
    if bare:
        with runtime.engine.connect() as conn:
            found = fates_of(
                conn, viewer, runtime.app.fate_hash(message_text(bare)), bare, keyed=runtime.app.fate_hash
            )
    return _page(request, runtime, "diagnostics.html", message_id=message_id, fates=found)


@router.get("/charts", response_class=HTMLResponse)
def chart_page(
    request: Request,
    runtime: RuntimeDep,
    viewer: AuditorPage,
    mailbox: Annotated[str, Query(max_length=64)] = "",
    person: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    with runtime.engine.connect() as conn:
        boxes = mailbox_rows(conn, viewer)
        mail_chart = charts.monthly_bars(mailbox_months(conn, viewer, mailbox)) if mailbox else None
        strength_chart = None
        if person:
            today = datetime.now(UTC)
            points = []
            for months_back in range(11, -1, -1):
                when = today - timedelta(days=30 * months_back)
                found = person_intelligence(conn, viewer, person, when)
                if found is None:
                    raise NotFoundError(f"person {person} not found")
                points.append((when.strftime("%Y-%m"), float(found.get("score") or 0.0)))
            strength_chart = charts.line(points, "connection strength")
    return _page(request, runtime, "charts.html", mailboxes=boxes, mailbox=mailbox, person=person,
                 mail_chart=mail_chart, strength_chart=strength_chart)  # fmt: skip
