"""Where a request's time goes on a kept bench store: each benchmarked path requested in process
(FastAPI's TestClient, the real app on the store), its wall time and every SQL statement's time.

    .venv/bin/python bench/query_times.py DIR [--repeat 5] [--only people,emails] [--plan]

DIR is a store of bench/bench_api.py (`--keep`/`--store`, e.g. /work/bench-stores/sqlite-200000);
a PostgreSQL store needs its server running (`--postgres-url`). With --plan, each statement's
query plan (SQLite EXPLAIN QUERY PLAN, PostgreSQL EXPLAIN ANALYZE) is printed once."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient
from sqlalchemy import event

from adapters.settings import Settings
from api.main import create_app
from bench.api_store import load_manifest
from bench.bench_api import benchmarked_paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("store", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--plan", action="store_true")
    ap.add_argument(
        "--postgres-url", default=None, help="the server of a PostgreSQL store (its url's host part)"
    )
    args = ap.parse_args(argv)
    manifest = load_manifest(args.store)
    assert manifest is not None, f"no store.json in {args.store}"
    url = manifest["url"]
    if args.postgres_url:
        url = args.postgres_url.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1]
    elif url.startswith("sqlite"):
        url = f"sqlite:///{args.store / 'mailtrail.db'}"
    app = create_app(Settings(database_url=url, master_key=manifest["master_key"]))
    only = set(filter(None, args.only.split(",")))
    with TestClient(app) as client:
        engine = app.state.runtime.engine
        postgres = engine.dialect.name == "postgresql"
        spent: dict[str, list[float]] = defaultdict(list)
        planned: set[str] = set()
        starts: list[float] = []

        @event.listens_for(engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            starts.append(time.process_time())

        @event.listens_for(engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            spent[statement].append((time.process_time() - starts.pop()) * 1000)
            if args.plan and statement not in planned and statement.lstrip().upper().startswith("SELECT"):
                planned.add(statement)
                raw = conn.connection.dbapi_connection
                cur = raw.cursor()
                if postgres:
                    cur.execute("EXPLAIN ANALYZE " + statement, parameters)
                else:
                    cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plan = [" | ".join(str(c) for c in row) for row in cur.fetchall()]
                print("    PLAN", " ".join(statement.split())[:300], file=sys.stderr)
                for line in plan:
                    print("       ", line, file=sys.stderr)

        headers = {"Authorization": f"Bearer {manifest['token']}"}
        for name, path in benchmarked_paths(manifest).items():
            if only and name not in only:
                continue
            times = []
            spent.clear()
            for _ in range(args.repeat):
                started = time.process_time()
                response = client.get(path, headers=headers)
                times.append((time.process_time() - started) * 1000)
                assert response.status_code == 200, (path, response.status_code, response.text[:300])
            times.sort()
            sql = sum(sum(v) for v in spent.values()) / args.repeat
            print(
                f"{name:28} median {times[len(times) // 2]:8.1f} ms  min {times[0]:8.1f}  sql/request {sql:8.1f} ms"
            )
            worst = sorted(spent.items(), key=lambda kv: -sum(kv[1]))[:12]
            for statement, ms in worst:
                per = sum(ms) / args.repeat
                if per >= 0.1:
                    print(
                        f"    {per:7.1f} ms x{len(ms) // args.repeat:<3} {' '.join(statement.split())[:160]}"
                    )
    print(json.dumps({"store": str(args.store), "url": url.split("@")[-1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
