"""Request bodies are capped before they are parsed or the caller authenticated (issue 14.1).

An attacker without a token sending a huge body gets a 413 problem+json and the server's
memory stays where it was; a body just under its cap is still taken. The memory stories run
against the real server (uvicorn in a subprocess), measured from /proc/<pid>/status."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.settings import Settings
from adapters.tokens import issue_token
from api.body_limits import JSON_BODY_BYTES
from api.runtime import Runtime
from domain.message import MAX_MESSAGE_BYTES
from tests.conftest import TEST_MASTER_KEY
from tests.support.dsl import Workspace, assert_problem
from tests.support.live_server import LiveServer, Reply, chunked, exchange, live_server
from tests.support.messages import message

MIB = 1024 * 1024
RSS_GROWTH_LIMIT_KIB = 60 * 1024


def stream(total: int, piece: int = MIB, fill: bytes = b" ") -> Iterator[bytes]:
    """`total` bytes in pieces, made as they are sent (the client holds one piece at a time)."""
    block = (fill * (piece // len(fill) + 1))[:piece]
    whole, rest = divmod(total, piece)
    for _ in range(whole):
        yield block
    if rest:
        yield block[:rest]


def json_padded_to(document: dict[str, object], size: int) -> bytes:
    """A JSON document padded with trailing whitespace (still valid JSON) to exactly `size` bytes."""
    encoded = json.dumps(document).encode()
    assert len(encoded) <= size
    return encoded + b" " * (size - len(encoded))


def assert_413(reply: Reply, limit: int) -> None:
    assert reply.status == 413, (reply.status, reply.body[:300])
    assert reply.headers["content-type"].startswith("application/problem+json")
    problem = json.loads(reply.body)
    assert problem["status"] == 413 and problem["title"] == "Content Too Large"
    assert str(limit) in problem["detail"]


@dataclass
class Served:
    server: LiveServer
    token: str
    mailbox_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def upload(self, body: Iterator[bytes], **headers: str) -> Reply:
        return exchange(self.server.port, "POST", f"/mailboxes/{self.mailbox_id}/messages",
                        {**self.auth, "Content-Type": "message/rfc822", **headers}, body)  # fmt: skip

    def rss_kib(self) -> int:
        return self.server.status_kib("VmRSS")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Served]:
    """Acme with Bob's upload mailbox, served by a real uvicorn on SQLite."""
    tmp = tmp_path_factory.mktemp("served")
    shutil.copy(sqlite_template, tmp / "mailtrail.db")
    url = f"sqlite:///{tmp / 'mailtrail.db'}"
    runtime = Runtime.open(Settings(database_url=url, master_key=TEST_MASTER_KEY))
    try:
        workspace_id, member_id, _ = runtime.services.workspaces.create_workspace(
            "Acme", "acme.com", "Bob", "bob@acme.com"
        )
        token = issue_token(runtime.engine, workspace_id, member_id)
        mailbox_id = runtime.services.mailboxes.register(
            workspace_id, member_id, "upload", "bob@acme.com", []
        ).id
    finally:
        runtime.close()
    with live_server(url, TEST_MASTER_KEY, tmp) as server:
        served = Served(server, token, mailbox_id)
        raw = message("bob@acme.com", "ann@customer.example")
        warm = served.upload(iter([raw]), **{"Content-Length": str(len(raw))})
        assert warm.status == 201, warm.body
        yield served


def test_a_300_mb_json_body_without_a_token_is_refused_413_and_the_server_keeps_its_memory(
    served: Served,
) -> None:
    before = served.rss_kib()

    streamed = exchange(served.server.port, "POST", "/people",
                        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                        chunked(stream(300 * MIB)))  # fmt: skip
    declared = exchange(served.server.port, "POST", "/people",
                        {"Content-Type": "application/json", "Content-Length": str(300 * MIB)},
                        stream(300 * MIB))  # fmt: skip

    assert_413(streamed, JSON_BODY_BYTES)
    assert_413(declared, JSON_BODY_BYTES)
    assert declared.sent < 64 * MIB  # answered before the body was read, not after
    assert streamed.headers.get("connection") == "close"
    assert served.rss_kib() - before < RSS_GROWTH_LIMIT_KIB


def test_a_message_upload_over_the_size_limit_is_refused_413_whether_declared_or_streamed(
    served: Served,
) -> None:
    before = served.rss_kib()
    over = MAX_MESSAGE_BYTES + 10 * MIB

    declared = served.upload(stream(over), **{"Content-Length": str(over)})
    streamed = served.upload(chunked(stream(over)), **{"Transfer-Encoding": "chunked"})
    anonymous = exchange(served.server.port, "POST", f"/mailboxes/{served.mailbox_id}/messages",
                         {"Content-Type": "message/rfc822", "Content-Length": str(200 * MIB)},
                         stream(200 * MIB))  # fmt: skip

    assert_413(declared, MAX_MESSAGE_BYTES)
    assert_413(streamed, MAX_MESSAGE_BYTES)
    assert_413(anonymous, MAX_MESSAGE_BYTES)
    assert declared.sent < over and anonymous.sent < over
    assert served.rss_kib() - before < RSS_GROWTH_LIMIT_KIB


def test_a_streamed_message_upload_of_exactly_the_size_limit_is_stored(served: Served) -> None:
    head = message("bob@acme.com", "carl@customer.example", "The big one", message_id="<big@acme.com>")
    padding = MAX_MESSAGE_BYTES - len(head)
    reply = served.upload(chunked([head, *stream(padding, fill=b"x" * 75 + b"\r\n")]),
                          **{"Transfer-Encoding": "chunked"})  # fmt: skip
    assert reply.status == 201, reply.body[:300]
    assert json.loads(reply.body)["status"] == "stored"


def test_a_json_body_just_under_its_cap_is_taken_and_just_over_is_413(acme: Workspace) -> None:
    document = {"name": "Ann", "emails": ["ann@customer.example"]}
    headers = {**acme.admin.headers, "Content-Type": "application/json"}

    taken = acme.client.post("/people", content=json_padded_to(document, JSON_BODY_BYTES), headers=headers)
    over = json_padded_to(document, JSON_BODY_BYTES + 1)
    refused = acme.client.post("/people", content=over, headers=headers)

    assert taken.status_code == 201, taken.text
    assert_problem(refused, 413)
    assert acme.client.get("/people", headers=acme.admin.headers).json()["items"][0]["name"] == "Ann"


def test_a_message_upload_may_be_larger_than_the_json_cap(acme: Workspace) -> None:
    mailbox_id = acme.connect_upload(acme.admin, "bob@acme.com")
    raw = message("bob@acme.com", "dan@customer.example", "Slides", body="slide\r\n" * (300 * 1024))
    assert len(raw) > JSON_BODY_BYTES

    stored = acme.post_message(acme.admin, mailbox_id, raw)
    as_json = acme.client.post(f"/mailboxes/{mailbox_id}/messages", content=raw,
                               headers={**acme.admin.headers, "Content-Type": "application/json"})  # fmt: skip

    assert stored.status_code == 201 and stored.json()["status"] == "stored", stored.text
    assert_problem(as_json, 413)  # the larger cap is for message/rfc822 only
