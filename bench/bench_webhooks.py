"""Webhook delivery against the views, in one run: generated mail imported in batches while the
views catch up after each batch (as `mailtrail serve` does) and the delivery loop sends every
email.created / person.created / company.created to a local receiver (another process, verifying
each signature with the Standard Webhooks library).

Prints the views' catch-up rate (events applied per second), deliveries per second, and the lag
of the deliveries behind the log (events not yet turned into deliveries, sampled every 0.1 s)
and behind the views (seconds from the views' last page to the last delivery).

    .venv/bin/python bench/bench_webhooks.py [--messages 20000] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from adapters.datakeys import new_master_key
from adapters.mailgen import generate_messages
from adapters.secret_tables import webhook_deliveries, webhooks
from adapters.settings import Settings
from adapters.tokens import issue_token
from api.main import create_app
from api.runtime import Runtime

OWNER = "alice@acme.example"
BATCH = 500


def _receive(port: int, secret: str, counter: Any, ready: Any) -> None:
    from standardwebhooks.webhooks import Webhook

    hook = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.verify(body, dict(self.headers.items()))
            with counter.get_lock():
                counter.value += 1
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    url = args.database_url or f"sqlite:///{tmp / 'mailtrail.db'}"
    settings = Settings(database_url=url, master_key=new_master_key(), allow_private_hosts=True,
                        webhook_poll_seconds=0.05)  # fmt: skip
    runtime = Runtime.open(settings)
    client = TestClient(create_app(runtime=runtime))
    client.__enter__()
    workspace_id, member_id, position = runtime.services.workspaces.create_workspace(
        "Acme", "acme.example", "Alice", OWNER
    )
    runtime.wait_for(position)
    headers = {"Authorization": f"Bearer {issue_token(runtime.engine, workspace_id, member_id)}"}
    box = client.post("/mailboxes", json={"provider": "upload", "address": OWNER}, headers=headers).json()[
        "id"
    ]

    with socket_port() as port:
        pass
    events = ["email.created", "person.created", "company.created"]
    made = client.post("/webhooks", json={"url": f"http://127.0.0.1:{port}/hook", "events": events},
                       headers=headers).json()  # fmt: skip
    counter, ready = multiprocessing.Value("l", 0), multiprocessing.Event()
    receiver = multiprocessing.Process(
        target=_receive, args=(port, made["secret"], counter, ready), daemon=True
    )
    receiver.start()
    ready.wait(10)

    messages = list(generate_messages(args.messages, owner=OWNER, internal_domain="acme.example"))
    runtime.start_webhook_delivery(only_when_applier=False)
    lags: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with runtime.engine.connect() as conn:
                at = (
                    conn.execute(select(webhooks.c.position).where(webhooks.c.id == made["id"])).scalar() or 0
                )
            lags.append((runtime.app.recorder.max_notification_id() or 0) - at)
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    views_seconds = 0.0
    started = time.perf_counter()
    first_position = runtime.runner.position()
    for start in range(0, len(messages), BATCH):
        chunk = [("INBOX", ref, raw) for ref, raw in messages[start : start + BATCH]]
        runtime.services.ingest.import_raw(box, chunk)
        began = time.perf_counter()
        runtime.catch_up()
        views_seconds += time.perf_counter() - began
    views_done = time.perf_counter()
    applied = runtime.runner.position() - first_position

    def delivered() -> tuple[int, int]:
        with runtime.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar() or 0
            pending = conn.execute(
                select(func.count()).select_from(webhook_deliveries).where(webhook_deliveries.c.status == "pending")
            ).scalar() or 0  # fmt: skip
            at = conn.execute(select(webhooks.c.position).where(webhooks.c.id == made["id"])).scalar() or 0
        return total, pending if at >= runtime.runner.position() else pending + 1

    while True:
        total, pending = delivered()
        if pending == 0:
            break
        time.sleep(0.05)
    finished = time.perf_counter()
    stop.set()
    sampler.join()
    print(json.dumps({
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "messages": args.messages,
        "events_applied": applied,
        "views_seconds": round(views_seconds, 2),
        "views_events_per_s": round(applied / views_seconds, 1),
        "deliveries": total,
        "received": counter.value,
        "wall_seconds": round(finished - started, 2),
        "deliveries_per_s": round(total / (finished - started), 1),
        "lag_events_max": max(lags, default=0),
        "lag_events_median": sorted(lags)[len(lags) // 2] if lags else 0,
        "last_delivery_after_views_s": round(finished - views_done, 2),
    }, indent=2))  # fmt: skip
    receiver.terminate()
    client.__exit__(None, None, None)
    runtime.close()


class socket_port:
    """A free loopback port (bound, then released for the receiver)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


if __name__ == "__main__":
    main()
