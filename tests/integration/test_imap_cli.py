"""`mailtrail sync` and `mailtrail worker` as processes: SIGKILL safety, IDLE, resuming."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.mailgen import generate_messages
from adapters.settings import Settings
from api.runtime import Runtime
from projections.tables import companies, email_copies, emails, person_addresses
from tests.support.dovecot import DovecotServer
from tests.support.imap import ImapAccount, external, fill_maildir, mailbox_view, requires_dovecot

pytestmark = requires_dovecot
MAILTRAIL = str(Path(sys.executable).with_name("mailtrail"))


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


def _store(tmp_path: Path, name: str) -> tuple[Runtime, dict[str, str]]:
    url = f"sqlite:///{tmp_path / name / 'mailtrail.db'}"
    env = {**os.environ, "MAILTRAIL_DATABASE_URL": url, "MAILTRAIL_ALLOW_PRIVATE_HOSTS": "1",
           "COLUMNS": "100"}  # fmt: skip
    env.pop("MAILTRAIL_MASTER_KEY", None)
    return Runtime.open(Settings(database_url=url, allow_private_hosts=True, master_key=None)), env


def _sync(env: dict[str, str], mailbox_id: str, **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([MAILTRAIL, "sync", "--mailbox", mailbox_id], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True, **kw)  # fmt: skip


def _outcome(runtime: Runtime, mailbox_id: str) -> dict[str, Any]:
    """What users see of a mailbox, without ids and clocks that differ between stores."""
    runtime.catch_up()
    with runtime.engine.connect() as conn:
        copies = conn.execute(
            select(emails.c.message_id, email_copies.c.folder, email_copies.c.direction)
            .join(emails, emails.c.id == email_copies.c.email_id)
            .where(email_copies.c.mailbox_id == mailbox_id)
        ).all()
        people = conn.execute(select(person_addresses.c.address)).scalars().all()
        domains = conn.execute(select(companies.c.domain)).scalars().all()
    view = mailbox_view(runtime, mailbox_id)
    return {"copies": sorted(map(tuple, copies)), "people": sorted(people), "companies": sorted(domains),
            "synced": view["synced"], "skipped": view["skipped"], "status": view["status"]}  # fmt: skip


def _group_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    return False


def test_a_sync_killed_at_random_points_ends_with_nothing_lost_or_duplicated(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    runtime, env = _store(tmp_path, "killed")
    account = ImapAccount(dovecot, runtime, address="alice@acme.example")
    total = fill_maildir(dovecot, account.user, generate_messages(2000, seed=11))
    kills = 0
    for _ in range(3):
        before = runtime.app.recorder.max_notification_id()
        process = _sync(env, account.mailbox_id)
        _eventually(
            lambda p=process, b=before: p.poll() is not None or runtime.app.recorder.max_notification_id() > b
        )
        # somewhere inside the import: a batch of 400 takes ~0.2 s here, the rest of the sync ~1 s
        time.sleep(rng.uniform(0.0, 0.3))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        assert _group_gone(process.pid), f"a fetch process outlived its killed parent (seed {seed})"
    finished = _sync(env, account.mailbox_id)
    summary = json.loads(finished.communicate(timeout=120)[0])
    assert finished.returncode == 0 and kills >= 2, f"seed {seed}"

    clean_runtime, _ = _store(tmp_path, "clean")
    clean = ImapAccount(
        dovecot, clean_runtime, address="alice@acme.example", login=(account.user, account.password)
    )
    assert clean.sync().fetched == total  # the same account, never interrupted

    interrupted, uninterrupted = (
        _outcome(runtime, account.mailbox_id),
        _outcome(clean_runtime, clean.mailbox_id),
    )
    assert len(interrupted["copies"]) == total == len(set(interrupted["copies"])), f"seed {seed}"
    assert interrupted == uninterrupted, f"seed {seed}"
    assert summary["mailboxes"][0]["status"] == "active"
    runtime.close()
    clean_runtime.close()


def test_the_worker_picks_up_new_mail_while_it_runs(dovecot: DovecotServer, tmp_path: Path) -> None:
    runtime, env = _store(tmp_path, "worker")
    account = ImapAccount(dovecot, runtime)
    fill_maildir(dovecot, account.user, [external(n) for n in range(10)])
    worker = subprocess.Popen([MAILTRAIL, "worker", "--poll-seconds", "30", "--max-seconds", "40"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        assert _eventually(lambda: len(account.visible_subjects()) == 10)
        account.append(*external(77, "Fresh"))  # IDLE wakes the worker well before the 30 s poll
        assert _eventually(lambda: "Fresh 77" in account.visible_subjects(), timeout=15)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert worker.returncode == 0
    account.append(*external(78, "Fresh"))
    once = subprocess.run(
        [MAILTRAIL, "worker", "--once"], env=env, capture_output=True, timeout=60, check=True
    )
    passes = json.loads(once.stdout)["mailboxes"]
    assert [(p["status"], p["fetched"]) for p in passes] == [("active", 1)]
    assert "Fresh 78" in account.visible_subjects()
    runtime.close()


def _eventually(check: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False
