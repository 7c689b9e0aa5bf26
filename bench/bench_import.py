"""Import and replay throughput of mailtrail on SQLite and PostgreSQL, with baselines.

    .venv/bin/python bench/bench_import.py [--count 20000] [--skip-postgres] [--keep] [--profile]
                                           [--rev REV|snapshot] [--out PATH]

One run measures, on the deterministic corpus (adapters.mailgen, seed 7):

* ``mailtrail import`` of a Maildir, run as the real console script in a subprocess in a
  fresh working dir, timed end to end (the command catches the views up before it exits),
  with its peak RSS (``/usr/bin/time -v``, or ``getrusage(RUSAGE_CHILDREN)`` without it, and
  the summed RSS of its process tree sampled from /proc: the import parses in a worker) and
  the CPU seconds of the process tree;
* ``mailtrail replay`` (every view rebuilt into a fresh store, plus both digests) timed end
  to end, and the rebuild it runs (``runtime.rebuilds``) timed in-process (median of 3),
  on SQLite also with the writer in the same process instead of the loading process;
* baselines on the same machine in the same run: raw sqlite3 ``executemany`` of rows shaped
  like ``emails`` view rows, and eventsourcing's batch ``app.save(*aggregates)`` of a minimal
  aggregate (batches of 500) on ``eventsourcing.sqlite``;

on SQLite and (unless --skip-postgres) on PostgreSQL: $MAILTRAIL_TEST_DATABASE_URL or a
private server from tests.support.postgres. Prints a table and writes bench/out/import.json.
With --profile it also writes cProfile reports of an in-process SQLite import and replay
to bench/out/profile_import.txt and bench/out/profile_replay.txt (slower; run separately
from the timed figures, which are measured without the profiler). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT  # the tree the project code is imported from (--rev: a git snapshot)

OUT_DIR = ROOT / "bench" / "out"
MAILTRAIL = ROOT / ".venv" / "bin" / "mailtrail"
TIME_BIN = Path("/usr/bin/time")

OWNER = "alice@acme.example"
DOMAIN = "acme.example"
SEED = 7
ES_BATCH = 500
BASELINE_REPEATS = 3

# One master key for every process of the run (subprocesses and in-process), so that sealed event
# fields written by `mailtrail import` can be read by the in-process replay; ignored by revisions
# without one.
MASTER_KEY = base64.b64encode(os.urandom(32)).decode("ascii")

TARGETS = {
    "import_msg_per_s_sqlite": 1000,
    "replay_events_per_s_sqlite": 20000,
    "replay_events_per_s_postgres": 10000,
    "import_peak_rss_mb": 300,
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- corpus


def make_corpus(path: Path, count: int) -> dict[str, Any]:
    from adapters.mailgen import write_maildir

    t0 = time.perf_counter()
    written = write_maildir(path, count=count, seed=SEED, owner=OWNER, internal_domain=DOMAIN)
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return {"messages": written, "bytes": size, "generate_seconds": round(seconds, 3)}


# --------------------------------------------------------------------------- subprocesses


def run_cli(args: list[str], env: dict[str, str], cwd: Path, label: str) -> dict[str, Any]:
    """Run `mailtrail ARGS`; wall time, peak RSS (KB), parsed JSON stdout."""
    rss_file = cwd / f"{label}.time.txt"
    stderr_file = cwd / f"{label}.stderr.txt"
    cmd = [str(MAILTRAIL), *args]
    use_time = TIME_BIN.exists()
    if use_time:
        cmd = [str(TIME_BIN), "-v", "-o", str(rss_file), *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    with open(stderr_file, "wb") as err, tempfile.TemporaryFile() as out_file:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out_file, stderr=err)
        tree_peak_kb = _sample_tree_rss(proc, skip_root=use_time)
        wall = time.perf_counter() - t0
        out_file.seek(0)
        stdout = out_file.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n"
            f"{stdout.decode(errors='replace')}\n"
            f"{stderr_file.read_text(errors='replace')[-4000:]}"
        )
    rss_kb: int | None = None
    if use_time:
        for line in rss_file.read_text().splitlines():
            if "Maximum resident set size" in line:
                rss_kb = int(line.rsplit(":", 1)[1])
    if rss_kb is None:  # the max over all waited-for children so far; a new max is ours
        rss_kb = after.ru_maxrss if after.ru_maxrss > before.ru_maxrss else None
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = stdout.decode().strip()
    try:
        parsed = json.loads(out)
    except json.JSONDecodeError:
        parsed = {"raw": out}
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_kb": rss_kb,
        "tree_peak_rss_kb": tree_peak_kb,
        "output": parsed,
        "loadavg_1m_before": round(load, 2),
    }


def _settings(url: str) -> Any:
    from adapters.settings import Settings

    return Settings(database_url=url, master_key=MASTER_KEY)  # extra="ignore": fine without the field


def _sample_tree_rss(proc: subprocess.Popen[bytes], skip_root: bool, every: float = 0.05) -> int | None:
    """Wait for `proc`; the peak of the summed VmRSS of it and its descendants (KB), sampled.

    `/usr/bin/time -v` reports the largest single process; the import parses in worker
    processes, so the whole tree's memory is sampled from /proc as well."""
    peak = 0
    while proc.poll() is None:
        try:
            parents: dict[int, int] = {}
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        with open(f"/proc/{entry}/stat") as f:
                            parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
                    except (OSError, IndexError, ValueError):
                        continue
            tree, frontier = set(), {proc.pid}
            while frontier:
                tree |= frontier
                frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - tree
            if skip_root:
                tree.discard(proc.pid)
            total = 0
            for pid in tree:
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                total += int(line.split()[1])
                                break
                except OSError:
                    continue
            peak = max(peak, total)
        except OSError:
            return None  # no /proc
        time.sleep(every)
    return peak or None


def max_notification_id(url: str) -> int:
    from api.runtime import Runtime

    rt = Runtime.open(_settings(url))
    try:
        return int(rt.app.recorder.max_notification_id() or 0)
    finally:
        rt.close()


def _register_upload(rt: Any, ws_id: str, member_id: str) -> str:
    """Alice's upload mailbox, on this tree's API (--rev: a tree before the services of issue 13)."""
    if not hasattr(rt, "services"):
        return str(rt.app.connect_mailbox(ws_id, member_id, "upload", OWNER, []))
    return str(rt.services.mailboxes.register(ws_id, member_id, "upload", OWNER, []).id)


def connect_upload_mailbox(url: str, ws_id: str, member_id: str) -> str:
    from api.runtime import Runtime

    rt = Runtime.open(_settings(url))
    try:
        mid = _register_upload(rt, ws_id, member_id)
        rt.catch_up()
        return mid
    finally:
        rt.close()


def replay_in_process(
    url: str, profile_to: Path | None = None, runs: int = 3, loader: bool = True
) -> dict[str, Any]:
    """The views rebuilt from 0 into a fresh store as `mailtrail replay` does it
    (the runtime's `rebuilds`, api/bootstrap.py: on SQLite through the loading process), timed alone; the
    median of `runs` (each into its own fresh store). `loader=False`: the bulk load with the
    writer in this process, as before the loading process, for a ratio in the same run."""
    import api.replay
    from adapters.migrations import upgrade
    from adapters.persistence import writer_engine
    from api.runtime import Runtime
    from projections.digest import view_digest

    def in_process(app: Any, engine: Any) -> int:
        try:
            from adapters.bulk import rebuild_store
        except ImportError:  # --rev: a tree before adapters/bulk/
            from projections.rebuild import rebuild

            return rebuild(app, writer_engine(engine))  # type: ignore[no-any-return]
        return rebuild_store(app, engine, loader=False)

    @contextmanager
    def scratch_store(rt: Any) -> Iterator[Any]:
        if hasattr(rt, "rebuilds"):  # the composition root's (api/bootstrap.py ViewRebuilds)
            with rt.rebuilds.scratch_store() as fresh:
                yield fresh
            return
        with tempfile.TemporaryDirectory(prefix="mailtrail-bench-replay-") as tmp:  # --rev: older trees
            fresh, cleanup = api.replay._fresh_store(rt.store, Path(tmp))
            try:
                upgrade(fresh)
                yield fresh
            finally:
                cleanup()

    def loaded(rt: Any) -> Callable[[Any, Any], int]:
        if not loader:
            return in_process
        if hasattr(rt, "rebuilds"):
            return rt.rebuilds.rebuild  # type: ignore[no-any-return]
        return getattr(api.replay, "rebuild_store", in_process)  # type: ignore[no-any-return]  # --rev

    rt = Runtime.open(_settings(url))
    run_rebuild = loaded(rt)
    samples: list[dict[str, Any]] = []
    try:
        live_digest = view_digest(rt.engine)
        for _ in range(1 if profile_to is not None else runs):
            with scratch_store(rt) as fresh:
                profiler = None
                if profile_to is not None:
                    import cProfile

                    profiler = cProfile.Profile()
                    profiler.enable()
                load = os.getloadavg()[0]
                t0, c0 = time.perf_counter(), time.process_time()
                position = run_rebuild(rt.app, fresh)
                seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(profile_to)
                # what `mailtrail replay` adds on top: a digest of the fresh and of the live views
                d0 = time.perf_counter()
                equal = view_digest(fresh) == live_digest
                digest_seconds = time.perf_counter() - d0
            samples.append(
                {
                    "events": position,
                    "seconds": seconds,
                    "events_per_s": position / seconds,
                    "cpu_seconds": cpu,
                    "loadavg_1m_before": load,
                    "digest_seconds": digest_seconds,
                    "digest_equal": equal,
                }
            )
    finally:
        rt.close()
    samples.sort(key=lambda x: x["seconds"])
    median = dict(samples[len(samples) // 2])
    median["runs_events_per_s"] = [round(x["events_per_s"]) for x in samples]
    if not all(x["digest_equal"] for x in samples):
        log("WARNING: a replayed store's digest differs from the live one")
    return median


def db_bytes(url: str, workdir: Path) -> int | None:
    if url.startswith("sqlite"):
        return sum(p.stat().st_size for p in (workdir / "var").glob("mailtrail.db*"))
    try:
        import psycopg

        with psycopg.connect(url) as conn:
            return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
    except Exception:  # noqa: BLE001 - informational only
        return None


def bench_backend(name: str, url: str, maildir: Path, count: int, workdir: Path) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILTRAIL_")}
    env["MAILTRAIL_DATABASE_URL"] = url
    env["MAILTRAIL_MASTER_KEY"] = MASTER_KEY
    if SRC != ROOT:  # PYTHONPATH wins over the editable install's finder (last on meta_path)
        env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env["COLUMNS"] = "100"

    log(f"{name}: workspace create")
    created = run_cli(
        [
            "workspace",
            "create",
            "--name",
            "Acme",
            "--domain",
            DOMAIN,
            "--admin-name",
            "Alice",
            "--admin-email",
            OWNER,
        ],
        env,
        workdir,
        "workspace",
    )
    ws = created["output"]
    mid = connect_upload_mailbox(url, ws["workspace_id"], ws["member_id"])
    events_before = max_notification_id(url)

    log(f"{name}: mailtrail import of {count} messages")
    imp = run_cli(["import", str(maildir), "--mailbox", mid], env, workdir, "import")
    events = max_notification_id(url)
    log(
        f"{name}: import took {imp['wall_seconds']:.1f}s ({count / imp['wall_seconds']:,.0f} msg/s), "
        f"{events} events"
    )

    log(f"{name}: mailtrail replay")
    rep = run_cli(["replay"], env, workdir, "replay")
    if not rep["output"].get("equal", False):
        log(f"{name}: WARNING replay digests differ: {rep['output']}")
    log(f"{name}: replay took {rep['wall_seconds']:.1f}s ({events / rep['wall_seconds']:,.0f} events/s)")

    log(f"{name}: in-process rebuild into a fresh store, median of 3")
    inproc = replay_in_process(url)
    log(f"{name}: in-process replay {inproc['seconds']:.1f}s ({inproc['events_per_s']:,.0f} events/s)")
    plain = None
    if url.startswith("sqlite"):
        log(f"{name}: the same, writing in this process (no loading process), median of 3")
        plain = replay_in_process(url, loader=False)
        log(f"{name}: in-process writer {plain['seconds']:.1f}s ({plain['events_per_s']:,.0f} events/s)")

    return {
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "import": {
            "messages": count,
            "wall_seconds": round(imp["wall_seconds"], 3),
            "msg_per_s": round(count / imp["wall_seconds"], 1),
            "cpu_seconds": round(imp["cpu_seconds"], 2),
            "loadavg_1m_before": imp["loadavg_1m_before"],
            "peak_rss_mb": round(imp["peak_rss_kb"] / 1024, 1) if imp["peak_rss_kb"] else None,
            "tree_peak_rss_mb": round(imp["tree_peak_rss_kb"] / 1024, 1) if imp["tree_peak_rss_kb"] else None,
            "cli_report": imp["output"],
            "events_written": events - events_before,
        },
        "events": events,
        "db_bytes_after_import": db_bytes(url, workdir),
        "replay_cli": {
            "wall_seconds": round(rep["wall_seconds"], 3),
            "events_per_s": round(events / rep["wall_seconds"], 1),
            "cpu_seconds": round(rep["cpu_seconds"], 2),
            "loadavg_1m_before": rep["loadavg_1m_before"],
            "peak_rss_mb": round(rep["peak_rss_kb"] / 1024, 1) if rep["peak_rss_kb"] else None,
            "digests_equal": rep["output"].get("equal"),
        },
        "replay_in_process": {
            "seconds": round(inproc["seconds"], 3),
            "events": inproc["events"],
            "events_per_s": round(inproc["events_per_s"], 1),
            "cpu_seconds": round(inproc["cpu_seconds"], 2),
            "loadavg_1m_before": round(inproc["loadavg_1m_before"], 2),
            "view_digest_seconds": round(inproc["digest_seconds"], 3),
            "runs_events_per_s": inproc["runs_events_per_s"],
            "digest_equal": inproc["digest_equal"],
        },
        "replay_writer_in_process": None
        if plain is None
        else {
            "seconds": round(plain["seconds"], 3),
            "events_per_s": round(plain["events_per_s"], 1),
            "cpu_seconds": round(plain["cpu_seconds"], 2),
            "runs_events_per_s": plain["runs_events_per_s"],
            "digest_equal": plain["digest_equal"],
        },
    }


# --------------------------------------------------------------------------- baselines


def emails_like_rows(count: int) -> list[tuple[Any, ...]]:
    """Rows shaped like `emails` view rows (uuid ids, message id, subject, ISO date...)."""
    import uuid

    ws = str(uuid.UUID(int=1))
    return [
        (
            str(uuid.UUID(int=(n + 1) * 7919)),
            ws,
            f"<{n}.7@gen.mailtrail.example>",
            f"Re: Quarterly review and invoice {n}",
            f"2025-01-{1 + n % 28:02d}T10:{n % 60:02d}:00+00:00",
            f"first.last{n % 300}@northwind-{n % 60}.example",
            f"<{max(n - 1, 0)}.7@gen.mailtrail.example>",
            n + 5,
        )
        for n in range(count)
    ]


def baseline_executemany(count: int, tmp: Path) -> dict[str, Any]:
    rows = emails_like_rows(count)
    runs = []
    for attempt in range(BASELINE_REPEATS):
        path = tmp / f"executemany-{attempt}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE emails (id VARCHAR(36) PRIMARY KEY, workspace_id VARCHAR(36) NOT NULL, "
            "message_id TEXT, subject TEXT NOT NULL, sent_at VARCHAR(40), from_address VARCHAR(320), "
            "in_reply_to TEXT, first_position BIGINT NOT NULL)"
        )
        conn.execute("CREATE INDEX ix_emails_workspace_sent ON emails (workspace_id, sent_at)")
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO emails VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        runs.append(time.perf_counter() - t0)
        conn.close()
    seconds = statistics.median(runs)
    return {
        "rows": count,
        "seconds": round(seconds, 4),
        "rows_per_s": round(count / seconds, 1),
        "runs_seconds": [round(r, 4) for r in runs],
        "row_bytes": round(sum(len(str(v)) for v in rows[0])),
        "sqlite": sqlite3.sqlite_version,
    }


def baseline_view_rows(sqlite_workdir: Path, tmp: Path) -> dict[str, Any]:
    """The floor of a SQLite replay: the very rows the replay writes into the bulk tables
    (read back from the imported store), loaded by `executemany` into a fresh migrated store
    with the replay's pragmas and its secondary indexes built after, with no Python work
    per event. Median of BASELINE_REPEATS."""
    from adapters.migrations import upgrade
    from adapters.persistence import StoreConfig

    try:
        from adapters.bulk.indexes import BULK_TABLES
    except ImportError:  # --rev: a tree before adapters/bulk/
        from projections.rebuild import BULK_TABLES  # type: ignore[attr-defined, no-redef]

    live = sqlite3.connect(sqlite_workdir / "var" / "mailtrail.db")
    rows = {t: live.execute(f'SELECT * FROM "{t}"').fetchall() for t in sorted(BULK_TABLES)}
    live.close()
    runs = []
    for attempt in range(BASELINE_REPEATS):
        path = tmp / f"view-rows-{attempt}.db"
        engine = StoreConfig(f"sqlite:///{path}").view_engine(scratch=True)
        upgrade(engine)
        engine.dispose()
        conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-65536"):
            conn.execute(f"PRAGMA {pragma}")
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
            f"({', '.join('?' * len(rows))})",
            sorted(rows),
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        for table, values in rows.items():
            conn.executemany(f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(values[0]))})', values)
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        runs.append(time.perf_counter() - t0)
        conn.close()
    seconds = statistics.median(runs)
    count = sum(len(v) for v in rows.values())
    return {
        "rows": count,
        "rows_by_table": {t: len(v) for t, v in rows.items()},
        "seconds": round(seconds, 4),
        "rows_per_s": round(count / seconds, 1),
        "runs_seconds": [round(r, 4) for r in runs],
    }


def baseline_es_batch_save(count: int, tmp: Path) -> dict[str, Any]:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Thing(Aggregate):
        @event("Created")
        def __init__(self, n: int) -> None:
            self.n = n

    runs = []
    for attempt in range(BASELINE_REPEATS):
        path = tmp / f"es-{attempt}.db"
        app: Application[Any] = Application(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(path),
            }
        )
        things = [Thing(n) for n in range(count)]
        t0 = time.perf_counter()
        for start in range(0, count, ES_BATCH):
            app.save(*things[start : start + ES_BATCH])
        runs.append(time.perf_counter() - t0)
        assert app.recorder.max_notification_id() == count
        app.close()
    seconds = statistics.median(runs)
    return {
        "events": count,
        "batch": ES_BATCH,
        "seconds": round(seconds, 4),
        "events_per_s": round(count / seconds, 1),
        "runs_seconds": [round(r, 4) for r in runs],
    }


# --------------------------------------------------------------------------- profiling


def _store_with_upload_mailbox(url: str) -> tuple[Any, str]:
    """An in-process runtime on `url` with Alice's workspace and her upload mailbox."""
    from api.runtime import Runtime

    rt = Runtime.open(_settings(url))
    if hasattr(rt, "services"):
        ws_id, member_id, _ = rt.services.workspaces.create_workspace("Acme", DOMAIN, "Alice", OWNER, "free")
    else:  # --rev: a tree before the services of issue 13
        ws_id, member_id = rt.app.create_workspace("Acme", DOMAIN, "Alice", OWNER, "free")
    mid = _register_upload(rt, ws_id, member_id)
    rt.catch_up()
    return rt, mid


def import_phases(maildir: Path, tmp: Path) -> dict[str, Any]:
    """An in-process SQLite import without the profiler, timed per phase (wall seconds)."""
    from adapters.mailfiles import read_messages
    from adapters.mime import parse_message

    try:
        from application.batch_recorder import BatchRecorder
        from application.services.ingest import batches, import_batches
    except ImportError:  # --rev: a tree before issue 13's names
        from application.importing import batches, import_batches  # type: ignore[no-redef]
        from application.sync import Syncer as BatchRecorder  # type: ignore[no-redef]

    spent = {"read": 0.0, "parse": 0.0, "record": 0.0, "catch_up": 0.0}

    def timed_read() -> Any:
        it = iter(read_messages(maildir))
        while True:
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                spent["read"] += time.perf_counter() - t0
            yield item

    def timed_parse(raw: bytes) -> Any:
        t0 = time.perf_counter()
        try:
            return parse_message(raw)
        finally:
            spent["parse"] += time.perf_counter() - t0

    url = f"sqlite:///{tmp / 'phases' / 'var' / 'mailtrail.db'}"
    rt, mid = _store_with_upload_mailbox(url)
    try:
        syncer = BatchRecorder(rt.app, mid)
        record = syncer.record

        def timed_record(*a: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return record(*a)
            finally:
                spent["record"] += time.perf_counter() - t0

        syncer.record = timed_record  # type: ignore[method-assign]
        t0 = time.perf_counter()
        totals = import_batches(syncer, batches(timed_read(), timed_parse))
        t1 = time.perf_counter()
        rt.runner.catch_up()
        spent["catch_up"] = time.perf_counter() - t1
        total = time.perf_counter() - t0
    finally:
        rt.close()
    spent["other"] = total - sum(spent.values())
    return {
        "messages": totals.seen,
        "total_seconds": round(total, 3),
        "msg_per_s": round(totals.seen / total, 1),
        "seconds": {k: round(v, 3) for k, v in spent.items()},
        "share": {k: round(v / total, 3) for k, v in spent.items()},
    }


def profile_sqlite(maildir: Path, tmp: Path, out_dir: Path) -> dict[str, Any]:
    """cProfile an in-process import (parse+record, then view catch-up) and a replay."""
    import cProfile

    from adapters.mailfiles import read_messages
    from adapters.mime import parse_message

    try:
        from application.batch_recorder import BatchRecorder
        from application.services.ingest import batches, import_batches
    except ImportError:  # --rev: a tree before issue 13's names
        from application.importing import batches, import_batches  # type: ignore[no-redef]
        from application.sync import Syncer as BatchRecorder  # type: ignore[no-redef]

    url = f"sqlite:///{tmp / 'profile' / 'var' / 'mailtrail.db'}"
    rt, mid = _store_with_upload_mailbox(url)
    try:
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.enable()
        import_batches(BatchRecorder(rt.app, mid), batches(read_messages(maildir), parse_message))
        t1 = time.perf_counter()
        rt.runner.catch_up()
        profiler.disable()
        t2 = time.perf_counter()
    finally:
        rt.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(out_dir / "profile_import.pstats")
    replay_stats = out_dir / "profile_replay.pstats"
    rep = replay_in_process(url, profile_to=replay_stats)
    return {
        "import": write_profile_report(
            out_dir / "profile_import.pstats",
            out_dir / "profile_import.txt",
            {"record_seconds": t1 - t0, "catch_up_seconds": t2 - t1},
        ),
        "replay": write_profile_report(
            replay_stats, out_dir / "profile_replay.txt", {"catch_up_seconds": rep["seconds"]}
        ),
    }


def write_profile_report(stats_path: Path, report: Path, phases: dict[str, float]) -> dict[str, Any]:
    import io
    import pstats

    stats = pstats.Stats(str(stats_path))
    total = stats.total_tt  # type: ignore[attr-defined]
    buf = io.StringIO()
    buf.write(
        "phases (wall, under the profiler): " + ", ".join(f"{k}={v:.2f}s" for k, v in phases.items()) + "\n"
    )
    buf.write(f"total profiled time {total:.2f}s\n\n")
    for order in ("cumulative", "tottime"):
        s = pstats.Stats(str(stats_path), stream=buf)
        s.sort_stats(order).print_stats(45)
    report.write_text(buf.getvalue())
    top = []
    for (file, line, func), (cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        top.append(
            {
                "function": f"{_short(file)}:{line}({func})",
                "calls": nc,
                "tottime": round(tt, 3),
                "cumtime": round(ct, 3),
                "share": round(ct / total, 3),
            }
        )
    by_cum = sorted(top, key=lambda r: -r["cumtime"])[:40]
    by_tot = sorted(top, key=lambda r: -r["tottime"])[:25]
    return {
        "total_seconds": round(total, 3),
        "phases": {k: round(v, 3) for k, v in phases.items()},
        "top_cumulative": by_cum,
        "top_tottime": by_tot,
        "report": _display(report),
    }


def _display(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _worktree_source() -> dict[str, Any]:
    def git(*a: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *a], capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "rev": "working tree",
        "head": git("rev-parse", "HEAD"),
        "modified_files": len(git("status", "--porcelain", "--untracked-files=no").splitlines()),
    }


def _short(file: str) -> str:
    for marker in ("site-packages/", str(SRC) + "/", str(ROOT) + "/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


# --------------------------------------------------------------------------- report


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 10:
        return f"{value:.2f}{unit}"
    if isinstance(value, (int, float)):
        return f"{value:,.0f}{unit}"
    return str(value)


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    em = result["baselines"]["executemany"]["rows_per_s"]
    es = result["baselines"]["es_batch_save"]["events_per_s"]
    out: dict[str, Any] = {}
    for name, b in result["backends"].items():
        out[name] = {
            "import_vs_executemany": round(b["import"]["msg_per_s"] / em, 4),
            "import_vs_es_batch_save": round(b["import"]["msg_per_s"] / es, 4),
            "replay_cli_vs_executemany": round(b["replay_cli"]["events_per_s"] / em, 4),
            "replay_in_process_vs_executemany": round(b["replay_in_process"]["events_per_s"] / em, 4),
        }
        if b.get("replay_writer_in_process"):
            out[name]["replay_vs_writer_in_process"] = round(
                b["replay_in_process"]["events_per_s"] / b["replay_writer_in_process"]["events_per_s"], 3
            )
    floor = result["baselines"].get("view_rows")
    if floor and "sqlite" in out:  # how much of the SQLite replay is writing its rows at all
        out["sqlite"]["view_rows_floor_share_of_replay"] = round(
            floor["seconds"] / result["backends"]["sqlite"]["replay_in_process"]["seconds"], 3
        )
    return out


def verdicts(result: dict[str, Any]) -> dict[str, Any]:
    backends = result["backends"]
    out: dict[str, Any] = {}
    if "sqlite" in backends:
        s = backends["sqlite"]
        out["import_msg_per_s_sqlite"] = s["import"]["msg_per_s"] >= TARGETS["import_msg_per_s_sqlite"]
        out["replay_events_per_s_sqlite"] = (
            s["replay_in_process"]["events_per_s"] >= TARGETS["replay_events_per_s_sqlite"]
        )
    if "postgres" in backends:
        p = backends["postgres"]
        out["replay_events_per_s_postgres"] = (
            p["replay_in_process"]["events_per_s"] >= TARGETS["replay_events_per_s_postgres"]
        )
    for key in ("peak_rss_mb", "tree_peak_rss_mb"):
        rss = [b["import"].get(key) for b in backends.values() if b["import"].get(key)]
        if rss:
            out[f"import_{key}"] = max(rss) < TARGETS["import_peak_rss_mb"]
    return out


def table(result: dict[str, Any]) -> str:
    b = result["backends"]
    s, p = b.get("sqlite"), b.get("postgres")
    ok = result["meets_target"]

    def mark(key: str) -> str:
        return "" if key not in ok else ("  ok" if ok[key] else "  MISS")

    rows: list[tuple[str, str, str, str]] = [("metric", "SQLite", "PostgreSQL", "target")]

    def add(label: str, get: Any, target: str = "", unit: str = "") -> None:
        rows.append((label, fmt(get(s), unit) if s else "-", fmt(get(p), unit) if p else "-", target))

    add(
        "import msg/s (CLI, end to end)",
        lambda x: x["import"]["msg_per_s"],
        f">= 1,000 (SQLite){mark('import_msg_per_s_sqlite')}",
    )
    add(
        "import seconds (wall / CPU)",
        lambda x: f"{x['import']['wall_seconds']:.1f} / {x['import']['cpu_seconds']:.1f} s",
    )
    add(
        "import msg per CPU-second",
        lambda x: x["import"]["messages"] / x["import"]["cpu_seconds"],
        "(robust to a busy machine)",
    )
    add(
        "import peak RSS (largest process)",
        lambda x: x["import"]["peak_rss_mb"],
        f"< 300 MB{mark('import_peak_rss_mb')}",
        " MB",
    )
    add(
        "import peak RSS (process tree, sampled)",
        lambda x: x["import"].get("tree_peak_rss_mb"),
        f"< 300 MB{mark('import_tree_peak_rss_mb')}",
        " MB",
    )
    add("events after import", lambda x: x["events"])
    add(
        "replay events/s (in-process rebuild, median of 3)",
        lambda x: x["replay_in_process"]["events_per_s"],
        f">= 20,000 / 10,000{mark('replay_events_per_s_sqlite')}{mark('replay_events_per_s_postgres')}",
    )
    add(
        "  the same, writer in this process (no loader)",
        lambda x: (x.get("replay_writer_in_process") or {}).get("events_per_s"),
        "(SQLite: before the loader)",
    )
    add(
        "replay events/s (`mailtrail replay`)",
        lambda x: x["replay_cli"]["events_per_s"],
        "(+ start-up, 2 digests: not the rate)",
    )
    add(
        "replay seconds (in-process / CLI)",
        lambda x: f"{x['replay_in_process']['seconds']:.1f} / {x['replay_cli']['wall_seconds']:.1f} s",
    )
    add("replay in-process CPU seconds", lambda x: x["replay_in_process"]["cpu_seconds"], "", " s")
    add("view_digest of one store", lambda x: x["replay_in_process"].get("view_digest_seconds"), "", " s")
    add(
        "load avg (1 min) before import", lambda x: x["import"]["loadavg_1m_before"], f"{os.cpu_count()} CPUs"
    )
    r = result["ratios"]
    for key, label in (
        ("import_vs_executemany", "ratio import ÷ executemany"),
        ("import_vs_es_batch_save", "ratio import ÷ es batch save"),
        ("replay_in_process_vs_executemany", "ratio replay(in-proc) ÷ executemany"),
        ("replay_cli_vs_executemany", "ratio replay(CLI) ÷ executemany"),
        ("replay_vs_writer_in_process", "ratio replay ÷ writer in this process"),
    ):
        rows.append(
            (
                label,
                f"{r['sqlite'][key]:.4f}" if key in r.get("sqlite", {}) else "-",
                f"{r['postgres'][key]:.4f}" if key in r.get("postgres", {}) else "-",
                "",
            )
        )
    bl = result["baselines"]
    rows.append(("baseline sqlite executemany rows/s", fmt(bl["executemany"]["rows_per_s"]), "", ""))
    rows.append(("baseline es batch save events/s", fmt(bl["es_batch_save"]["events_per_s"]), "", ""))
    if "view_rows" in bl:
        vr = bl["view_rows"]
        rows.append(
            (
                "baseline replay's rows, executemany+index",
                f"{vr['seconds']:.2f} s",
                "",
                f"{vr['rows']:,} rows, {vr['rows_per_s']:,.0f} rows/s",
            )
        )
        share = r.get("sqlite", {}).get("view_rows_floor_share_of_replay")
        if share is not None:
            rows.append(("  ÷ replay seconds (in-process)", f"{share:.2f}", "", "floor share of the replay"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for i, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(widths[j]) if j in (0, 3) else c.rjust(widths[j]) for j, c in enumerate(row)
            ).rstrip()
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def prepare_source(rev: str | None, tmp: Path) -> str | None:
    """Point SRC at the code to benchmark; returns the commit for a git revision."""
    global SRC
    revision = None
    if rev == "snapshot":  # a copy of the working tree as it is now (tracked + untracked files)
        SRC = tmp / "src"
        files = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split("\0")
        for name in filter(None, files):
            source = ROOT / name
            if source.is_file() and not name.startswith(("bench/out/", ".venv/")):
                (SRC / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, SRC / name)
        log(f"benchmarking a snapshot of the working tree in {SRC}")
    elif rev:
        revision = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", rev], check=True, capture_output=True, text=True
        ).stdout.strip()
        SRC = tmp / "src"
        SRC.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(SRC)], input=archive, check=True)
        log(f"benchmarking {rev} = {revision[:12]} from {SRC}")
    return revision


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20000, help="messages in the corpus (default 20000)")
    ap.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (corpus, databases, logs)")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile an in-process SQLite import and replay (profile_*.txt beside --out)",
    )
    ap.add_argument(
        "--rev",
        help="benchmark this git revision (e.g. HEAD), exported to the temp dir, or "
        "'snapshot': a copy of the working tree taken at the start, instead of "
        "the live working tree (which others may be editing during the run)",
    )
    ap.add_argument("--out", type=Path, default=OUT_DIR / "import.json")
    args = ap.parse_args(argv)

    if not MAILTRAIL.exists():
        ap.error(f"{MAILTRAIL} not found: install the project into .venv first")
    tmp = Path(tempfile.mkdtemp(prefix="mailtrail-bench-"))
    log(f"working in {tmp}")
    args.out = args.out.resolve()
    os.chdir(tmp)  # anything the project writes relative to the cwd (e.g. var/) lands in the temp dir
    try:
        revision = prepare_source(args.rev, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    sys.path.insert(0, str(SRC))
    server = None
    pg_url = None
    started = time.perf_counter()
    result: dict[str, Any] = {
        "command": "python bench/bench_import.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "count": args.count,
        "seed": SEED,
        "source": (
            {"rev": args.rev, "commit": revision}
            if revision
            else {**_worktree_source(), "rev": args.rev or "working tree"}
        ),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "sqlite": sqlite3.sqlite_version,
        },
        "targets": TARGETS,
        "backends": {},
    }
    try:
        log(f"writing the corpus ({args.count} messages)")
        maildir = tmp / "maildir"
        result["corpus"] = make_corpus(maildir, args.count)

        log("baselines")
        result["baselines"] = {
            "executemany": baseline_executemany(args.count, tmp),
            "es_batch_save": baseline_es_batch_save(args.count, tmp),
        }

        work = tmp / "sqlite"
        sqlite_url = f"sqlite:///{work / 'var' / 'mailtrail.db'}"
        result["backends"]["sqlite"] = bench_backend("sqlite", sqlite_url, maildir, args.count, work)
        log("baseline: the replay's own rows loaded with executemany, indexes after")
        result["baselines"]["view_rows"] = baseline_view_rows(work, tmp)

        if not args.skip_postgres:
            from tests.support.postgres import ENV_URL, PostgresServer, drop_database, fresh_database

            server_url = os.environ.get(ENV_URL)
            if not server_url:
                log("starting a private PostgreSQL server")
                server = PostgresServer()
                server.start()
                server_url = server.url
            pg_url = fresh_database(server_url, "mailtrail_bench")
            result["backends"]["postgres"] = bench_backend(
                "postgres", pg_url, maildir, args.count, tmp / "postgres"
            )
            if server is None and not args.keep:
                drop_database(pg_url)

        if args.profile:
            log("timing the phases of an in-process SQLite import")
            result["import_phases"] = import_phases(maildir, tmp)
            log("profiling the SQLite import and replay in-process")
            result["profile"] = profile_sqlite(maildir, tmp, args.out.parent)

        result["ratios"] = ratios(result)
        result["meets_target"] = verdicts(result)
        result["total_seconds"] = round(time.perf_counter() - started, 1)
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"mailtrail import/replay benchmark: {args.count} messages, seed {SEED}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    print(table(result))
    if "import_phases" in result:
        ph = result["import_phases"]
        print(
            f"\nin-process SQLite import, no profiler: {ph['total_seconds']:.1f}s = "
            f"{ph['msg_per_s']:,.0f} msg/s; "
            + ", ".join(f"{k} {v:.1f}s ({ph['share'][k]:.0%})" for k, v in ph["seconds"].items())
        )
    if "profile" in result:
        for phase in ("import", "replay"):
            prof = result["profile"][phase]
            print(
                f"\ntop {phase} hotspots by cumulative time (profiled {prof['total_seconds']:.1f}s; "
                f"full report {prof['report']}):"
            )
            for row in prof["top_cumulative"][:12]:
                print(f"  {row['cumtime']:8.2f}s {row['share']:6.1%}  {row['function']}")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
