"""Capture over SMTP (`mailtrail inbound`) against the HTTP upload, the same messages, one run.

    .venv/bin/python bench/bench_inbound.py [--count 5000] [--connections 4] [--database-url URL]

Starts `mailtrail serve --workers 1` and `mailtrail inbound` over one fresh store (SQLite in a
temp dir by default), two workspaces alike (Acme-smtp, Acme-http: Bob, bob@acme.com). Then:
  * SMTP: `count` BCCs of Bob's own mail (bob@acme.com -> a client), over `connections`
    concurrent smtplib connections, each message to Bob's capture address; msg/s until the last
    250, then the views' lag: how long until GET /mailboxes shows every copy, and the largest
    backlog (accepted, not yet in the views) seen while sending, sampled every 0.2 s;
  * HTTP: the same messages posted to Bob's upload mailbox of the other workspace
    (`POST /mailboxes/{id}/messages`) over as many concurrent connections; an upload answers
    once the views show it, so its lag is what is left after the last answer.
Prints one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.datakeys import new_master_key
from adapters.settings import Settings
from adapters.tokens import issue_token
from api.runtime import Runtime

DOMAIN = "in.mailtrail.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def messages(count: int) -> list[bytes]:
    body = "Following up on our call: the proposal is attached in spirit.\r\n" * 48  # ~3 KB
    return [
        (
            f"From: Bob <bob@acme.com>\r\nTo: Client {i % 500} <c{i % 500}@client{i % 60}.example>\r\n"
            f"Subject: Proposal {i}\r\nDate: Mon, 02 Jun 2025 10:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <bench-{i}@acme.com>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
        ).encode()
        for i in range(count)
    ]


def wait_listening(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{name} did not listen")


def synced(client: httpx.Client, mailbox_id: str | None, headers: dict[str, str]) -> int:
    items = client.get("/mailboxes", headers=headers).json()["items"]
    return sum(m["synced"] for m in items if mailbox_id in (None, m["id"]))


def timed(
    count: int, send: Callable[[int, Callable[[], None]], None], shown: Callable[[], int], connections: int
) -> dict[str, float | int]:
    """Run `send(worker)` on `connections` threads; the rate until the last answer, then the
    seconds until `shown()` reaches `count`, and the largest backlog sampled meanwhile."""
    done = [0]
    lock = threading.Lock()
    stop = threading.Event()
    backlog = [0]

    def tick() -> None:
        with lock:
            done[0] += 1

    def counted(worker: int) -> None:
        send(worker, tick)

    def sample() -> None:
        while not stop.is_set():
            with lock:
                accepted = done[0]
            backlog[0] = max(backlog[0], accepted - shown())
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    with ThreadPoolExecutor(connections) as pool:
        for future in [pool.submit(counted, w) for w in range(connections)]:
            future.result()
    answered = time.perf_counter()
    stop.set()
    sampler.join()
    while shown() < count:
        time.sleep(0.05)
    caught_up = time.perf_counter()
    return {
        "seconds": round(answered - start, 2),
        "msg_per_s": round(count / (answered - start), 1),
        "views_lag_s": round(caught_up - answered, 2),
        "max_backlog": backlog[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-inbound-"))
    url = args.database_url or f"sqlite:///{work / 'mailtrail.db'}"
    key = new_master_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILTRAIL_")}
    env.update(
        {"MAILTRAIL_DATABASE_URL": url, "MAILTRAIL_MASTER_KEY": key, "MAILTRAIL_INBOUND_DOMAIN": DOMAIN}
    )

    runtime = Runtime.open(Settings(database_url=url, master_key=key, inbound_domain=DOMAIN))
    heads: dict[str, tuple[str, dict[str, str]]] = {}
    for name in ("smtp", "http"):
        ws, member, position = runtime.services.workspaces.create_workspace(
            f"Acme-{name}", "acme.com", "Bob", "bob@acme.com", "enterprise"
        )
        runtime.wait_for(position)
        heads[name] = (member, {"Authorization": f"Bearer {issue_token(runtime.engine, ws, member)}"})
    runtime.close()

    api_port, smtp_port = free_port(), free_port()
    mailtrail = str(Path(sys.executable).parent / "mailtrail")
    log = (work / "servers.log").open("wb")
    api = subprocess.Popen([mailtrail, "serve", "--workers", "1", "--port", str(api_port)], env=env,
                           cwd=work, stdout=log, stderr=log)  # fmt: skip
    wait_listening(api_port, api, "mailtrail serve")
    inbound = subprocess.Popen([mailtrail, "inbound", "--port", str(smtp_port)], env=env, cwd=work,
                               stdout=log, stderr=log)  # fmt: skip
    try:
        wait_listening(smtp_port, inbound, "mailtrail inbound")
        raw = messages(args.count)
        shares = [raw[w :: args.connections] for w in range(args.connections)]
        client = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=120)

        member, headers = heads["smtp"]
        capture = client.get(f"/members/{member}", headers=headers).json()["capture_address"]

        def send_smtp(worker: int, tick: Callable[[], None]) -> None:
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=120) as smtp:
                for message in shares[worker]:
                    smtp.sendmail("bob@acme.com", [capture], message)
                    tick()

        smtp_result = timed(args.count, send_smtp, lambda: synced(client, None, headers), args.connections)

        member, http_headers = heads["http"]
        upload = client.post(
            "/mailboxes", json={"provider": "upload", "address": "bob@acme.com", "aliases": []},
            headers=http_headers,
        ).json()["id"]  # fmt: skip

        retries, retry_lock = [0], threading.Lock()

        def send_http(worker: int, tick: Callable[[], None]) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=120) as own:
                for message in shares[worker]:
                    while True:  # concurrent uploads into one mailbox race for its version: 409, again
                        answer = own.post(
                            f"/mailboxes/{upload}/messages", content=message,
                            headers={**http_headers, "Content-Type": "message/rfc822"},
                        )  # fmt: skip
                        if answer.status_code != 409:
                            break
                        with retry_lock:
                            retries[0] += 1
                    answer.raise_for_status()
                    tick()

        http_result = timed(
            args.count, send_http, lambda: synced(client, upload, http_headers), args.connections
        )
        http_result["conflicts_retried"] = retries[0]
        print(json.dumps({
            "count": args.count, "connections": args.connections,
            "store": "postgresql" if url.startswith("postgresql") else "sqlite",
            "smtp": smtp_result, "http": http_result,
            "smtp_vs_http": round(float(smtp_result["msg_per_s"]) / float(http_result["msg_per_s"]), 2),
        }))  # fmt: skip
    finally:
        for process in (inbound, api):
            process.terminate()
            process.wait(30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
