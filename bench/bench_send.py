"""The outbox against plain smtplib, sending the same messages to the same local SMTP server.

    .venv/bin/python bench/bench_send.py [--count 1000] [--postgres URL]

Starts a real SMTP server on loopback (aiosmtpd, tests/support/smtp.py), opens a throw-away
store (SQLite unless --postgres), connects one `imap` mailbox that submits there, sets the
workspace's send_limits out of the way (100,000 an hour and a day, no spacing), then in one
run times
  * queueing: `count` sends through the sending service (what POST /mailboxes/{id}/send does),
  * the outbox: worker passes until every send is sent (an `Attempted` and a `Sent` event per
    message, its Outbox slot, the copy recorded on the records, the views caught up),
  * smtplib: the same composed messages, one connection per message (no AUTH)
    (and, for reference, all over one connection),
and prints the rates and the outbox's rate against smtplib's."""

from __future__ import annotations

import argparse
import json
import smtplib
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.settings import Settings
from api.runtime import Runtime
from application.compose import compose, envelope
from application.services.sending import Outgoing
from domain.send import SENT, Send
from tests.support.smtp import SmtpServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL of an empty database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SmtpServer() as smtp:
        url = args.postgres or f"sqlite:///{tmp}/mailtrail.db"
        runtime = Runtime.open(Settings(database_url=url, allow_private_hosts=True, master_key=None))
        try:
            print(json.dumps(run(runtime, smtp, args.count), indent=2))
        finally:
            runtime.close()


def run(runtime: Runtime, smtp: SmtpServer, count: int) -> dict[str, object]:
    services = runtime.services
    workspace_id, member_id, _ = services.workspaces.create_workspace(
        "Acme", "acme.com", "Bob", "bob@acme.com"
    )
    services.workspaces.update_settings(
        workspace_id, {"send_limits": {"per_hour": 100_000, "per_day": 100_000, "spacing_seconds": 0}}
    )
    connection = {"host": "127.0.0.1", "port": 1, "security": "none", "username": "bob", "folders": None,
                  "auth": "password", "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none",
                  "smtp_username": None}  # fmt: skip
    mailbox_id = services.mailboxes.register(
        workspace_id, member_id, "imap", "bob@acme.com", [], connection
    ).id
    smtp.add_user("bob", "bench-password")
    runtime.keystore.put(mailbox_id, {"password": "bench-password"})  # AUTH on every connection, as in use
    runtime.catch_up()

    started = time.perf_counter()
    ids = []
    for n in range(count):
        outgoing = Outgoing([f"contact{n}@example.org"], f"Proposal {n}", f"Hello {n},\n\nthe figures.\n")
        ids.append(services.sending.send(workspace_id, mailbox_id, member_id, f"bench-{n}", outgoing).id)
    runtime.catch_up()
    queued_seconds = time.perf_counter() - started

    started = time.perf_counter()
    passes = 0
    while len(smtp.received) < count and passes < count:
        runtime.outbox.run_once(limit=500)
        passes += 1
    outbox_seconds = time.perf_counter() - started
    sends = [runtime.app.load(Send, send_id) for send_id in ids]
    assert all(s.status == SENT for s in sends), {s.status for s in sends}
    assert len(smtp.received) == count, len(smtp.received)

    raws = [
        (compose(s.headers, s.content, datetime.fromisoformat(s.headers["date"])), *envelope(s.headers))
        for s in sends
    ]
    smtp.reset()
    started = time.perf_counter()
    for raw, sender, recipients in raws:
        with smtplib.SMTP("127.0.0.1", smtp.port) as client:
            client.sendmail(sender, recipients, raw)
    smtplib_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", smtp.port) as client:
        for raw, sender, recipients in raws:
            client.sendmail(sender, recipients, raw)
    one_connection_seconds = time.perf_counter() - started
    assert len(smtp.received) == 2 * count

    outbox_rate = count / outbox_seconds
    smtplib_rate = count / smtplib_seconds
    return {
        "count": count,
        "store": "postgres" if runtime.store.is_postgres else "sqlite",
        "queued_per_second": round(count / queued_seconds, 1),
        "outbox_sends_per_second": round(outbox_rate, 1),
        "outbox_passes": passes,
        "smtplib_sends_per_second": round(smtplib_rate, 1),
        "smtplib_one_connection_sends_per_second": round(count / one_connection_seconds, 1),
        "outbox_vs_smtplib": round(outbox_rate / smtplib_rate, 3),
    }


if __name__ == "__main__":
    main()
