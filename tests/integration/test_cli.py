"""The real `mailtrail` console script, run as a subprocess in a temporary working directory.

On SQLite the default store (./var/mailtrail.db, relative to the working directory) is used;
one run goes to a fresh PostgreSQL database via MAILTRAIL_DATABASE_URL. Mailboxes to import
into are created in-process, against the same store, between two CLI calls.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.mailgen import write_maildir, write_mbox
from adapters.settings import Settings
from api.runtime import Runtime
from projections.tables import emails, mailboxes
from tests.support.messages import message
from tests.support.postgres import drop_database, fresh_database

MAILTRAIL = shutil.which("mailtrail", path=str(Path(sys.executable).parent))
CLI_TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(
    MAILTRAIL is None,
    reason="the mailtrail console script is not installed in this environment (pip install -e .)",
)


class Cli:
    def __init__(self, cwd: Path, database_url: str | None = None, master_key: str | None = None) -> None:
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MAILTRAIL_")}
        self.env.update({"COLUMNS": "200", "NO_COLOR": "1"})
        if database_url is not None:
            self.env["MAILTRAIL_DATABASE_URL"] = database_url
        if master_key is not None:
            self.env["MAILTRAIL_MASTER_KEY"] = master_key
        self.database_url = database_url or f"sqlite:///{cwd / 'var' / 'mailtrail.db'}"
        self.master_key = master_key

    def _runtime(self) -> Runtime:
        """The same store (and master key) the CLI uses, opened in-process."""
        return Runtime.open(Settings(database_url=self.database_url, master_key=self.master_key))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert MAILTRAIL is not None
        return subprocess.run(
            [MAILTRAIL, *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    def ok(self, *args: str) -> Any:
        proc = self.run(*args)
        failure = f"mailtrail {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        assert proc.returncode == 0, failure
        assert "Traceback" not in proc.stderr, proc.stderr
        return json.loads(proc.stdout)

    def create_workspace(self) -> dict[str, str]:
        return self.ok(
            "workspace",
            "create",
            "--name",
            "Acme",
            "--domain",
            "acme.com",
            "--admin-name",
            "Bob",
            "--admin-email",
            "bob@acme.com",
        )

    def connect_upload(self, workspace_id: str, owner_id: str, address: str) -> str:
        """A mailbox made in-process against the same store; the runtime is closed again."""
        runtime = self._runtime()
        try:
            return runtime.services.mailboxes.register(workspace_id, owner_id, "upload", address, []).id
        finally:
            runtime.close()

    def add_member(self, workspace_id: str, name: str, email: str) -> str:
        runtime = self._runtime()
        try:
            return runtime.services.workspaces.add_member(workspace_id, name, [email], "member").id
        finally:
            runtime.close()


def _accounted(result: dict[str, Any]) -> int:
    return int(result["synced"]) + sum(result["skipped"].values()) + sum(result["rejected"].values())


def _assert_idempotent(first: dict[str, Any], second: dict[str, Any]) -> None:
    assert second["seen"] == first["seen"]
    assert second["synced"] == 0
    expected = dict(first["skipped"])
    expected["duplicate"] = expected.get("duplicate", 0) + first["synced"]
    assert second["skipped"] == expected
    assert second["rejected"] == first["rejected"]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    work = tmp_path / "work"
    work.mkdir()
    return Cli(work)


def test_workspace_create_prints_ids_and_a_token_into_the_default_store(cli: Cli) -> None:
    created = cli.create_workspace()

    assert set(created) == {"workspace_id", "member_id", "token"}
    assert all(isinstance(v, str) and v for v in created.values())
    uuid.UUID(created["workspace_id"])
    uuid.UUID(created["member_id"])
    assert (cli.cwd / "var" / "mailtrail.db").is_file()


def test_import_a_maildir_twice_then_an_mbox_then_replay(cli: Cli, tmp_path: Path) -> None:
    created = cli.create_workspace()
    bob_box = cli.connect_upload(created["workspace_id"], created["member_id"], "bob@acme.com")
    maildir = tmp_path / "Maildir"
    assert write_maildir(maildir, count=300, seed=3, owner="bob@acme.com", internal_domain="acme.com") == 300

    first = cli.ok("import", str(maildir), "--mailbox", bob_box)
    assert first["seen"] == 300 and _accounted(first) == 300
    assert first["synced"] > 200
    second = cli.ok("import", str(maildir), "--mailbox", bob_box)
    _assert_idempotent(first, second)

    karen = cli.add_member(created["workspace_id"], "Karen", "karen@acme.com")
    karen_box = cli.connect_upload(created["workspace_id"], karen, "karen@acme.com")
    mbox = tmp_path / "karen.mbox"
    assert write_mbox(mbox, count=120, seed=5, owner="karen@acme.com", internal_domain="acme.com") == 120
    from_mbox = cli.ok("import", str(mbox), "--mailbox", karen_box)
    assert from_mbox["seen"] == 120 and _accounted(from_mbox) == 120
    assert from_mbox["synced"] > 80

    replayed = cli.ok("replay")
    assert replayed["equal"] is True
    assert replayed["replay_digest"] == replayed["live_digest"]
    assert replayed["position"] == replayed["live_position"] > 0


def _counters(cli: Cli, mailbox_id: str) -> tuple[int, dict[str, int]]:
    """The mailbox's `synced` and `skipped` as GET /mailboxes/{id} shows them."""
    runtime = cli._runtime()
    try:
        with runtime.engine.connect() as conn:
            row = conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id)).one()
    finally:
        runtime.close()
    return row.synced, {reason: n for reason, n in row.skipped.items() if n}


def test_importing_the_same_mbox_again_leaves_the_mailbox_counters_as_they_were(
    cli: Cli, tmp_path: Path
) -> None:
    created = cli.create_workspace()
    bob_box = cli.connect_upload(created["workspace_id"], created["member_id"], "bob@acme.com")
    deals = [
        message(f"c{n}@example.org", "bob@acme.com", f"Deal {n}", message_id=f"<d{n}@example.org>")
        for n in range(5)
    ]
    internal = [
        message("sue@acme.com", "bob@acme.com", f"Lunch {n}", message_id=f"<l{n}@acme.com>") for n in range(2)
    ]
    mbox = tmp_path / "takeout.mbox"
    separator = b"From MAILER-DAEMON Thu Jan  1 00:00:00 2025\n"
    mbox.write_bytes(b"".join(separator + raw.replace(b"\r\n", b"\n") + b"\n"
                              for raw in [*deals, deals[0], *internal, internal[1]]))  # fmt: skip

    first = cli.ok("import", str(mbox), "--mailbox", bob_box)
    after_first = _counters(cli, bob_box)
    second = cli.ok("import", str(mbox), "--mailbox", bob_box)

    assert first["seen"] == second["seen"] == 9
    assert after_first == (5, {"duplicate": 1, "internal_only": 2})  # what the mailbox holds
    assert _counters(cli, bob_box) == after_first
    assert cli.ok("replay")["equal"] is True


def test_replay_of_one_workspace_digests_its_rows_only(cli: Cli) -> None:
    acme = cli.create_workspace()
    globex = cli.ok(
        "workspace",
        "create",
        "--name",
        "Globex",
        "--domain",
        "globex.com",
        "--admin-name",
        "Gus",
        "--admin-email",
        "gus@globex.com",
    )
    cli.add_member(globex["workspace_id"], "Gail", "gail@globex.com")  # Globex's events come last

    everything = cli.ok("replay")
    one = cli.ok("replay", "--workspace", acme["workspace_id"])

    assert one["equal"] is True and one["replay_digest"] != everything["replay_digest"]
    assert 0 < one["position"] == one["live_position"] < everything["live_position"]
    unknown = cli.run("replay", "--workspace", str(uuid.uuid4()))
    assert unknown.returncode != 0 and "no events of workspace" in unknown.stderr


def test_demo_prints_tokens_and_curl_lines(cli: Cli) -> None:
    info = cli.ok("demo", "--messages", "200")

    tokens = info["tokens"]
    assert len(tokens) == 3 and all(isinstance(t, str) and t for t in tokens.values())
    assert info["try"]
    assert all(line.startswith("curl ") and "Authorization: Bearer" in line for line in info["try"])
    assert any(token in line for token in tokens.values() for line in info["try"])
    uuid.UUID(info["workspace_id"])
    replayed = cli.ok("replay")
    assert replayed["equal"] is True and replayed["live_position"] > 200


def test_the_demo_ends_today_with_no_message_dated_in_the_future(cli: Cli) -> None:
    info = cli.ok("demo", "--messages", "300")
    now = datetime.now(UTC)

    runtime = cli._runtime()
    try:
        with runtime.engine.connect() as conn:
            rows = conn.execute(select(emails.c.sent_at).where(emails.c.workspace_id == info["workspace_id"]))
            dates = [datetime.fromisoformat(r.sent_at) for r in rows]
    finally:
        runtime.close()
    assert len(dates) > 100
    assert max(dates) <= now
    assert max(dates) > now - timedelta(days=3)  # it ends today, not two years ago


@pytest.mark.parametrize("mailbox_id", ["0b9c2f4e-5d8a-4c61-9e7f-3a2b1c0d9e8f", "not-a-mailbox"])
def test_import_into_an_unknown_mailbox_fails_with_a_clear_message(
    cli: Cli, tmp_path: Path, mailbox_id: str
) -> None:
    cli.create_workspace()
    mbox = tmp_path / "few.mbox"
    write_mbox(mbox, count=5, seed=1, owner="bob@acme.com", internal_domain="acme.com")

    proc = cli.run("import", str(mbox), "--mailbox", mailbox_id)

    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output
    assert f"Mailbox {mailbox_id} not found" in output
    assert proc.stdout.strip() == ""  # no result JSON for a failed import


def test_import_into_an_unknown_mailbox_fails_even_when_the_file_yields_no_message(
    cli: Cli, tmp_path: Path
) -> None:
    cli.create_workspace()
    eml = tmp_path / "one.eml"
    eml.write_bytes(message("Carol <carol@globex.com>", "bob@acme.com", message_id="<one@globex.com>"))
    mailbox_id = str(uuid.uuid4())

    proc = cli.run("import", str(eml), "--mailbox", mailbox_id)

    assert proc.returncode != 0, proc.stdout
    assert f"Mailbox {mailbox_id} not found" in proc.stdout + proc.stderr


def test_importing_a_single_eml_file_is_not_a_silent_no_op(cli: Cli, tmp_path: Path) -> None:
    created = cli.create_workspace()
    box = cli.connect_upload(created["workspace_id"], created["member_id"], "bob@acme.com")
    eml = tmp_path / "one.eml"
    eml.write_bytes(message("Carol <carol@globex.com>", "bob@acme.com", message_id="<one@globex.com>"))

    proc = cli.run("import", str(eml), "--mailbox", box)

    assert "Traceback" not in proc.stdout + proc.stderr
    if proc.returncode == 0:  # imported as one message ...
        assert json.loads(proc.stdout)["seen"] == 1
    else:  # ... or refused with a reason
        assert "mbox" in (proc.stdout + proc.stderr).lower()


@pytest.fixture
def postgres_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    url = fresh_database(request.getfixturevalue("postgres_server_url"), "cli")
    work = tmp_path / "work"
    work.mkdir()
    try:
        # with PostgreSQL the default master key file is ./var/master.key: give both sides one key
        yield Cli(work, database_url=url, master_key=base64.b64encode(os.urandom(32)).decode())
    finally:
        drop_database(url)


def test_workspace_create_import_and_replay_on_postgres(postgres_cli: Cli, tmp_path: Path) -> None:
    cli = postgres_cli
    created = cli.create_workspace()
    bob_box = cli.connect_upload(created["workspace_id"], created["member_id"], "bob@acme.com")
    maildir = tmp_path / "Maildir"
    write_maildir(maildir, count=300, seed=3, owner="bob@acme.com", internal_domain="acme.com")

    first = cli.ok("import", str(maildir), "--mailbox", bob_box)
    assert first["seen"] == 300 and _accounted(first) == 300 and first["synced"] > 200
    _assert_idempotent(first, cli.ok("import", str(maildir), "--mailbox", bob_box))
    replayed = cli.ok("replay")
    assert replayed["equal"] is True
    assert replayed["position"] == replayed["live_position"] > 0
    assert not (cli.cwd / "var" / "mailtrail.db").exists()  # nothing went to the default SQLite store
