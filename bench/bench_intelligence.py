"""Communication intelligence on a 20,000-message mailbox: reads and mailbox removal.

    .venv/bin/python bench/bench_intelligence.py [--count 20000] [--postgres] [--repeats 5]

Builds, in a fresh store (SQLite, or with --postgres $MAILTRAIL_TEST_DATABASE_URL or a
private server from tests.support.postgres), a workspace where Alice's mailbox holds
`--count` generated messages (adapters.mailgen, seed 7, imported with
application.services.ingest.import_batches and application.batch_recorder.BatchRecorder)
and Bob's a tenth as many over the same people. Then, end to end through the HTTP API
(in-process TestClient) or the application:

* GET /people/{id}/intelligence for the person with the most interactions (median);
* GET /companies/{id}/intelligence for that person's company (median);
* both again with an `as_of` 90 days before the newest email (computed from that one
  record's touches; target < 200 ms for the person);
* the orders behind GET /people|/companies?sort=strength|last_interaction, in-process
  (median); with --lists also GET /people with each sort through HTTP, once (those
  are dominated by the rows' own per-row `last_interaction` query, not by the sort);
* removing Alice's mailbox: app.remove_mailbox + runtime.catch_up (target < 2 s),
  then the same person's intelligence again (recomputed from Bob's copies only).

Prints seconds and writes bench/out/intelligence.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select

from adapters.datakeys import new_master_key
from adapters.mailgen import generate_messages
from adapters.mime import parse_message
from adapters.settings import Settings
from adapters.tokens import issue_token
from api.main import create_app
from api.runtime import Runtime
from application.batch_recorder import BatchRecorder
from application.services.ingest import batches, import_batches
from domain.strength import grade_of
from domain.visibility import Viewer
from projections.intelligence_queries import SORTS, touches
from projections.summary_queries import sorted_ids
from projections.tables import record_summaries

DOMAIN = "acme.example"
SEED = 7
REMOVAL_TARGET_SECONDS = 2.0
PAST_DAYS = 90  # the past as_of: this long before the newest email
OUT = ROOT / "bench" / "out" / "intelligence.json"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@contextmanager
def database(postgres: bool, tmp: Path) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{tmp / 'var' / 'mailtrail.db'}"
        return
    from tests.support.postgres import ENV_URL, PostgresServer, drop_database, fresh_database

    server = None
    server_url = os.environ.get(ENV_URL)
    if not server_url:
        server = PostgresServer()
        server.start()
        server_url = server.url
    url = fresh_database(server_url, "mailtrail_bench_intel")
    try:
        yield url
    finally:
        drop_database(url)
        if server is not None:
            server.stop()


def timed(action: Callable[[], Any]) -> tuple[dict[str, float], Any]:
    """Wall seconds, and CPU seconds of this process (SQLite runs in it; a loaded machine
    stretches the wall time, much less the CPU time)."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = action()
    return {"wall_s": round(time.perf_counter() - t0, 4), "cpu_s": round(time.process_time() - c0, 4)}, result


def median_of(repeats: int, action: Callable[[], Any]) -> dict[str, float]:
    runs = [timed(action)[0] for _ in range(repeats)]
    return {key: round(statistics.median(r[key] for r in runs), 4) for key in ("wall_s", "cpu_s")}


def load(runtime: Runtime, mailbox_id: str, owner: str, count: int) -> dict[str, float]:
    mail = generate_messages(count, seed=SEED, owner=owner, internal_domain=DOMAIN)
    raw = ((folder, f"bench-{owner}-{n}", data) for n, (folder, data) in enumerate(mail))
    seconds, _ = timed(
        lambda: (
            import_batches(BatchRecorder(runtime.app, mailbox_id), batches(raw, parse_message)),
            runtime.catch_up(),
        )
    )
    return seconds


def orders(runtime: Runtime, viewer: Viewer, repeats: int) -> dict[str, Any]:
    """A 50-item page of GET /people and GET /companies in each sort (kept index scans, in-process)."""
    found = {}
    with runtime.engine.connect() as conn:
        for name, kind in (("people", "person"), ("companies", "company")):
            for sort in SORTS:
                found[f"{name}_order_by_{sort}"] = median_of(
                    repeats, lambda kind=kind, sort=sort: sorted_ids(conn, viewer, kind, sort, None, 50)
                )
    return found


def run(url: str, count: int, repeats: int, lists: bool) -> dict[str, Any]:
    runtime = Runtime.open(Settings(database_url=url, master_key=new_master_key()))
    try:
        services = runtime.services
        ws, alice, _ = services.workspaces.create_workspace("Acme", DOMAIN, "Alice", f"alice@{DOMAIN}", "pro")
        bob = services.workspaces.add_member(ws, "Bob", [f"bob@{DOMAIN}"], "member").id
        alice_box = services.mailboxes.register(ws, alice, "upload", f"alice@{DOMAIN}", []).id
        bob_box = services.mailboxes.register(ws, bob, "upload", f"bob@{DOMAIN}", []).id
        log(f"importing {count} messages into Alice's mailbox")
        import_alice = load(runtime, alice_box, f"alice@{DOMAIN}", count)
        log(f"imported in {import_alice['wall_s']:.1f}s; {count // 10} into Bob's")
        import_bob = load(runtime, bob_box, f"bob@{DOMAIN}", count // 10)
        headers = {"Authorization": f"Bearer {issue_token(runtime.engine, ws, alice)}"}
        viewer = Viewer(ws, alice, "admin")
        with runtime.engine.connect() as conn:
            per_person = Counter(t.person_id for t in touches(conn, viewer))
        person_id, interactions = per_person.most_common(1)[0]
        grades_before = grade_counts(runtime, viewer)

        from fastapi.testclient import TestClient

        with TestClient(create_app(runtime=runtime)) as client:

            def get(path: str, **params: str) -> dict[str, Any]:
                response = client.get(path, params=params, headers=headers)
                assert response.status_code == 200, response.text
                found: dict[str, Any] = response.json()
                return found

            company_ids = get(f"/people/{person_id}")["company_ids"]
            before = get(f"/people/{person_id}/intelligence")
            past = (datetime.fromisoformat(before["as_of"]) - timedelta(days=PAST_DAYS)).isoformat()
            figures: dict[str, Any] = {
                "person_intelligence": median_of(repeats, lambda: get(f"/people/{person_id}/intelligence")),
                # an as_of in the past is computed from that one record's touches (target < 200 ms)
                "person_intelligence_past_as_of": median_of(
                    repeats, lambda: get(f"/people/{person_id}/intelligence", as_of=past)
                ),
                **orders(runtime, viewer, repeats),
            }
            if lists:  # the rows' own `last_interaction` (one query per row) dominates these
                for sort in ("strength", "last_interaction", None):
                    params = {"sort": sort} if sort else {}
                    figures[f"GET /people?sort={sort or ''}"] = timed(
                        lambda params=params: get("/people", **params)
                    )[0]
            if company_ids:
                figures["company_intelligence"] = median_of(
                    repeats, lambda: get(f"/companies/{company_ids[0]}/intelligence")
                )
                figures["company_intelligence_past_as_of"] = median_of(
                    repeats, lambda: get(f"/companies/{company_ids[0]}/intelligence", as_of=past)
                )
            log("removing Alice's mailbox")
            removal, _ = timed(
                lambda: (services.erasure.remove_mailbox(ws, alice_box, alice), runtime.catch_up())
            )
            after_s, after = timed(lambda: get(f"/people/{person_id}/intelligence"))
        return {
            "load_average": os.getloadavg(),
            "import": {"alice": import_alice, "bob": import_bob},
            "people": people_count(runtime, viewer),
            "people_by_grade": {
                "before_removal": grades_before,
                "after_removal": grade_counts(runtime, viewer),
            },
            "busiest_person": {
                "id": person_id,
                "interactions": interactions,
                "members_before": len(before["members"]),
                "members_after": len(after["members"]),
                "grade_before": before["grade"],
                "grade_after": after["grade"],
            },
            **figures,
            "removal": removal,
            "person_intelligence_after_removal": after_s,
            "removal_meets_target": removal["wall_s"] < REMOVAL_TARGET_SECONDS,
        }
    finally:
        runtime.close()


def grade_counts(runtime: Runtime, viewer: Viewer) -> dict[str, int]:
    """How many people have each grade as their strongest connection."""
    s = record_summaries.c
    with runtime.engine.connect() as conn:
        scores = list(
            conn.execute(
                select(s.score).where(
                    s.workspace_id == viewer.workspace_id, s.kind == "person", s.viewer == ""
                )
            ).scalars()
        )
    return dict(sorted(Counter(grade_of(score).value for score in scores).items()))


def people_count(runtime: Runtime, viewer: Viewer) -> int:
    s = record_summaries.c
    with runtime.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(record_summaries)
                .where(s.workspace_id == viewer.workspace_id, s.kind == "person", s.viewer == "")
            ).scalar_one()
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--lists", action="store_true", help="also time GET /people with each sort, once (slow)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="mailtrail-bench-intel-") as tmp,
        database(args.postgres, Path(tmp)) as url,
    ):
        result = {
            "command": "python bench/bench_intelligence.py "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "database": "postgresql" if args.postgres else "sqlite",
            "count": args.count,
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
            },
            **run(url, args.count, args.repeats, args.lists),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists():
        previous = json.loads(args.out.read_text())
        runs = previous if isinstance(previous, dict) and "runs" in previous else {"runs": {}}
    else:
        runs = {"runs": {}}
    runs["runs"][result["database"]] = result
    args.out.write_text(json.dumps(runs, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(
        f"\nremoval of a {args.count}-message mailbox: {result['removal']['wall_s']:.2f} s wall, "
        f"{result['removal']['cpu_s']:.2f} s CPU "
        f"(target < {REMOVAL_TARGET_SECONDS:.0f} s: {'ok' if result['removal_meets_target'] else 'MISS'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
