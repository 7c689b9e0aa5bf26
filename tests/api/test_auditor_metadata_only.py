"""Issue 14.4: an auditor sees metadata only, on every endpoint, whatever is shared.

The GET routes come from the app's own OpenAPI document, so an endpoint added later is scanned too;
their path ids are filled from the workspace's real data, and a route with an id this
test cannot fill fails the test instead of being skipped."""

from __future__ import annotations

import re
from email.message import EmailMessage
from ipaddress import ip_address
from typing import Any

import pytest

from tests.support.dsl import Member, Workspace

SUBJECT_CANARY = "SUBJ-CANARY-7f3a9"
BODY_CANARY = "BODY-CANARY-c41e2"
ATTACHMENT_CANARY = "ATTACH-CANARY-e88d0"
CANARIES = (SUBJECT_CANARY, BODY_CANARY, ATTACHMENT_CANARY)


def raw_message(sender: str, to: str, subject: str, message_id: str, reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"], msg["Message-ID"] = "Mon, 02 Jun 2025 10:00:00 +0000", message_id
    if reply_to:
        msg["In-Reply-To"] = msg["References"] = reply_to
    msg.set_content(f"Hello, {BODY_CANARY} is the secret.\n")
    msg.add_attachment(
        b"%PDF-1.4\n", maintype="application", subtype="pdf", filename=f"{ATTACHMENT_CANARY}.pdf"
    )
    return bytes(msg)


class Shared:
    """Bob's mailbox shares in full; one email is shared with the workspace, one with the auditor by name."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.auditor = ws.add_member("Audrey", "audrey@acme.com", role="auditor")
        self.mailbox = ws.connect_upload(ws.admin, "bob@acme.com")
        ws.client.patch(f"/mailboxes/{self.mailbox}", json={"sharing": "full"}, headers=ws.admin.headers)
        bob, sue, subject = "bob@acme.com", "Sue <sue@initech.com>", f"{SUBJECT_CANARY} one"
        self.emails = [
            self._post(raw_message(bob, sue, subject, "<c1@acme.com>")),
            self._post(raw_message(sue, bob, f"Re: {subject}", "<c2@initech.com>", "<c1@acme.com>")),
            self._post(raw_message(bob, "pat@globex.com", f"{SUBJECT_CANARY} two", "<c3@acme.com>")),
        ]
        self._share(self.emails[0], {"workspace": True, "thread": True})
        self._share(self.emails[2], {"members": [self.auditor.id]})
        person = ws.client.get("/people", headers=ws.admin.headers).json()["items"][0]
        lead = ws.client.post(
            "/leads", json={"name": "Initech deal", "contacts": [person["id"]]}, headers=ws.admin.headers
        )
        assert lead.status_code == 201, lead.text

    def _post(self, raw: bytes) -> str:
        response = self.ws.post_message(self.ws.admin, self.mailbox, raw)
        assert response.status_code == 201, response.text
        return str(response.json()["email_id"])

    def _share(self, email_id: str, body: dict[str, Any]) -> None:
        response = self.ws.client.post(f"/emails/{email_id}/shares", json=body, headers=self.ws.admin.headers)
        assert response.status_code == 201, response.text

    def ids(self, name: str) -> list[str]:
        """Real values for a path parameter, read as the admin."""
        admin = self.ws.admin.headers
        if name == "email_id":
            return self.emails
        if name == "mailbox_id":
            return [self.mailbox]
        if name == "attachment_id":
            return ["0", "1"]
        if name in ("send_id", "calendar_id", "meeting_id"):  # none in this workspace: the answer is a 404
            return ["00000000-0000-0000-0000-000000000000"]
        if name == "webhook_id":
            with pytest.MonkeyPatch.context() as public:  # its host resolves to a public address
                public.setattr("adapters.outbound.check_host", lambda *_, **__: [ip_address("93.184.216.34")])
                made = self.ws.client.post(
                    "/webhooks", json={"url": "https://hooks.example.com/in", "events": ["email.created"]},
                    headers=admin,
                )  # fmt: skip
            assert made.status_code == 201, made.text
            return [made.json()["id"]]
        lists = {
            "person_id": "/people",
            "company_id": "/companies",
            "lead_id": "/leads",
            "thread_id": "/threads",
            "member_id": "/members",
        }
        if name in lists:
            found = [item["id"] for item in self.ws.client.get(lists[name], headers=admin).json()["items"]]
            assert found, f"no {name} to fill {lists[name]} with"
            return found
        raise AssertionError(f"this test cannot fill the path parameter {name!r}: teach Shared.ids about it")


@pytest.fixture
def shared(acme: Workspace) -> Shared:
    return Shared(acme)


def get_paths(shared: Shared) -> list[str]:
    """Every GET route of the app with each path parameter filled by every real id."""
    paths: list[str] = []
    for route, operations in shared.ws.client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if "get" not in operations:
            continue
        filled = [route]
        for name in re.findall(r"{(\w+)}", route):
            filled = [p.replace(f"{{{name}}}", value) for p in filled for value in shared.ids(name)]
        paths += filled
    return paths


def query_for(path: str, viewer: Member, shared: Shared) -> dict[str, str]:
    return {"viewer": viewer.id} if path.endswith("/explain") else {}


def assert_no_canary(text: str, where: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary} in {where}: {text[:400]}"


def test_the_admin_reads_the_canaries_so_the_scan_below_means_something(shared: Shared) -> None:
    admin = shared.ws.admin.headers
    listed = shared.ws.client.get("/emails", headers=admin).text
    assert SUBJECT_CANARY in listed
    body = shared.ws.client.get(f"/emails/{shared.emails[0]}/body", headers=admin).text
    assert BODY_CANARY in body and ATTACHMENT_CANARY in body
    alice = shared.ws.add_member("Alice", "alice@acme.com")  # what the workspace share gives a member
    assert BODY_CANARY in shared.ws.client.get(f"/emails/{shared.emails[0]}/body", headers=alice.headers).text


def test_no_endpoint_answers_an_auditor_a_subject_body_or_attachment_name(shared: Shared) -> None:
    auditor = shared.auditor
    paths = get_paths(shared)
    assert {"/emails", "/compliance/report", "/audit/events"} <= set(paths)
    assert any(p.endswith("/intelligence") for p in paths) and any(p.startswith("/leads/") for p in paths)
    for viewer in (auditor, shared.ws.admin):  # explain of any viewer, read by the auditor
        for path in paths:
            params = query_for(path, viewer, shared)
            response = shared.ws.client.get(path, params=params, headers=auditor.headers)
            assert response.status_code < 500, (path, response.text)
            assert_no_canary(response.text, f"GET {path}")
    position = shared.ws.runtime.catch_up()
    for until in (position, "2030-01-01T00:00:00+00:00"):
        replay = shared.ws.client.post("/audit/replay", json={"until": until}, headers=auditor.headers)
        assert replay.status_code == 200, replay.text
        assert replay.json()["emails"] and all(e["level"] == "metadata" for e in replay.json()["emails"])
        assert_no_canary(replay.text, "POST /audit/replay")


def test_an_auditor_gets_a_404_for_every_body_and_metadata_for_every_email(shared: Shared) -> None:
    auditor = shared.auditor.headers
    for email_id in shared.emails:
        assert shared.ws.client.get(f"/emails/{email_id}/body", headers=auditor).status_code == 404
        shown = shared.ws.client.get(f"/emails/{email_id}", headers=auditor).json()
        assert shown["level"] == "metadata" and "subject" not in shown and "has_body" not in shown
        assert {p["address"] for p in shown["participants"]} & {"sue@initech.com", "pat@globex.com"}
    explained = shared.ws.client.get(
        f"/audit/emails/{shared.emails[0]}/explain", params={"viewer": shared.auditor.id}, headers=auditor
    ).json()
    assert explained["level"] == "metadata"
    assert [r["rule"] for r in explained["copies"][0]["rules"]] == ["sharing", "auditor_metadata_only"]
