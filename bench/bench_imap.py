"""`mailtrail sync` against Debian's isync (`mbsync`), pulling the same Dovecot account.

    .venv/bin/python bench/bench_imap.py [--count 20000] [--seed 7] [--keep DIR]

Serves the generated corpus (adapters.mailgen) from a throw-away Dovecot, warms the
server's indexes and the page cache, then in one run times
  * mbsync: the account's INBOX and Sent into a Maildir (isync's defaults, so FSync yes;
    a second pull with FSync no is printed for reference),
  * mailtrail: `mailtrail sync --mailbox ID` end to end, views caught up (SQLite),
and prints both rates, the ratio and our peak RSS (main process + fetch process).
Targets: ratio >= 1.0, RSS < 300 MB. Needs dovecot-imapd and isync installed."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.mailgen import generate_messages
from adapters.settings import Settings
from api.runtime import Runtime
from tests.support.dovecot import DovecotServer
from tests.support.imap import fill_maildir, new_user

MBSYNC_CONFIG = """FSync {fsync}

IMAPAccount bench
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN PLAIN

IMAPStore remote
Account bench

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns INBOX Sent
Create Near
Sync Pull
SyncState *
"""


def warm(server: DovecotServer, user: str) -> int:
    """Index both folders in dovecot and read every message file once (page cache)."""
    for path in server.maildir_path(user).rglob("*"):
        if path.is_file():
            path.read_bytes()
    total = 0
    with server.connect(user) as client:
        for folder in ("INBOX", "Sent"):
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            total += len(uids)
            for start in range(0, len(uids), 2000):
                client.fetch(uids[start : start + 2000], ["RFC822.SIZE", "FLAGS", "INTERNALDATE"])
    return total


def run_mbsync(server: DovecotServer, user: str, password: str, work: Path, fsync: bool = True) -> float:
    maildir = work / f"mbsync-fsync-{'yes' if fsync else 'no'}"
    maildir.mkdir()
    config = work / f"mbsyncrc-{maildir.name}"
    config.write_text(
        MBSYNC_CONFIG.format(
            fsync="yes" if fsync else "no", port=server.port, user=user, password=password, maildir=maildir
        )
    )
    config.chmod(0o600)
    started = time.perf_counter()
    subprocess.run(["mbsync", "-q", "-c", str(config), "bench"], check=True)
    elapsed = time.perf_counter() - started
    pulled = sum(1 for p in maildir.rglob("*") if p.is_file() and p.parent.name in ("cur", "new"))
    return pulled / elapsed


def run_mailtrail(server: DovecotServer, user: str, password: str, work: Path) -> dict[str, object]:
    url = f"sqlite:///{work / 'mailtrail' / 'mailtrail.db'}"
    runtime = Runtime.open(Settings(database_url=url, allow_private_hosts=True))
    workspace_id, member_id, _ = runtime.services.workspaces.create_workspace(
        "Acme", "acme.example", "Alice", "alice@acme.example"
    )
    connection = {"host": "127.0.0.1", "port": server.port, "security": "none", "username": user,
                  "folders": None, "auth": "password"}  # fmt: skip
    mailbox_id = runtime.services.mailboxes.register(
        workspace_id, member_id, "imap", "alice@acme.example", [], connection
    ).id
    runtime.keystore.put(mailbox_id, {"password": password})
    runtime.catch_up()
    runtime.close()
    env = {**os.environ, "MAILTRAIL_DATABASE_URL": url, "MAILTRAIL_ALLOW_PRIVATE_HOSTS": "1"}
    command = [str(Path(sys.executable).with_name("mailtrail")), "sync", "--mailbox", mailbox_id]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    summary: dict[str, object] = json.loads(done.stdout)
    return {**summary, "wall_seconds": elapsed, "rate": int(summary["fetched"]) / elapsed,  # type: ignore[call-overload]
            "command": " ".join(command)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep the work directory here")
    args = parser.parse_args()
    if shutil.which("mbsync") is None:
        sys.exit("mbsync is not installed: apt-get install -y isync")
    work = Path(tempfile.mkdtemp(prefix="bench-imap-", dir=args.keep))
    with DovecotServer() as server:
        user, password = new_user(server, "bench")
        fill_maildir(server, user, generate_messages(args.count, seed=args.seed))
        served = warm(server, user)
        print(f"dovecot serves {served} messages (INBOX + Sent)", flush=True)
        mbsync_rate = run_mbsync(server, user, password, work)
        print(f"mbsync     {mbsync_rate:8.0f} msg/s (isync defaults: FSync yes)", flush=True)
        unsynced_rate = run_mbsync(server, user, password, work, fsync=False)
        print(f"mbsync     {unsynced_rate:8.0f} msg/s (FSync no, for reference)", flush=True)
        ours = run_mailtrail(server, user, password, work)
    rss: dict[str, float] = ours["peak_rss_mb"]  # type: ignore[assignment]
    rate: float = ours["rate"]  # type: ignore[assignment]
    peak = sum(rss.values())
    ratio = rate / mbsync_rate
    print(
        f"mailtrail  {rate:8.0f} msg/s  ({ours['fetched']} messages in {ours['wall_seconds']:.1f} s, views caught up)"
    )
    print(
        f"ratio      {ratio:8.2f}x mbsync (target >= 1.0); {rate / unsynced_rate:.2f}x mbsync with FSync no"
    )
    print(
        f"peak RSS   {peak:8.0f} MB (main {rss['self']} + fetch process {rss['fetch_process']}; target < 300)"
    )
    print(f"command    {ours['command']}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ratio >= 1.0 and peak < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
