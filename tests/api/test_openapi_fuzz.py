"""Schemathesis against the app's own OpenAPI schema, with an admin's token on a small demo workspace.

One fuzzing pass per module sends, for every operation, positive cases, negative cases
and positive cases whose ids exist (an email, a mailbox, a person, a share…) so the
handlers behind the 404s run too. The tests then judge the recorded exchanges: no 5xx
ever; errors are application/problem+json carrying their status and are declared so
in the OpenAPI document; success bodies conform to the schema declared for them.
SQLite only; no network (IMAP and CalDAV hosts are refused before any connection is tried)."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.netcheck import HostRefusedError
from adapters.settings import Settings
from api.main import create_app
from api.runtime import Runtime
from application.services.sending import Outgoing
from tests.support.dsl import make_workspace
from tests.support.messages import message

MAX_EXAMPLES = 6  # per operation and kind of case; ~40 operations, 3 kinds


@schemathesis.serializer("message/rfc822")
def raw_message(ctx: Any, value: Any) -> bytes:
    """The raw message body of POST /mailboxes/{id}/messages, sent as generated."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")


@dataclass
class Demo:
    headers: dict[str, str]
    ids: dict[str, list[str]]  # path/query parameter name -> ids that exist


@dataclass
class Exchange:
    label: str  # "GET /emails/{email_id}"
    kind: str  # positive | negative | existing ids
    case: Any
    response: Any


@dataclass
class Fuzzed:
    demo: Demo
    operations: list[str]
    exchanges: list[Exchange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # cases that could not even be sent


def with_attachment(raw: bytes) -> bytes:
    """The message with a small file attached (multipart/mixed)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    head = head.replace(
        b"Content-Type: text/plain; charset=utf-8", b'Content-Type: multipart/mixed; boundary="z"'
    )
    return head + (
        b"\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\n" + body + b"\r\n--z\r\n"
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\n'
        b"%PDF-1.4\r\n--z--\r\n"
    )


def refuse_host(host: str, port: int, **_: Any) -> list[Any]:
    raise HostRefusedError(f"{host}:{port} is not reachable from the test suite")


def build_demo(client: TestClient, runtime: Runtime) -> Demo:
    """Acme: Bob (admin), Alice, an auditor; two mailboxes of Bob's, a few messages, a share, a lead."""
    ws = make_workspace(client, runtime)
    headers = ws.admin.headers
    assert client.patch("/settings", json={"plan": "enterprise"}, headers=headers).status_code == 200
    alice = ws.add_member("Alice", "alice@acme.com")
    auditor = ws.add_member("Audrey", "audrey@acme.com", role="auditor")
    mailbox = ws.connect_upload(ws.admin, "bob@acme.com")
    ws.add_email(ws.admin, "bob.sales@acme.com")
    spare = ws.connect_upload(ws.admin, "bob.sales@acme.com")
    emails = []
    for n, (sender, to) in enumerate(
        [
            ("bob@acme.com", "sue@gmail.com"),
            ("pat@initech.com", "bob@acme.com"),
            ("bob@acme.com", "lee@globex.io"),
            ("joe@globex.io", "bob@acme.com"),
        ]
    ):
        raw = with_attachment(message(sender, to, f"Demo {n}", message_id=f"<demo{n}@acme.com>"))
        response = ws.post_message(ws.admin, mailbox, raw)
        assert response.json()["status"] == "stored", response.text
        emails.append(response.json()["email_id"])
    grant = client.post(f"/emails/{emails[0]}/shares", json={"members": [alice.id]}, headers=headers)
    assert grant.status_code == 201, grant.text
    people = client.get("/people", headers=headers).json()["items"]
    companies = client.get("/companies", headers=headers).json()["items"]
    assert people and companies, (people, companies)
    new_lead = {"name": "Initech deal", "contacts": [people[0]["id"]]}
    lead = client.post("/leads", json=new_lead, headers=headers)
    ws.add_email(ws.admin, "bob.out@acme.com")
    smtp = {"host": "imap.invalid", "port": 993, "security": "tls", "username": "bob", "smtp_host": "smtp.invalid",
            "smtp_port": 587, "smtp_security": "starttls"}  # fmt: skip
    sender = runtime.services.mailboxes.register(ws.id, ws.admin.id, "imap", "bob.out@acme.com", [], smtp).id
    queued = runtime.services.sending.send(
        ws.id, sender, ws.admin.id, "demo", Outgoing(["sue@gmail.com"], "Hi", "x")
    )
    runtime.wait_for(queued.position)
    with pytest.MonkeyPatch.context() as public:  # the webhook's host resolves to a public address
        public.setattr(
            "adapters.outbound.check_host", lambda *_, **__: [ipaddress.ip_address("93.184.216.34")]
        )
        hook, spare_hook = (
            client.post(
                "/webhooks",
                json={"url": "https://hooks.example.com/in", "events": ["email.created"]},
                headers=headers,
            )
            for _ in range(2)
        )
    assert hook.status_code == spare_hook.status_code == 201, hook.text
    threads = client.get("/threads", headers=headers).json()["items"]
    calendar, spare_calendar, meeting = _calendars(ws)
    return Demo(
        headers,
        {
            "email_id": emails,
            "mailbox_id": [mailbox],
            "spare_mailbox_id": [spare],
            "person_id": [p["id"] for p in people],
            "company_id": [c["id"] for c in companies],
            "share_id": [grant.json()["id"]],
            "viewer": [ws.admin.id, alice.id, auditor.id],
            "member_id": [ws.admin.id, alice.id, auditor.id],
            "lead_id": [lead.json()["id"]] if lead.status_code == 201 else [],
            "send_id": [queued.id],
            "message_id": ["<demo0@acme.com>", "demo1@acme.com"],  # GET /diagnostics/messages
            "webhook_id": [hook.json()["id"]],
            "spare_webhook_id": [spare_hook.json()["id"]],
            "thread_id": [t["id"] for t in threads],
            "attachment_id": ["0"],
            "calendar_id": [calendar],
            "spare_calendar_id": [spare_calendar],
            "meeting_id": [meeting],
        },
    )


def _calendars(ws: Any) -> tuple[str, str, str]:
    """Two calendars of Bob's with a meeting, recorded as a sync records them (no CalDAV server
    is reachable here: hosts are refused)."""
    from adapters.ical import parse_calendar
    from application.calendar_recorder import CalendarRecorder
    from application.ports import CalendarResource
    from domain.calendar import Calendar

    app = ws.runtime.app
    ids = []
    for name in ("work", "spare"):
        calendar = Calendar(workspace_id=ws.id, owner_id=ws.admin.id, provider="caldav",
                            connection={"url": f"https://dav.example.com/{name}/", "username": "bob"})  # fmt: skip
        app.save_all(calendar)
        ids.append(str(calendar.id))
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:fuzz-1\r\nDTSTART:20260105T100000Z\r\n"
        "DTEND:20260105T110000Z\r\nSUMMARY:Demo\r\nORGANIZER:mailto:bob@acme.com\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:pat@initech.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (meeting,) = parse_calendar(ics, (datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)))
    position = 0
    for calendar_id in ids:
        batch = CalendarRecorder(app, calendar_id).record(
            "/c/", [CalendarResource("k/1", [meeting])], [], None
        )
        position = batch.position
    ws.runtime.wait_for(position)
    people = ws.client.get("/people", headers=ws.admin.headers).json()["items"]
    person = next(p for p in people if "pat@initech.com" in p["emails"])
    found = ws.client.get(f"/people/{person['id']}/meetings", headers=ws.admin.headers).json()["items"]
    return ids[0], ids[1], found[0]["id"]


def case_strategies(operation: Any, demo: Demo) -> list[tuple[str, Any]]:
    """Positive and negative cases; and positive ones whose ids exist."""
    strategies = [
        ("positive", operation.as_strategy(GenerationMode.POSITIVE)),
        ("negative", operation.as_strategy(GenerationMode.NEGATIVE)),
    ]
    real = {}
    for parameter in operation.path_parameters:
        pool = demo.ids.get(parameter.name, [])
        removes_mailbox = operation.method.upper() == "DELETE" and operation.path == "/mailboxes/{mailbox_id}"
        if parameter.name == "mailbox_id" and removes_mailbox:
            pool = demo.ids["spare_mailbox_id"]  # removing the spare keeps the demo mail for the other cases
        if parameter.name == "webhook_id" and operation.method.upper() == "DELETE":
            pool = demo.ids["spare_webhook_id"]  # likewise: the other webhook stays for the reads
        if parameter.name == "calendar_id" and operation.method.upper() == "DELETE":
            pool = demo.ids["spare_calendar_id"]  # and the spare calendar, its meeting
        if pool:
            real[parameter.name] = st.sampled_from(pool)
    query = {}
    for name in ("viewer", "message_id"):
        if any(p.name == name for p in operation.query):
            query[name] = st.sampled_from(demo.ids[name])
    if real or query:
        fixed = st.tuples(st.fixed_dictionaries(real), st.fixed_dictionaries(query))
        strategies.append(
            (
                "existing ids",
                fixed.flatmap(
                    lambda ids: operation.as_strategy(
                        GenerationMode.POSITIVE, path_parameters=ids[0] or None, query=ids[1] or None
                    )
                ),
            )
        )
    return strategies


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """One fuzzing pass over every operation; the exchanges are judged by the tests below."""
    patch = pytest.MonkeyPatch()
    patch.setattr("adapters.outbound.check_host", refuse_host)
    patch.setattr("adapters.caldav_calendar.check_host", refuse_host)  # nor CalDAV hosts
    runtime = Runtime.open(Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"))
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            demo = build_demo(client, runtime)
            api = schemathesis.openapi.from_asgi("/openapi.json", client.app)
            operations = [result.ok() for result in api.get_all_operations()]
            result = Fuzzed(demo, [op.label for op in operations])
            for operation in operations:
                for kind, strategy in case_strategies(operation, demo):
                    send(result, operation.label, kind, strategy)
            yield result
    finally:
        runtime.close()
        patch.undo()


def send(result: Fuzzed, label: str, kind: str, strategy: Any) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        result.exchanges.append(Exchange(label, kind, case, case.call(headers=result.demo.headers)))

    try:
        run()
    except Exception as error:  # noqa: BLE001 - reported by the tests
        result.errors.append(f"{label} ({kind}): {type(error).__name__}: {str(error).strip()[:300]}")


def judge(fuzzed: Fuzzed, checks: list[Callable[..., Any]], keep: Callable[[Any], bool]) -> list[str]:
    """The first failure of `checks` per operation, over the kept exchanges."""
    failures: dict[str, str] = {}
    for exchange in fuzzed.exchanges:
        if exchange.label in failures or not keep(exchange.response):
            continue
        try:
            exchange.case.validate_response(exchange.response, checks=checks, headers=fuzzed.demo.headers)
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collected and reported together
            found = error.exceptions if isinstance(error, BaseExceptionGroup) else [error]
            summary = "; ".join(str(e).strip().splitlines()[0] for e in found)
            failures[exchange.label] = (
                f"{exchange.label} ({exchange.kind}) -> {exchange.response.status_code}: {summary}\n"
                f"    {exchange.case.as_curl_command()[:300]}"
            )
    return list(failures.values())


def problem_details(ctx: Any, response: Any, case: Any) -> bool | None:
    """Errors are application/problem+json documents that carry their own status."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.startswith("application/problem+json"), (response.status_code, content_type)
    body = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"], body
    return True


def is_error(response: Any) -> bool:
    return bool(response.status_code >= 400)


def is_success(response: Any) -> bool:
    return bool(response.status_code < 300)


def test_every_operation_was_fuzzed_and_reached_its_handlers(fuzzed: Fuzzed) -> None:
    assert not fuzzed.errors, "\n".join(fuzzed.errors)
    assert len(fuzzed.operations) >= 30
    fuzzed_labels = {e.label for e in fuzzed.exchanges}
    assert fuzzed_labels == set(fuzzed.operations)
    succeeded = {e.label for e in fuzzed.exchanges if is_success(e.response)}
    # every read of something that exists answers 2xx for the admin at least once
    reads = {label for label in fuzzed.operations if label.startswith("GET ")}
    assert reads - succeeded == set(), sorted(reads - succeeded)
    statuses = Counter(e.response.status_code for e in fuzzed.exchanges)
    assert statuses[422] and statuses[404], statuses


def test_no_operation_ever_answers_a_server_error(fuzzed: Fuzzed) -> None:
    failures = judge(fuzzed, [not_a_server_error], lambda response: True)

    assert not failures, "\n".join(failures)


def test_errors_are_problem_details_as_declared_in_the_schema(fuzzed: Fuzzed) -> None:
    failures = judge(
        fuzzed,
        [problem_details, status_code_conformance, content_type_conformance, response_schema_conformance],
        is_error,
    )

    assert not failures, "\n".join(failures)


def test_success_bodies_conform_to_the_declared_schema(fuzzed: Fuzzed) -> None:
    failures = judge(
        fuzzed, [status_code_conformance, content_type_conformance, response_schema_conformance], is_success
    )

    assert not failures, "\n".join(failures)
