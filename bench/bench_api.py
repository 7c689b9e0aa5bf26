"""Read throughput of the HTTP API at 20,000 to 1,000,000 messages, beside a bare FastAPI app.

    .venv/bin/python bench/bench_api.py [--sizes 20000,200000,1000000] [--backends sqlite,postgresql]
        [--duration 10] [--connections 8,32] [--workers N] [--deep-page 100] [--keep DIR | --store DIR]
        [--build-only] [--reproject auto|always|never] [--build-workers N] [--clone-sqlite] [--postgres-url URL]
        [--out bench/out/api.json] | --report JSON...

For each backend and size: the store (bench/api_store.py: 50 members with a mailbox each, about
20,000 people over 3,000 companies; built, or reused from --store DIR, its views rebuilt from its
events when the migration head changed), `mailtrail serve --workers N` on it, and wrk (Debian
package `wrk`; `make wrk` installs it) at each connection count against first and deep pages (the
`next` cursor followed to page --deep-page) of /people, /companies and /emails, the busiest
person's, company's and a lead's emails, /people/{id}, its intelligence and /people sorted by
strength and by last interaction; right before, the bare app (bench/bare_app.py: a 50-item page of
the same shape, under uvicorn with the same worker count) at the same connection counts. Prints
req/s, p50, p99, the ratio to the bare app's req/s, the load average, a verdict per row against
issue 12's targets, and the growth of p50 from the smallest size to the largest; writes JSON. See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx

from bench.api_store import build, clone, code_version, load_manifest, reproject, save_manifest
from tests.support.postgres import PostgresServer, find_postgres_bindir, free_port

MAILTRAIL = ROOT / ".venv" / "bin" / "mailtrail"
PYTHON = ROOT / ".venv" / "bin" / "python"
OUT = ROOT / "bench" / "out" / "api.json"
START_TIMEOUT_S = 600
LIMIT = 50


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class KeptPostgres(PostgresServer):
    """A private PostgreSQL whose data directory stays in `home` between runs (tests.support.postgres
    makes and removes a temporary one)."""

    def __init__(self, home: Path) -> None:
        super().__init__()
        self.home = home

    def start(self) -> None:
        self.bindir = find_postgres_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.tmpdir = self.home
        self.home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.home, pw.pw_uid, pw.pw_gid)
        if not (self.datadir / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            )
            with open(self.datadir / "postgresql.conf", "a") as conf:
                conf.write(
                    f"\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.home}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 300\nshared_buffers = 256MB\nlog_min_messages = warning\n"
                )
        if (self.datadir / "postmaster.pid").exists():  # left running by an interrupted run
            self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w", check=False)
        self.logfile.unlink(missing_ok=True)  # a FATAL of an earlier run's log would read as this start's
        self.port = free_port()
        self._run(
            "pg_ctl", "start", "-W", "-D", str(self.datadir), "-l", str(self.logfile), "-o", f"-p {self.port}"
        )
        if not self._wait_ready():
            raise RuntimeError(f"PostgreSQL did not start in {self.home}")

    def stop(self) -> None:
        if self.tmpdir is not None and (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w", check=False)
        self.tmpdir = None


def create_database(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


class Bar:
    """A progress bar (rich) on a terminal; elsewhere (a log file) a line every 5%, with the rate."""

    def __init__(self, label: str, total: int, unit: str) -> None:
        self.label, self.total, self.unit, self.done = label, total, unit, 0
        self.started = time.perf_counter()
        self._rich: Any = None
        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._rich = Progress(
                TextColumn(label),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(unit),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._rich.start()
            self._task = self._rich.add_task(label, total=total)

    def start(self, total: int) -> None:
        """The phase starts now, with `total` units (a bar is made before its phase starts)."""
        self.total, self.started = total, time.perf_counter()
        if self._rich is not None:
            self._rich.reset(self._task, total=total)

    def __call__(self, n: int) -> None:
        before, self.done = self.done, self.done + n
        if self._rich is not None:
            self._rich.update(self._task, advance=n)
        elif self.total and before * 20 // self.total != self.done * 20 // self.total:
            elapsed = time.perf_counter() - self.started
            rate = self.done / elapsed if elapsed else 0
            left = (self.total - self.done) / rate if rate else 0
            log(
                f"  {self.label}: {self.done:,} of {self.total:,} {self.unit} ({rate:,.0f}/s, ~{left / 60:.0f} min left)"
            )

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()


def store_url(backend: str, size: int, directory: Path, server_url: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{directory / 'mailtrail.db'}"
    assert server_url is not None  # the server's port changes from run to run
    return create_database(server_url, f"mailtrail_bench_{size}")


def discard_unfinished(backend: str, directory: Path, url: str) -> None:
    """A store without its manifest is what an interrupted build left: start it again from empty."""
    if backend == "sqlite":
        leftovers = [
            f for f in directory.iterdir() if f.name.startswith("mailtrail.db") or f.name == "master.key"
        ]
        for file in leftovers:
            file.unlink()
        if leftovers:
            log(f"removed an unfinished build in {directory}")
        return
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def store_for(
    backend: str,
    size: int,
    home: Path,
    server_url: str | None,
    reproject_views: str = "auto",
    workers: int | None = None,
    clone_sqlite: bool = False,
) -> dict[str, Any]:
    """The manifest of the store (built now unless `home` holds it). A kept store's views are rebuilt
    from its events by the code checked out now when `reproject_views` is "always", or when "auto"
    and the migration head differs from the one that built them (the read side changed its tables).
    With `clone_sqlite`, a PostgreSQL store is cloned from the kept SQLite store of the same size
    when there is one (bench.api_store.clone: its events saved again, not its mail recorded again)."""
    directory = home / f"{backend}-{size}"
    directory.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(directory)
    url = store_url(backend, size, directory, server_url)
    if manifest is not None:
        manifest = {**manifest, "url": url}
        built_by = manifest.get("views", {}).get("code", {})
        now = code_version()
        stale = built_by.get("alembic_head") != now["alembic_head"]
        log(
            f"reusing the {backend} store of {size:,} messages in {directory} (views built by {built_by or 'an older builder'})"
        )
        if manifest.get("master_key_lost") and (reproject_views == "always" or stale):
            log(f"not rebuilding its views: {manifest['master_key_lost']}")
        elif reproject_views == "always" or (reproject_views == "auto" and stale):
            log(f"rebuilding its views from its {manifest['events']:,} events with {now}")
            bar = Bar("views", manifest["events"], "events")
            try:
                manifest = reproject(manifest, bar)
            finally:
                bar.close()
            log(
                f"views rebuilt: {manifest['views']['seconds']} ({manifest['views']['events_per_s']:,} events/s)"
            )
            save_manifest(directory, manifest)
        return {**manifest, "dir": str(directory)}
    discard_unfinished(backend, directory, url)
    source = load_manifest(home / f"sqlite-{size}") if backend == "postgresql" and clone_sqlite else None
    if source is not None:
        source = {**source, "url": f"sqlite:///{home / f'sqlite-{size}' / 'mailtrail.db'}"}
        log(f"cloning the sqlite store of {size:,} messages into {directory} (its events, then the views)")
        copied, views = Bar("clone", source["events"], "events"), Bar("views", source["events"], "events")
        try:
            manifest = clone(source, url, copied, views)
        finally:
            copied.close()
            views.close()
        save_manifest(directory, manifest)
        log(
            f"cloned: {manifest['events']:,} events; seconds {manifest['seconds']} "
            f"({manifest['clone_events_per_s']:,} events/s saved, views at {manifest['views']['events_per_s']:,} events/s)"
        )
        return {**manifest, "dir": str(directory)}
    log(f"building the {backend} store of {size:,} messages in {directory}")
    imported, views = Bar("import", size, "messages"), Bar("views", int(size * 3), "events")
    try:
        manifest = build(url, size, imported, workers=workers, views_progress=views)
    finally:
        imported.close()
        views.close()
    save_manifest(directory, manifest)
    log(
        f"built: {manifest['events']:,} events, {manifest['people_addresses']:,} people addresses, "
        f"{manifest['companies']:,} companies; seconds {manifest['seconds']} ({manifest['import_per_s']:,} msg/s "
        f"imported, views at {manifest['views']['events_per_s']:,} events/s)"
    )
    return {**manifest, "dir": str(directory)}


@contextmanager
def serving(
    command: list[str], env: dict[str, str], cwd: Path, workers: int, log_path: Path
) -> Iterator[None]:
    """A server (mailtrail serve, or uvicorn for the bare app) until every worker has started."""
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while log_path.read_text().count("Application startup complete") < workers:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
            yield
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def benchmarked_paths(manifest: dict[str, Any]) -> dict[str, str]:
    """The first pages and records every run measures (deep pages are found from these)."""
    person, company, lead = manifest["person_id"], manifest["company_id"], manifest["lead_id"]
    return {
        "people": f"/people?limit={LIMIT}",
        "companies": f"/companies?limit={LIMIT}",
        "emails": f"/emails?limit={LIMIT}",
        "person_emails": f"/people/{person}/emails?limit={LIMIT}",
        "company_emails": f"/companies/{company}/emails?limit={LIMIT}",
        "lead_emails": f"/leads/{lead}/emails?limit={LIMIT}",
        "person": f"/people/{person}",
        "person_intelligence": f"/people/{person}/intelligence",
        "people_by_strength": f"/people?limit={LIMIT}&sort=strength",
        "people_by_last_interaction": f"/people?limit={LIMIT}&sort=last_interaction",
    }


def endpoints(
    base: str, headers: dict[str, str], manifest: dict[str, Any], deep: int
) -> dict[str, dict[str, Any]]:
    """Each benchmarked path, fetched once (status and time of one request); deep pages by cursor."""
    paths = benchmarked_paths(manifest)
    found: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        for name, path in list(paths.items()):
            started = time.perf_counter()
            response = client.get(path)
            found[name] = {
                "path": path,
                "status": response.status_code,
                "one_request_s": round(time.perf_counter() - started, 4),
            }
            if response.status_code != 200:
                log(f"  {path}: {response.status_code} {response.text[:200]}")
            if name in ("people", "companies", "emails") and response.status_code == 200:
                cursor, page = response.json().get("next"), 1
                while cursor and page + 1 < deep:  # the cursor in hand opens page + 1
                    following = client.get(f"{path}&cursor={quote(cursor)}")
                    if following.status_code != 200 or not following.json().get("next"):
                        break
                    cursor, page = following.json()["next"], page + 1
                if cursor:
                    deep_path = f"{path}&cursor={quote(cursor)}"
                    started = time.perf_counter()
                    status = client.get(deep_path).status_code
                    found[f"{name}_deep"] = {
                        "path": deep_path,
                        "status": status,
                        "page": page + 1,
                        "one_request_s": round(time.perf_counter() - started, 4),
                    }
    return found


# Issue 12's targets, at the largest store (1,000,000 messages) and 8 connections, on each backend.
PAGES = (
    "people",
    "people_deep",
    "companies",
    "companies_deep",
    "emails",
    "emails_deep",
    "person_emails",
    "company_emails",
    "lead_emails",
)  # list and record-email pages
PAGE_RATIO, OTHER_RATIO, P99_MS, GROWTH = 0.5, 0.3, 50.0, 1.5
TARGET_SIZE, TARGET_CONNECTIONS = 1_000_000, 8


def ratio_target(name: str) -> float:
    return PAGE_RATIO if name in PAGES else OTHER_RATIO


def verdict(name: str, figures: dict[str, Any]) -> str:
    """`ok` or what misses: the ratio to the bare app (>= 0.5x for pages, 0.3x for the rest), the
    p99 (<= 50 ms, a quiet-machine target), any error."""
    missing = []
    ratio = figures.get("ratio_to_bare") or 0
    if ratio < ratio_target(name):
        missing.append(f"x{ratio_target(name)}")
    if figures.get("p99_ms") is None or figures["p99_ms"] > P99_MS:
        missing.append("p99")
    if figures["non_2xx"] or figures["timeouts"]:
        missing.append("errors")
    return "ok" if not missing else "FAIL " + ",".join(missing)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return round(float(number) * _UNITS[unit], 3)


def wrk(url: str, token: str, connections: int, duration: float, work: Path) -> dict[str, Any]:
    script = work / "auth.lua"
    script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    threads = max(1, min(connections, os.cpu_count() or 1))
    proc = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(duration))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = proc.stdout
    result: dict[str, Any] = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        found = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.MULTILINE)
        result[f"p{pct}_ms"] = _ms(found.group(1)) if found and result["requests_per_s"] else None
    requests = re.search(r"(\d+) requests in", out)
    result["requests"] = int(requests.group(1)) if requests else 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    timeouts = re.search(r"timeout (\d+)", out)
    result["timeouts"] = int(timeouts.group(1)) if timeouts else 0
    return result


def settle(base: str, headers: dict[str, str], path: str, quick_s: float, limit_s: float = 60) -> float:
    """Wait until the server has worked off what a run left it (requests wrk gave up on are still
    being answered): two cheap requests on fresh connections both answer within 5x `quick_s`."""
    started = time.monotonic()
    threshold = max(0.5, 5 * quick_s)
    while time.monotonic() - started < limit_s:
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            httpx.get(base + path, headers=headers, timeout=limit_s)
            times.append(time.perf_counter() - t0)
        if max(times) < threshold:
            break
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def run_bare(workers: int, connections: list[int], duration: float, work: Path) -> dict[int, dict[str, Any]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        str(PYTHON),
        "-m",
        "uvicorn",
        "bench.bare_app:create_app",
        "--factory",
        "--workers",
        str(workers),
        "--port",
        str(port),
        "--timeout-worker-healthcheck",
        "30",
    ]
    with serving(command, env, ROOT, workers, work / "bare.log"):
        return {c: wrk(f"http://127.0.0.1:{port}/people", "bare", c, duration, work) for c in connections}


def run_store(manifest: dict[str, Any], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILTRAIL_")}
    env.update({"MAILTRAIL_DATABASE_URL": manifest["url"], "MAILTRAIL_MASTER_KEY": manifest["master_key"]})
    base = f"http://127.0.0.1:{port}"
    command = [str(MAILTRAIL), "serve", "--workers", str(args.workers), "--port", str(port)]
    with serving(command, env, Path(manifest["dir"]), args.workers, work / "serve.log"):
        headers = {"Authorization": f"Bearer {manifest['token']}"}
        found = endpoints(base, headers, manifest, args.deep_page)
        quick = found["person"]
        for name, entry in found.items():
            entry["load"] = {}
            for c in args.connections:
                entry["load"][c] = figures = wrk(
                    base + entry["path"], manifest["token"], c, args.duration, work
                )
                figures["load_1m"] = round(os.getloadavg()[0], 2)  # the load average right after wrk
                figures["settle_s"] = settle(base, headers, quick["path"], quick["one_request_s"])
                log(
                    f"  {name} at {c}: {figures['requests_per_s']:.1f} req/s (settled in {figures['settle_s']} s)"
                )
    return found


def summarise(result: dict[str, Any]) -> None:
    """Ratios to the bare app (same backend, size and connections), each row's verdict, the p50
    growth from the smallest size to the largest, and issue 12's targets at the largest size."""
    result["p50_growth"], result["targets"] = {}, {}
    for backend, sizes in result["backends"].items():
        ordered = sorted(sizes, key=int)
        for size in ordered:
            run = sizes[size]
            for name, entry in run["endpoints"].items():
                for c, figures in entry["load"].items():
                    bare = run["bare"][c]["requests_per_s"]
                    figures["ratio_to_bare"] = round(figures["requests_per_s"] / bare, 4) if bare else None
                    figures["verdict"] = verdict(name, figures)
        if not ordered:
            continue
        small, large = sizes[ordered[0]]["endpoints"], sizes[ordered[-1]]["endpoints"]
        growth: dict[str, Any] = {}
        relative: dict[
            str, Any
        ] = {}  # the same, each p50 over the bare app's p50 of its own run: less load-bound
        if len(ordered) > 1:
            bare_small, bare_large = sizes[ordered[0]]["bare"], sizes[ordered[-1]]["bare"]
            for name in small:
                if name in large:
                    for c in small[name]["load"]:
                        a, b = small[name]["load"][c]["p50_ms"], large[name]["load"].get(c, {}).get("p50_ms")
                        growth[f"{name}@{c}"] = round(b / a, 2) if a and b else None
                        ba, bb = bare_small.get(c, {}).get("p50_ms"), bare_large.get(c, {}).get("p50_ms")
                        relative[f"{name}@{c}"] = (
                            round((b / bb) / (a / ba), 2) if a and b and ba and bb else None
                        )
            result["p50_growth"][backend] = {
                "from": int(ordered[0]),
                "to": int(ordered[-1]),
                "by_endpoint": growth,
                "relative_to_bare": relative,
            }
        c = TARGET_CONNECTIONS if TARGET_CONNECTIONS in next(iter(large.values()))["load"] else None
        rows = {}
        for name, entry in large.items():
            figures = entry["load"].get(c) if c is not None else None
            if figures is None:
                continue
            g = growth.get(f"{name}@{c}")
            rows[name] = {
                "ratio": figures["ratio_to_bare"],
                "ratio_target": ratio_target(name),
                "ratio_ok": (figures["ratio_to_bare"] or 0) >= ratio_target(name),
                "p99_ms": figures["p99_ms"],
                "p99_ok": figures["p99_ms"] is not None and figures["p99_ms"] <= P99_MS,
                "p50_growth": g,
                "growth_ok": None if len(ordered) < 2 else (g is not None and g <= GROWTH),
            }
        result["targets"][backend] = {
            "size": int(ordered[-1]),
            "connections": c,
            "final": int(ordered[-1]) >= TARGET_SIZE and len(ordered) > 1 and int(ordered[0]) <= 20_000,
            "rows": rows,
            "load_average": sizes[ordered[-1]]["load_average"],
        }


def table(result: dict[str, Any]) -> str:
    lines = []
    for backend, sizes in result["backends"].items():
        for size, run in sorted(sizes.items(), key=lambda kv: int(kv[0])):
            lines.append(f"\n{backend}, {int(size):,} messages (load average {run['load_average']}):")
            lines.append(
                f"{'endpoint':<27}{'conn':>5}{'req/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'x bare':>8}"
                f"{'errors':>7}{'1 req s':>9}{'load':>6}  verdict"
            )
            for c, bare in run["bare"].items():
                lines.append(
                    f"{'bare app':<27}{c:>5}{bare['requests_per_s']:>9.1f}{bare['p50_ms'] or 0:>10.2f}"
                    f"{bare['p99_ms'] or 0:>10.2f}{1:>8.2f}{0:>7}{'':>9}{'':>6}"
                )
            for name, entry in run["endpoints"].items():
                for c, f in entry["load"].items():
                    errors = f["non_2xx"] + f["timeouts"]
                    lines.append(
                        f"{name:<27}{c:>5}{f['requests_per_s']:>9.1f}{f['p50_ms'] or 0:>10.2f}"
                        f"{f['p99_ms'] or 0:>10.2f}{f['ratio_to_bare'] or 0:>8.3f}{errors:>7}"
                        f"{entry['one_request_s']:>9.3f}{f.get('load_1m', 0):>6.1f}  {f.get('verdict', '')}"
                    )
    for backend, growth in result["p50_growth"].items():
        lines.append(
            f"\n{backend}: p50 growth from {growth['from']:,} to {growth['to']:,} messages (target <= {GROWTH}x; "
            "`/bare`: each p50 over its run's bare-app p50, when the runs' loads differ)"
        )
        for key, value in growth["by_endpoint"].items():
            mark = "-" if value is None else ("ok" if value <= GROWTH else "FAIL")
            rel = growth.get("relative_to_bare", {}).get(key)
            lines.append(
                f"  {key:<32}{'-' if value is None else f'{value:.2f}x':>8}  {mark:<5}"
                f"{'-' if rel is None else f'{rel:.2f}x':>8} /bare"
            )
    for backend, target in result.get("targets", {}).items():
        head = (
            "issue 12 targets"
            if target["final"]
            else "issue 12 targets (provisional: not 20,000 -> 1,000,000)"
        )
        lines.append(
            f"\n{backend}: {head} at {target['size']:,} messages, {target['connections']} connections "
            f"(load average {target['load_average']}; p99 <= {P99_MS:.0f} ms holds on a quiet machine only)"
        )
        met = 0
        for name, row in target["rows"].items():
            ok = row["ratio_ok"] and row["growth_ok"] is not False
            met += ok
            g = "-" if row["p50_growth"] is None else f"{row['p50_growth']:.2f}x"
            g_ok = "-" if row["growth_ok"] is None else ("ok" if row["growth_ok"] else "FAIL")
            lines.append(
                f"  {name:<27} x bare {row['ratio'] or 0:.3f} (>= {row['ratio_target']}) "
                f"{'ok' if row['ratio_ok'] else 'FAIL'};  p50 growth {g} {g_ok};  "
                f"p99 {row['p99_ms'] or 0:.0f} ms {'ok' if row['p99_ok'] else 'over'}"
            )
        lines.append(f"  {met} of {len(target['rows'])} rows meet the ratio and growth targets")
    return "\n".join(lines)


def write(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


def report(paths: list[Path]) -> int:
    """The tables of earlier runs, merged by backend and size (a later file's figures win)."""
    merged: dict[str, Any] = {"backends": {}, "p50_growth": {}, "targets": {}}
    for path in paths:
        for backend, sizes in json.loads(path.read_text())["backends"].items():
            for size, run in sizes.items():
                run["endpoints"] = {
                    n: {**e, "load": {int(c): f for c, f in e["load"].items()}}
                    for n, e in run["endpoints"].items()
                }
                run["bare"] = {int(c): f for c, f in run["bare"].items()}
                merged["backends"].setdefault(backend, {})[int(size)] = run
    summarise(merged)
    print(table(merged))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20000,200000,1000000", help="messages per store, comma-separated")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument(
        "--duration", type=float, default=10.0, help="seconds of wrk per endpoint and connection count"
    )
    ap.add_argument("--connections", default="8,32")
    ap.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="uvicorn workers (default: CPUs)"
    )
    ap.add_argument(
        "--deep-page", type=int, default=100, help="follow `next` to this page for the deep pages"
    )
    ap.add_argument(
        "--build-only", action="store_true", help="build (or reproject) the stores, measure nothing"
    )
    ap.add_argument(
        "--reproject",
        choices=("auto", "always", "never"),
        default="auto",
        help="rebuild a kept store's views from its events with this code: always, never, or "
        "when the migration head differs from the one that built them (default)",
    )
    ap.add_argument(
        "--build-workers",
        type=int,
        help="processes generating and parsing mail while building (default: CPUs - 1, at least 1)",
    )
    ap.add_argument(
        "--clone-sqlite",
        action="store_true",
        help="build a missing PostgreSQL store from the kept SQLite store of the same size: its event "
        "log saved by the library's batch save, then the views (minutes, not an hour, at 1,000,000)",
    )
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--keep", type=Path, help="build the stores into DIR and keep them")
    where.add_argument("--store", type=Path, help="reuse the stores in DIR (building what is missing there)")
    ap.add_argument(
        "--postgres-url",
        help="a PostgreSQL server to create the stores' databases on "
        "(default: a private server whose data directory lives with the stores)",
    )
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--report",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="measure nothing: print the tables (and targets) of earlier runs' JSON, merged",
    )
    args = ap.parse_args(argv)
    if args.report:
        return report(args.report)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.connections = [int(c) for c in args.connections.split(",")]
    backends = args.backends.split(",")
    if shutil.which("wrk") is None and not args.build_only:
        print("wrk is not installed: apt-get install wrk (or `make bench-api`, which does)", file=sys.stderr)
        return 2
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "workers": args.workers,
        "duration_s": args.duration,
        "connections": args.connections,
        "sizes": args.sizes,
        "backends": {},
        "p50_growth": {},
        "stores": {},
    }
    with ExitStack() as stack:
        home = (
            args.store
            or args.keep
            or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mailtrail-bench-api-")))
        )
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mailtrail-bench-run-")))
        server_url = args.postgres_url
        if "postgresql" in backends and server_url is None:
            server = KeptPostgres(home / "postgresql")
            server.start()
            stack.callback(server.stop)
            server_url = server.url_for("postgres")
        for backend in backends:
            result["backends"][backend] = {}
            for size in args.sizes:
                manifest = store_for(
                    backend, size, home, server_url, args.reproject, args.build_workers, args.clone_sqlite
                )
                result["stores"].setdefault(backend, {})[size] = {
                    k: v for k, v in manifest.items() if k not in ("master_key", "token", "url")
                }
                if args.build_only:
                    write(result, args.out)
                    continue
                log(f"{backend} {size:,}: the bare app, then the store")
                load_before = os.getloadavg()
                bare = run_bare(args.workers, args.connections, args.duration, work)
                found = run_store(manifest, args, work)
                result["backends"][backend][size] = {
                    "store": {k: v for k, v in manifest.items() if k not in ("master_key", "token", "url")},
                    "load_average": [
                        round(load_before[0], 2),
                        round(os.getloadavg()[0], 2),
                    ],  # 1 min: before, after
                    "bare": bare,
                    "endpoints": found,
                }
                write(result, args.out)  # what is measured so far survives an interrupted run
    summarise(result)
    write(result, args.out)
    print(table(result))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
