"""`mailtrail serve --workers 2` as a real subprocess: every worker reads its own writes, and
exactly one of them applies events to the views."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_cli import MAILTRAIL, Cli
from tests.support.messages import message
from tests.support.postgres import drop_database, free_port, fresh_database

pytestmark = pytest.mark.skipif(MAILTRAIL is None, reason="the mailtrail console script is not installed")

STARTUP_TIMEOUT_S = 90


@pytest.fixture(params=["sqlite", "postgres"])
def store_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    work = tmp_path / "work"
    work.mkdir()
    if request.param == "sqlite":
        yield Cli(work)
        return
    url = fresh_database(request.getfixturevalue("postgres_server_url"), "serve")
    try:
        yield Cli(work, database_url=url, master_key=base64.b64encode(os.urandom(32)).decode())
    finally:
        drop_database(url)


class Server:
    def __init__(self, cli: Cli, workers: int) -> None:
        assert MAILTRAIL is not None
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = cli.cwd / "serve.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [MAILTRAIL, "serve", "--workers", str(workers), "--port", str(self.port)],
            cwd=cli.cwd,
            env=cli.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers = workers

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while self.log.count("Application startup complete") < self.workers:
            assert self.proc.poll() is None, self.log
            assert time.monotonic() < deadline, self.log
            time.sleep(0.2)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log.close()


def test_two_workers_each_read_their_own_writes_and_one_applies_the_views(store_cli: Cli) -> None:
    created = store_cli.create_workspace()
    headers = {"Authorization": f"Bearer {created['token']}"}
    server = Server(store_cli, workers=2)
    try:
        server.wait_ready()
        # every call below is its own client, so its own connection: they spread over the workers
        box = httpx.post(
            f"{server.base}/mailboxes",
            json={"provider": "upload", "address": "bob@acme.com"},
            headers=headers,
            timeout=30,
        )
        assert box.status_code == 201, box.text
        for n in range(30):
            made = httpx.post(
                f"{server.base}/people",
                json={"name": f"Carol {n}", "emails": [f"carol{n}@client.com"]},
                headers=headers,
                timeout=30,
            )
            assert made.status_code == 201, made.text
            read = httpx.get(f"{server.base}/people/{made.json()['id']}", headers=headers, timeout=30)
            assert read.status_code == 200, read.text
            assert read.json()["name"] == f"Carol {n}"
        for n in range(15):
            raw = message(
                f"Dan {n} <dan{n}@globex.com>", "bob@acme.com", f"Worker {n}", message_id=f"<w{n}@globex.com>"
            )
            stored = httpx.post(
                f"{server.base}/mailboxes/{box.json()['id']}/messages",
                content=raw,
                headers={**headers, "Content-Type": "message/rfc822"},
                timeout=30,
            )
            assert stored.status_code == 201, stored.text
            assert stored.json()["status"] == "stored", stored.text
            email = httpx.get(
                f"{server.base}/emails/{stored.json()['email_id']}", headers=headers, timeout=30
            )
            assert email.status_code == 200, email.text
            assert email.json()["subject"] == f"Worker {n}"
    finally:
        server.stop()
    log = server.log.split("Shutting down")[0]  # while shutting down, the last worker may take over
    appliers = re.findall(r"process (\d+) applies events to the views", log)
    readers = re.findall(r"process (\d+) serves reads; another process applies", log)
    assert len(appliers) == 1, log
    assert len(readers) == 1 and readers != appliers, log
    assert "Traceback" not in log, log


def test_with_project_follow_running_no_api_worker_applies(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    created = cli.create_workspace()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert MAILTRAIL is not None
    projector_log = tmp_path / "project.log"
    with projector_log.open("w") as out:
        projector = subprocess.Popen(
            [MAILTRAIL, "project", "--follow"],
            cwd=tmp_path,
            env=cli.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not re.search(r"process \d+ applies events", projector_log.read_text()):
            assert projector.poll() is None and time.monotonic() < deadline, projector_log.read_text()
            time.sleep(0.2)
        server = Server(cli, workers=2)
        try:
            server.wait_ready()
            for n in range(5):
                made = httpx.post(
                    f"{server.base}/people",
                    json={"name": f"Erin {n}", "emails": [f"erin{n}@client.com"]},
                    headers=headers,
                    timeout=30,
                )
                assert made.status_code == 201, made.text
                read = httpx.get(f"{server.base}/people/{made.json()['id']}", headers=headers, timeout=30)
                assert read.status_code == 200 and read.json()["name"] == f"Erin {n}", read.text
        finally:
            server.stop()
    finally:
        projector.send_signal(signal.SIGTERM)
        projector.wait(timeout=30)
    assert not re.search(r"process \d+ applies events", server.log), server.log
    assert len(re.findall(r"process \d+ serves reads", server.log)) == 2, server.log
    assert projector.returncode == 0, projector_log.read_text()
