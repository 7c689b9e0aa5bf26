"""The test DSL: a workspace and its members driven through the HTTP API, and the problem check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from adapters.tokens import issue_token
from api.runtime import Runtime


def assert_problem(response: Any, status: int | tuple[int, ...]) -> dict[str, Any]:
    """The response is an application/problem+json error with this status (or one of these)."""
    allowed = status if isinstance(status, tuple) else (status,)
    assert response.status_code in allowed, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert body["title"]
    assert body["detail"]
    return body


@dataclass
class Member:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Workspace:
    id: str
    admin: Member
    client: TestClient
    runtime: Runtime

    def add_member(self, name: str, email: str, role: str = "member") -> Member:
        response = self.client.post(
            "/members", json={"name": name, "emails": [email], "role": role}, headers=self.admin.headers
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Member(body["id"], body["token"])

    def add_email(self, member: Member, address: str) -> None:
        """An admin gives the member one more address (an upload mailbox takes only these)."""
        response = self.client.post(
            f"/members/{member.id}/emails", json={"address": address}, headers=self.admin.headers
        )
        assert response.status_code == 200, response.text

    def connect_upload(self, member: Member, address: str, aliases: list[str] | None = None) -> str:
        response = self.client.post(
            "/mailboxes",
            json={"provider": "upload", "address": address, "aliases": aliases or []},
            headers=member.headers,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def post_message(self, member: Member, mailbox_id: str, raw: bytes) -> Any:
        return self.client.post(
            f"/mailboxes/{mailbox_id}/messages",
            content=raw,
            headers={**member.headers, "Content-Type": "message/rfc822"},
        )


def make_workspace(
    client: TestClient,
    runtime: Runtime,
    name: str = "Acme",
    domain: str = "acme.com",
    admin: tuple[str, str] = ("Bob", "bob@acme.com"),
) -> Workspace:
    workspace_id, member_id, position = runtime.services.workspaces.create_workspace(name, domain, *admin)
    token = issue_token(runtime.engine, workspace_id, member_id)
    runtime.wait_for(position)
    return Workspace(workspace_id, Member(member_id, token), client, runtime)
