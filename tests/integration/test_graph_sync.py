"""Microsoft 365 mailboxes synced through Graph delta queries, against the local fake
(tests/support/microsoft.py): paging, incremental passes, removals, moves, 410 restarts,
throttling, tokens that expire mid-sync, and a `mailtrail sync` killed with SIGKILL."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from adapters.mailgen import generate_messages
from adapters.settings import Settings
from api.main import create_app
from api.runtime import Runtime
from projections.tables import companies, email_copies, emails, person_addresses
from tests.conftest import TEST_MASTER_KEY
from tests.support.dsl import Workspace, make_workspace
from tests.support.messages import message
from tests.support.microsoft import CLIENT_ID, CLIENT_SECRET, Fake, connect_mailbox, microsoft_fake

MAILTRAIL = str(Path(sys.executable).with_name("mailtrail"))
OWNER = "alice@acme.example"


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fake]:
    with microsoft_fake(tmp_path_factory.mktemp("microsoft")) as running:
        yield running


def environment(database_url: str, fake: Fake, page_size: int) -> dict[str, str]:
    return {
        "MAILTRAIL_DATABASE_URL": database_url, "MAILTRAIL_MASTER_KEY": TEST_MASTER_KEY,
        "MAILTRAIL_MICROSOFT_CLIENT_ID": CLIENT_ID, "MAILTRAIL_MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
        "MAILTRAIL_MICROSOFT_AUTHORITY": fake.authority, "MAILTRAIL_GRAPH_URL": fake.graph_url,
        "MAILTRAIL_GRAPH_PAGE_SIZE": str(page_size), "MAILTRAIL_PUBLIC_URL": "http://testserver",
        "SSL_CERT_FILE": str(fake.ca),
    }  # fmt: skip


class Graph:
    """A workspace on a store whose Microsoft 365 settings point at the fake."""

    def __init__(self, database_url: str, fake: Fake, page_size: int = 5) -> None:
        self.fake = fake
        self.env = environment(database_url, fake, page_size)
        os.environ["SSL_CERT_FILE"] = str(fake.ca)
        self.runtime = Runtime.open(
            Settings(
                _env_file=None,
                **{
                    k.removeprefix("MAILTRAIL_").lower(): v
                    for k, v in self.env.items()
                    if k.startswith("MAILTRAIL_")
                },
            )
        )  # type: ignore[arg-type]
        self.client = TestClient(create_app(runtime=self.runtime)).__enter__()
        self.ws: Workspace = make_workspace(
            self.client, self.runtime, domain="acme.example", admin=("Alice", OWNER)
        )
        self.mailbox_id = ""

    def connect(self) -> str:
        self.mailbox_id = connect_mailbox(self.client, self.ws.admin.headers, self.fake, OWNER)
        self.runtime.background.wait()
        return self.mailbox_id

    def sync(self) -> Any:
        report = self.runtime.imap_sync().sync(self.mailbox_id)
        self.runtime.wait_for(report.position)
        return report

    def subjects(self) -> list[str]:
        items, cursor = [], None
        while True:
            page = self.client.get("/emails", params={"limit": 200, **({"cursor": cursor} if cursor else {})},
                                   headers=self.ws.admin.headers).json()  # fmt: skip
            items += [e["subject"] for e in page["items"]]
            cursor = page.get("next")
            if not cursor:
                return sorted(items)

    def copies(self) -> list[tuple[str, str]]:
        self.runtime.catch_up()
        with self.runtime.engine.connect() as conn:
            rows = conn.execute(select(emails.c.message_id, email_copies.c.folder)
                                .join(emails, emails.c.id == email_copies.c.email_id)
                                .where(email_copies.c.mailbox_id == self.mailbox_id)).all()  # fmt: skip
        return sorted(map(tuple, rows))

    def records(self) -> dict[str, Any]:
        """The people, companies and the mailbox's counts, without ids that differ between stores."""
        self.runtime.catch_up()
        with self.runtime.engine.connect() as conn:
            people = sorted(conn.execute(select(person_addresses.c.address)).scalars())
            domains = sorted(conn.execute(select(companies.c.domain)).scalars())
        row = self.client.get(f"/mailboxes/{self.mailbox_id}", headers=self.ws.admin.headers).json()
        return {"people": people, "companies": domains, "synced": row["synced"], "skipped": row["skipped"],
                "status": row["status"]}  # fmt: skip

    def status(self) -> tuple[str, str]:
        row = self.client.get(f"/mailboxes/{self.mailbox_id}", headers=self.ws.admin.headers).json()
        return row["status"], row["status_reason"]

    def close(self) -> None:
        self.runtime.background.wait()
        self.client.__exit__(None, None, None)
        self.runtime.close()


def _graph(url: str, fake: Fake) -> Iterator[Graph]:
    fake.accounts.clear()
    fake.signed_in, fake.throttled, fake.expire_at_fetch, fake.raw_fetches = "", 0, None, 0
    fake.account(OWNER)
    g = Graph(url, fake)
    try:
        yield g
    finally:
        g.close()
        os.environ.pop("SSL_CERT_FILE", None)


@pytest.fixture
def graph(sqlite_template: Path, tmp_path: Path, fake: Fake) -> Iterator[Graph]:
    shutil.copy(sqlite_template, tmp_path / "mailtrail.db")
    yield from _graph(f"sqlite:///{tmp_path / 'mailtrail.db'}", fake)


@pytest.fixture
def any_store_graph(database_url: str, fake: Fake) -> Iterator[Graph]:
    """On SQLite and on PostgreSQL."""
    yield from _graph(database_url, fake)


def mail(n: int, subject: str = "Deal", folder: str = "inbox") -> bytes:
    outside = f"contact{n}@example.org"
    sender, to = (OWNER, outside) if folder == "sentitems" else (outside, OWNER)
    return message(sender, to, f"{subject} {n}", message_id=f"<{subject.lower()}-{n}@example.org>")


def test_a_full_sync_pages_both_folders_then_an_incremental_pass_fetches_only_what_is_new(
    any_store_graph: Graph, fake: Fake
) -> None:
    graph = any_store_graph
    for n in range(12):
        fake.deliver(OWNER, "inbox", mail(n))
    for n in range(3):
        fake.deliver(OWNER, "sentitems", mail(n, "Reply", "sentitems"))
    graph.connect()  # the first (historical) sync runs in the background
    assert len(graph.subjects()) == 15
    assert graph.status() == ("active", "")
    assert {folder for _, folder in graph.copies()} == {"inbox", "sentitems"}
    delta_pages = [p for m, p in fake.requests if p.endswith("/messages/delta")]
    assert len(delta_pages) >= 4  # 12 inbox messages at 5 a page: three pages and the delta link

    fetched = fake.raw_fetches
    fake.deliver(OWNER, "inbox", mail(99, "Fresh"))
    report = graph.sync()
    assert report.fetched == 1 and fake.raw_fetches == fetched + 1
    assert "Fresh 99" in graph.subjects()
    assert graph.sync().fetched == 0  # nothing new: nothing downloaded, nothing saved
    assert len(graph.copies()) == 16


def test_removed_messages_are_retracted_and_a_move_between_folders_keeps_the_copy(
    any_store_graph: Graph, fake: Fake
) -> None:
    graph = any_store_graph
    ids = [fake.deliver(OWNER, "inbox", mail(n)) for n in range(4)]
    graph.connect()
    fake.remove(OWNER, ids[0])
    fake.move(OWNER, ids[1], "sentitems")
    report = graph.sync()
    assert graph.subjects() == ["Deal 1", "Deal 2", "Deal 3"]
    assert (
        report.folder("inbox").expunged == 2 and report.folder("sentitems").restored == 1
    )  # the moved one shown again
    assert report.fetched == 0  # the moved message was not downloaded again


def test_a_delta_link_graph_forgot_restarts_the_folder_with_no_duplicate(graph: Graph, fake: Fake) -> None:
    ids = [fake.deliver(OWNER, "inbox", mail(n)) for n in range(7)]
    graph.connect()
    fake.remove(OWNER, ids[0])
    fake.deliver(OWNER, "inbox", mail(50, "After"))
    fake.expire_delta_tokens(OWNER)  # the saved delta link now answers 410 syncStateNotFound
    report = graph.sync()
    assert report.folder("inbox").resynced
    assert report.folder("inbox").expunged == 1  # the restart's enumeration no longer holds it
    copies = graph.copies()
    assert len(copies) == len(set(copies)) == 8
    assert graph.subjects() == sorted([f"Deal {n}" for n in range(1, 7)] + ["After 50"])


def test_throttling_and_503_honour_retry_after_and_the_sync_completes(graph: Graph, fake: Fake) -> None:
    for n in range(3):
        fake.deliver(OWNER, "inbox", mail(n))
    graph.connect()
    fake.deliver(OWNER, "inbox", mail(7, "Late"))
    fake.throttle(2, retry_after="0.5")
    started = time.monotonic()
    report = graph.sync()
    assert time.monotonic() - started >= 1.0  # two waits of Retry-After: 0.5
    assert report.status == "active" and "Late 7" in graph.subjects()
    fake.deliver(OWNER, "inbox", mail(8, "Later"))
    fake.throttle(1, retry_after="0.5", status=503)  # Service Unavailable: the same rule
    assert graph.sync().status == "active" and "Later 8" in graph.subjects()


def test_a_token_expiring_mid_sync_is_refreshed_and_nothing_is_lost(graph: Graph, fake: Fake) -> None:
    for n in range(20):
        fake.deliver(OWNER, "inbox", mail(n))
    fake.expire_at_fetch = 8  # every access token dies at the 8th download
    graph.connect()
    assert graph.status() == ("active", "")
    assert len(graph.subjects()) == 20


def test_a_mailbox_that_turns_out_shared_sets_error(graph: Graph, fake: Fake) -> None:
    graph.connect()
    fake.accounts[OWNER].shared = True
    report = graph.sync()
    assert report.status == "error" and "shared mailbox" in graph.status()[1]


def _sync_process(env: dict[str, str], mailbox_id: str) -> subprocess.Popen[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MAILTRAIL_")} | env
    return subprocess.Popen([MAILTRAIL, "sync", "--mailbox", mailbox_id], env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def test_a_graph_sync_killed_at_random_points_ends_with_nothing_lost_or_duplicated(
    sqlite_template: Path, tmp_path: Path, fake: Fake
) -> None:
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    fake.accounts.clear()
    fake.signed_in, fake.throttled, fake.expire_at_fetch = "", 0, None
    fake.account(OWNER)
    generated = generate_messages(300, seed=11, owner=OWNER)
    for folder, raw in generated:
        fake.deliver(OWNER, "sentitems" if folder.lower().startswith("sent") else "inbox", raw)
    stores = {}
    for name in ("killed", "clean"):
        (tmp_path / name).mkdir()
        shutil.copy(sqlite_template, tmp_path / name / "mailtrail.db")
        stores[name] = f"sqlite:///{tmp_path / name / 'mailtrail.db'}"
    killed = Graph(stores["killed"], fake, page_size=30)
    killed.runtime.background.start = lambda mailbox_id: True  # type: ignore[method-assign]
    killed.runtime.services.mailboxes.start_sync = killed.runtime.background.start
    killed.connect()
    kills = 0
    for _ in range(2):
        before = killed.runtime.app.recorder.max_notification_id()
        process = _sync_process(killed.env, killed.mailbox_id)
        deadline = time.monotonic() + 60
        while process.poll() is None and killed.runtime.app.recorder.max_notification_id() == before:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.4))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    finished = _sync_process(killed.env, killed.mailbox_id)
    summary = json.loads(finished.communicate(timeout=120)[0])
    assert finished.returncode == 0 and kills >= 1, f"seed {seed}"
    assert summary["mailboxes"][0]["status"] == "active"

    clean = Graph(stores["clean"], fake, page_size=30)
    clean.connect()
    try:
        interrupted, uninterrupted = killed.copies(), clean.copies()
        assert len(interrupted) == len(set(interrupted)) == len(uninterrupted), f"seed {seed}"
        assert interrupted == uninterrupted, f"seed {seed}"
        assert killed.subjects() == clean.subjects()
        assert killed.records() == clean.records(), f"seed {seed}"  # the same people, companies, counts
        with killed.runtime.engine.connect() as conn:
            synced = conn.execute(select(func.count()).select_from(email_copies)).scalar_one()
        assert synced == len(uninterrupted)
    finally:
        killed.close()
        clean.close()
