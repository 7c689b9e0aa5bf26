"""Shared fixtures: every store-backed test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.datakeys import new_master_key
from adapters.settings import Settings
from adapters.tokens import issue_token
from api.main import create_app
from api.runtime import Runtime
from tests.support.postgres import drop_database, fresh_database, postgres_url_for_tests

# ../shared next to the checkout, or two levels up for a worktree under wt/ (e.g. /work/wt/NAME).
_ABOVE = Path(__file__).resolve().parents[1].parents[:2]
SHARED = next((p / "shared" for p in _ABOVE if (p / "shared").is_dir()), _ABOVE[0] / "shared")
CORPUS = SHARED / "corpus"
TEST_MASTER_KEY = new_master_key()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres_url_for_tests() as url:
        yield url


def _migrated(url: str) -> None:
    """Bring a store's schema (views, keys and event tables) up to date once."""
    Runtime.open(Settings(database_url=url, master_key=TEST_MASTER_KEY)).close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "mailtrail.db"
    _migrated(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url: str) -> Iterator[str]:
    url = fresh_database(postgres_server_url, "template")
    _migrated(url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty store per test: a copy of a session's template (schema work once)."""
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "mailtrail.db")
        yield f"sqlite:///{tmp_path / 'mailtrail.db'}"
        return
    url = fresh_database(
        request.getfixturevalue("postgres_server_url"), "mailtrail", template=request.getfixturevalue("postgres_template")
    )
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    rt = Runtime.open(Settings(database_url=database_url, master_key=TEST_MASTER_KEY))
    try:
        yield rt
    finally:
        rt.close()



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


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as test_client:
        yield test_client


def make_workspace(client: TestClient, runtime: Runtime, name: str = "Acme", domain: str = "acme.com",
                   admin: tuple[str, str] = ("Bob", "bob@acme.com")) -> Workspace:
    workspace_id, member_id = runtime.app.create_workspace(name, domain, admin[0], admin[1])
    token = issue_token(runtime.engine, workspace_id, member_id)
    runtime.catch_up()
    return Workspace(workspace_id, Member(member_id, token), client, runtime)


@pytest.fixture
def acme(client: TestClient, runtime: Runtime) -> Workspace:
    """Acme: acme.com is internal; Bob (bob@acme.com) is its admin."""
    return make_workspace(client, runtime)


def message(
    sender: str,
    to: str | list[str],
    subject: str = "Hello",
    *,
    cc: list[str] | None = None,
    message_id: str | None = "<m1@example.com>",
    date: str = "Mon, 02 Jun 2025 10:00:00 +0000",
    body: str = "Hi there.",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A small raw RFC 822 message."""
    recipients = [to] if isinstance(to, str) else to
    lines = [f"From: {sender}", f"To: {', '.join(recipients)}", f"Subject: {subject}", f"Date: {date}"]
    if cc:
        lines.append(f"Cc: {', '.join(cc)}")
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()
