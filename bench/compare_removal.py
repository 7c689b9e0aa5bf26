"""Mailbox removal (`DELETE /mailboxes/{id}`'s work) of a baseline revision beside the working tree, interleaved.

    .venv/bin/python bench/compare_removal.py --baseline REV [--count 20000] [--rounds 2] [--skip-postgres]

Builds one store per backend with this tree's code (bench/bench_intelligence.py's workspace:
Alice's mailbox holds `--count` generated messages, Bob's a tenth as many over the same
people), then per round and side copies it (SQLite: the file; PostgreSQL: CREATE DATABASE
... TEMPLATE) and times, in a child process running that side's code, the removal of Alice's
mailbox: `services.erasure.remove_mailbox` and the views' catch-up (issue 12's target: under
2 s at 20,000 messages). The sides alternate (A B, B A, ...). Both revisions must share the
schema (the store is migrated once). Prints wall and CPU seconds and the load average.
"""

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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"

CHILD = r"""
import json, os, sys, time
from adapters.settings import Settings
from api.runtime import Runtime
url, meta = sys.argv[1], json.loads(sys.argv[2])
rt = Runtime.open(Settings(database_url=url, master_key=meta["key"]))
try:
    rt.catch_up()
    t0, c0 = time.perf_counter(), time.process_time()
    rt.services.erasure.remove_mailbox(meta["ws"], meta["box"], meta["by"])
    rt.catch_up()
    print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}))
finally:
    rt.close()
"""


def log(msg: str) -> None:
    print(f"[removal {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build(url: str, count: int) -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_intelligence as bench

    from adapters.datakeys import new_master_key
    from adapters.settings import Settings
    from api.runtime import Runtime

    key = new_master_key()
    rt = Runtime.open(Settings(database_url=url, master_key=key))
    try:
        s, domain = rt.services, bench.DOMAIN
        ws, alice, _ = s.workspaces.create_workspace("Acme", domain, "Alice", f"alice@{domain}", "pro")
        bob = s.workspaces.add_member(ws, "Bob", [f"bob@{domain}"], "member").id
        alice_box = s.mailboxes.register(ws, alice, "upload", f"alice@{domain}", []).id
        bob_box = s.mailboxes.register(ws, bob, "upload", f"bob@{domain}", []).id
        bench.load(rt, alice_box, f"alice@{domain}", count)
        bench.load(rt, bob_box, f"bob@{domain}", count // 10)
    finally:
        rt.close()
    return {"key": key, "ws": ws, "box": alice_box, "by": alice}


def export(rev: str, tmp: Path) -> Path:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", rev], check=True, capture_output=True, text=True
    )
    src = tmp / f"src-{commit.stdout.strip()[:12]}"
    src.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit.stdout.strip()], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    return src


def remove(src: Path, url: str, meta: dict[str, str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    load = os.getloadavg()[0]
    out = subprocess.run(
        [str(PYTHON), "-c", CHILD, url, json.dumps(meta)],
        cwd=src,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return {**{k: round(v, 3) for k, v in found.items()}, "load_1m": round(load, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True, help="git revision to compare with the working tree")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="mailtrail-removal-"))
    server = None
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        sides = {"baseline": export(args.baseline, tmp), "candidate": ROOT}
        backends: dict[str, tuple[str, Any]] = {}
        store = tmp / "sqlite" / "mailtrail.db"
        store.parent.mkdir()
        backends["sqlite"] = (f"sqlite:///{store}", None)
        if not args.skip_postgres:
            import psycopg

            from tests.support.postgres import ENV_URL, PostgresServer, fresh_database

            server_url = os.environ.get(ENV_URL)
            if not server_url:
                server = PostgresServer()
                server.start()
                server_url = server.url
            backends["postgres"] = (fresh_database(server_url, "mailtrail_removal"), psycopg)
        metas = {}
        for name, (url, _) in backends.items():
            log(f"{name}: building the store ({args.count:,} + {args.count // 10:,} messages)")
            metas[name] = build(url, args.count)
        for round_number in range(args.rounds):
            order = list(sides) if round_number % 2 == 0 else list(reversed(sides))
            for side in order:
                for name, (url, pg) in backends.items():
                    if pg is None:
                        copy = tmp / "sqlite" / "copy.db"
                        shutil.copy(store, copy)
                        target = f"sqlite:///{copy}"
                    else:
                        base, _, db = url.rpartition("/")
                        with pg.connect(url.replace(f"/{db}", "/postgres"), autocommit=True) as conn:
                            conn.execute(f'DROP DATABASE IF EXISTS "{db}_copy"')
                            conn.execute(f'CREATE DATABASE "{db}_copy" TEMPLATE "{db}"')
                        target = f"{base}/{db}_copy"
                    found = remove(sides[side], target, metas[name])
                    results.setdefault(name, {}).setdefault(side, []).append(found)
                    log(f"round {round_number + 1} {side} {name}: {found}")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"baseline": args.baseline, "count": args.count, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
