"""`mailtrail sync` of a Microsoft 365 mailbox through Graph (the local fake) against the IMAP
sync of the same messages from Dovecot, in one run.

    .venv/bin/python bench/bench_graph.py [--count 20000] [--seed 7] [--page-size 100] [--keep DIR]

The generated corpus (adapters.mailgen) is served twice: by the HTTPS fake of the identity
platform and Graph (tests/support/microsoft.py, in this process: a delta page per
`odata.maxpagesize`, then one `$value` request per message, as Graph does) and by a throw-away
Dovecot. A Microsoft 365 mailbox is connected through the real OAuth flow (msal against the
fake), then `mailtrail sync --mailbox ID` runs as its own process for each mailbox, views
caught up (SQLite). Prints msg/s, wall time and the sync process's peak RSS for both.
Note: the fake shares the machine's cores with the sync it serves; Graph's own latency
(tens of ms per request) is not modelled. Needs dovecot-imapd installed."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.datakeys import new_master_key
from adapters.mailgen import generate_messages
from adapters.settings import Settings
from api.runtime import Runtime
from bench.bench_imap import run_mailtrail as run_imap
from tests.support.dovecot import DovecotServer
from tests.support.imap import fill_maildir, new_user
from tests.support.microsoft import CLIENT_ID, CLIENT_SECRET, Fake, microsoft_fake

OWNER = "alice@acme.example"


def connect_graph(fake: Fake, work: Path, page_size: int) -> tuple[str, dict[str, str]]:
    """A store with an active Microsoft 365 mailbox (connected through the OAuth flow)."""
    (work / "graph").mkdir()
    env = {
        "MAILTRAIL_DATABASE_URL": f"sqlite:///{work / 'graph' / 'mailtrail.db'}",
        "MAILTRAIL_MASTER_KEY": new_master_key(), "MAILTRAIL_MICROSOFT_CLIENT_ID": CLIENT_ID,
        "MAILTRAIL_MICROSOFT_CLIENT_SECRET": CLIENT_SECRET, "MAILTRAIL_MICROSOFT_AUTHORITY": fake.authority,
        "MAILTRAIL_GRAPH_URL": fake.graph_url, "MAILTRAIL_GRAPH_PAGE_SIZE": str(page_size),
        "SSL_CERT_FILE": str(fake.ca),
    }  # fmt: skip
    os.environ["SSL_CERT_FILE"] = str(fake.ca)
    settings = Settings(
        database_url=env["MAILTRAIL_DATABASE_URL"], master_key=env["MAILTRAIL_MASTER_KEY"],
        microsoft_client_id=CLIENT_ID, microsoft_client_secret=CLIENT_SECRET,
        microsoft_authority=fake.authority, graph_url=fake.graph_url,
    )  # fmt: skip
    runtime = Runtime.open(settings)
    try:
        runtime.services.mailboxes.start_sync = lambda mailbox_id: None  # the timed process syncs
        workspace_id, member_id, _ = runtime.services.workspaces.create_workspace(
            "Acme", "acme.example", "Alice", OWNER
        )
        oauth = runtime.services.oauth
        assert oauth is not None
        started = oauth.start(workspace_id, member_id, "microsoft365", OWNER, [])
        query = parse_qs(urlsplit(fake.authorize(started.authorization_url)).query)
        outcome = oauth.callback(query["code"][0], query["state"][0])
        assert outcome.status == "active", outcome.reason
        runtime.catch_up()
    finally:
        runtime.close()
    return started.id, env


def run_graph(mailbox_id: str, env: dict[str, str]) -> dict[str, Any]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MAILTRAIL_")} | env
    command = [str(Path(sys.executable).with_name("mailtrail")), "sync", "--mailbox", mailbox_id]
    started, cpu = time.perf_counter(), child_cpu()
    done = subprocess.run(command, env=full, check=True, stdout=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    summary: dict[str, Any] = json.loads(done.stdout)
    return {**summary, "wall_seconds": elapsed, "rate": int(summary["fetched"]) / elapsed,
            "cpu_seconds": child_cpu() - cpu, "command": " ".join(command)}  # fmt: skip


def child_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="keep the work directory here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-graph-", dir=args.keep))
    corpus = list(generate_messages(args.count, seed=args.seed, owner=OWNER))
    with microsoft_fake(work / "tls") as fake:
        fake.token_seconds = 86400
        fake.account(OWNER)
        for folder, raw in corpus:
            fake.deliver(OWNER, "sentitems" if folder.lower().startswith("sent") else "inbox", raw)
        mailbox_id, env = connect_graph(fake, work, args.page_size)
        graph = run_graph(mailbox_id, env)
        print(f"graph      {graph['rate']:8.0f} msg/s  ({graph['fetched']} messages in "
              f"{graph['wall_seconds']:.1f} s, {graph['cpu_seconds']:.1f} s CPU, views caught up; "
              f"peak RSS {graph['peak_rss_mb']['self']} MB)",
              flush=True)  # fmt: skip
    with DovecotServer() as server:
        user, password = new_user(server, "bench")
        fill_maildir(server, user, corpus)
        (work / "mailtrail").mkdir()
        cpu = child_cpu()
        imap = run_imap(server, user, password, work)
        imap["cpu_seconds"] = child_cpu() - cpu
    rss = imap["peak_rss_mb"]
    print(f"imap       {imap['rate']:8.0f} msg/s  ({imap['fetched']} messages in {imap['wall_seconds']:.1f} s, "
          f"{imap['cpu_seconds']:.1f} s CPU, views caught up; peak RSS {rss['self']} MB + fetch process {rss['fetch_process']} MB)")  # fmt: skip
    print(f"ratio      {graph['rate'] / imap['rate']:8.2f}x (graph / imap)")
    print(f"commands   {graph['command']}\n           {imap['command']}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if graph["fetched"] == imap["fetched"] == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
