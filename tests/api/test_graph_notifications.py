"""Graph change notifications and the worker's polling fallback for Microsoft 365 mailboxes,
against the local fake (tests/support/microsoft.py), whose Graph reaches the webhook through
the test client."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from api.main import create_app
from api.runtime import Runtime
from application.imap_worker import ImapWorker
from tests.conftest import TEST_MASTER_KEY
from tests.support.dsl import Workspace, make_workspace
from tests.support.messages import message
from tests.support.microsoft import CLIENT_ID, CLIENT_SECRET, Fake, connect_mailbox, microsoft_fake

OWNER = "bob@acme.com"


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fake]:
    with microsoft_fake(tmp_path_factory.mktemp("microsoft")) as running:
        yield running


@pytest.fixture
def ms(
    sqlite_template: Path, tmp_path: Path, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workspace, Runtime, str]]:
    monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca))
    shutil.copy(sqlite_template, tmp_path / "mailtrail.db")
    fake.accounts.clear()
    fake.subscriptions.clear()
    fake.signed_in = ""
    fake.account(OWNER)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'mailtrail.db'}", master_key=TEST_MASTER_KEY,
        microsoft_client_id=CLIENT_ID, microsoft_client_secret=CLIENT_SECRET, microsoft_authority=fake.authority,
        graph_url=fake.graph_url, public_url="http://testserver", graph_notifications=True,
    )  # fmt: skip
    runtime = Runtime.open(settings)
    try:
        with TestClient(create_app(runtime=runtime)) as client:

            def poster(url: str, body: Any, query: dict[str, str]) -> tuple[int, str]:
                path = urlsplit(url).path
                answer = (
                    client.post(path, params=query, json=body)
                    if body is not None
                    else client.post(path, params=query)
                )
                return answer.status_code, answer.text

            fake.poster = poster
            ws = make_workspace(client, runtime)
            mailbox_id = connect_mailbox(client, ws.admin.headers, fake, OWNER)
            runtime.background.wait()
            yield ws, runtime, mailbox_id
    finally:
        fake.poster = None
        runtime.background.wait()
        runtime.close()


def subjects(ws: Workspace) -> list[str]:
    return sorted(e["subject"] for e in ws.client.get("/emails", headers=ws.admin.headers).json()["items"])


def test_the_validation_handshake_echoes_the_token_as_text(ms: tuple[Workspace, Runtime, str]) -> None:
    ws, _, _ = ms
    answer = ws.client.post("/webhooks/microsoft", params={"validationToken": "Validation: abc 123"})
    assert answer.status_code == 200 and answer.text == "Validation: abc 123"
    assert answer.headers["content-type"].startswith("text/plain")


def test_a_notification_with_its_client_state_syncs_the_mailbox_and_a_forged_one_is_ignored(
    ms: tuple[Workspace, Runtime, str], fake: Fake
) -> None:
    ws, runtime, mailbox_id = ms
    notifications = runtime.notifications
    assert notifications is not None and notifications.ensure(mailbox_id)
    resources = sorted(s["resource"] for s in fake.subscriptions.values())
    assert resources == ["/me/mailFolders('inbox')/messages", "/me/mailFolders('sentitems')/messages"]
    for subscription in fake.subscriptions.values():
        assert subscription["changeType"] == "created,updated,deleted"
        assert len(subscription["clientState"]) <= 128 and mailbox_id in subscription["clientState"]
        expires = datetime.fromisoformat(subscription["expirationDateTime"]).timestamp()
        assert time.time() < expires < time.time() + 7 * 86400

    fake.deliver(OWNER, "inbox", message("carol@example.org", OWNER, "Forged", message_id="<f@x.org>"))
    assert fake.notify(OWNER, "inbox", client_state=mailbox_id + ".forged") == [202]
    runtime.background.wait()
    assert subjects(ws) == []  # no sync started by a notification that does not prove itself

    assert fake.notify(OWNER, "inbox") == [202]
    runtime.background.wait()
    runtime.catch_up()
    assert subjects(ws) == ["Forged"]


def test_subscriptions_are_renewed_before_they_expire(ms: tuple[Workspace, Runtime, str], fake: Fake) -> None:
    _, runtime, mailbox_id = ms
    notifications = runtime.notifications
    assert notifications is not None and notifications.ensure(mailbox_id)
    before = {s["id"]: s["expirationDateTime"] for s in fake.subscriptions.values()}
    real = notifications.clock
    notifications.clock = lambda: real() + 2 * 86400 - 3600  # an hour before they expire
    assert notifications.ensure(mailbox_id)
    after = {s["id"]: s["expirationDateTime"] for s in fake.subscriptions.values()}
    assert after.keys() == before.keys() and all(after[k] > before[k] for k in before)


def test_an_unreachable_notification_url_leaves_the_worker_polling(
    ms: tuple[Workspace, Runtime, str], fake: Fake
) -> None:
    ws, runtime, mailbox_id = ms
    fake.poster = None  # Graph cannot reach the webhook: the subscription is refused
    notifications = runtime.notifications
    assert notifications is not None and not notifications.ensure(mailbox_id)
    worker = ImapWorker(runtime.imap_sync(), graph_poll_seconds=0.2, notifications=notifications,
                        after_pass=lambda report: runtime.wait_for(report.position))  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 20.0), daemon=True)
    thread.start()
    try:
        fake.deliver(OWNER, "inbox", message("carol@example.org", OWNER, "Polled", message_id="<p@x.org>"))
        deadline = time.monotonic() + 10
        while "Polled" not in subjects(ws) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert subjects(ws) == ["Polled"]
    finally:
        stop.set()
        thread.join(10)
