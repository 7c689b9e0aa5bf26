"""The stores bench/bench_api.py drives: 50 members with a mailbox each, generated mail.

Each mailbox holds two streams of `adapters.mailgen` (its own seeds), their company domains
renamed per stream (`northwind-5.example` -> `northwind-5-17.example`): 60 domains x 50 suffixes
= 3,000 companies, each fed by two neighbouring members' mailboxes, and about 300 generated
people per stream (the free-mail ones shared between streams). Record creation is `all`, so every
external participant becomes a person. A manifest (`store.json`) beside the store keeps what a run
needs: the master key, a member's token, the busiest person and company and a lead.

Building records the events through the application's own batch import (`BatchRecorder.record`, what
`mailtrail import` runs: one atomic save per batch of up to 1,000 messages), with the mail
generated and parsed in worker processes, and applies no event to the views on the way. The views
are then built from the log in one pass by the replay's bulk rebuild (`adapters.bulk.rebuild_store`, what
`mailtrail replay` and `POST /audit/replay` run), directly into the store: the same rows the live
runner would have written (the project's replay invariant: equal digests), in a fraction of the
time, because the live runner keeps every index up to date page by page. `reproject` does the
same on a kept store: empty the views and rebuild them from its events with the code checked out
now, so a store built once serves every later version of the read side."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, inspect, select, text

from adapters.bulk import rebuild_store
from adapters.bulk.indexes import BULK_TABLES
from adapters.datakeys import new_master_key
from adapters.mailgen import generate_messages
from adapters.mime import parse_message
from adapters.parallel_parse import default_workers
from adapters.settings import Settings
from adapters.tokens import issue_token
from api.runtime import Runtime
from application.batch_recorder import BatchRecorder
from application.services.ingest import group, to_item
from projections.tables import api_tokens, companies, email_participants, metadata, person_addresses

DOMAIN = "acme.example"
MEMBERS = 50
STREAMS = 2  # mail streams per mailbox
LEAD_CONTACTS = 50
_COMPANY = re.compile(rb"-(\d+)\.example\b")

Progress = Callable[[int], None]


def _shares(messages: int) -> list[int]:
    return [messages // MEMBERS + (1 if k < messages % MEMBERS else 0) for k in range(MEMBERS)]


def _stream(member: int, stream: int, count: int) -> list[tuple[str, Any]]:
    """(member TAB folder, parsed item) of one generated stream of a member's mailbox, its company
    domains renamed (`northwind-5.example` -> `northwind-5-17.example`). Runs in a worker process."""
    owner = f"m{member}@{DOMAIN}"
    suffix = b"-%d" % ((member + stream) % MEMBERS)
    out: list[tuple[str, Any]] = []

    def rename(match: re.Match[bytes]) -> bytes:
        return b"-" + match.group(1) + suffix + b".example"

    for n, (folder, raw) in enumerate(
        generate_messages(count, seed=1000 * (stream + 1) + member, owner=owner, internal_domain=DOMAIN)
    ):
        raw = _COMPANY.sub(rename, raw)
        out.append((f"{member}\t{folder}", to_item(raw, f"bench-{member}-{stream}-{n}", parse_message)))
    return out


def _parsed(messages: int, workers: int) -> Iterator[tuple[str, Any]]:
    """Every mailbox's mail in order (member 0 stream 0, member 0 stream 1, member 1 ...), each
    stream generated and parsed by a pool of worker processes, a few streams ahead of the caller."""
    tasks = [
        (k, stream, share // STREAMS + (1 if stream < share % STREAMS else 0))
        for k, share in enumerate(_shares(messages))
        for stream in range(STREAMS)
    ]
    if workers == 0:
        for task in tasks:
            yield from _stream(*task)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pending: deque[Any] = deque()
        for task in tasks:
            pending.append(pool.apply_async(_stream, task))
            if len(pending) > workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


def _import(app: Any, boxes: list[str], messages: int, progress: Progress | None, workers: int) -> None:
    """Every mailbox's mail recorded batch by batch (up to 1,000 messages of a folder a save)."""
    for key, items in group(_parsed(messages, workers)):
        member, folder = key.split("\t", 1)
        BatchRecorder(app, boxes[int(member)]).record(folder, items, None)
        if progress is not None:
            progress(len(items))


CLONE_PAGE = 2_000  # events a save when cloning a log


def clone(
    source: dict[str, Any], url: str, progress: Progress | None = None, views_progress: Progress | None = None
) -> dict[str, Any]:
    """A store of the same mail as the kept SQLite store `source` (its manifest), built at `url`
    (PostgreSQL) without generating, parsing or recording the mail again: the source's event log
    saved into the new store by the library's batch save (the recorder's `insert_events`), page
    by page in notification order (so every position is the same), its mailboxes' data keys
    beside it (the same master key opens them), then the views built from the log as `build`
    builds them, the landmarks found and a token issued. The events are the ones the
    application recorded; only their second writing is skipped."""
    import sqlite3
    from uuid import UUID

    from eventsourcing.persistence import StoredEvent

    from adapters.datakeys import data_keys

    path = source["url"].removeprefix("sqlite:///")
    last = int(source["events_before_landmarks"]) if "events_before_landmarks" in source else None
    runtime = Runtime.open(Settings(database_url=url, master_key=source["master_key"]))
    started = time.perf_counter()
    try:
        reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        if last is None:  # the source's own lead and its events come after the import: leave them
            last = (
                reader.execute(
                    "SELECT min(rowid) - 1 FROM stored_events WHERE topic LIKE 'domain.lead:%'"
                ).fetchone()[0]
                or reader.execute("SELECT max(rowid) FROM stored_events").fetchone()[0]
            )
        after = 0
        while after < last:
            rows = reader.execute(
                "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
                " WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
                (after, last, CLONE_PAGE),
            ).fetchall()
            if not rows:
                break
            ids = runtime.app.recorder.insert_events(
                [StoredEvent(UUID(o), v, t, st) for _, o, v, t, st in rows]
            )
            if not ids or ids[-1] != rows[-1][0]:
                raise RuntimeError(f"the clone's positions drifted: {ids and ids[-1]} for {rows[-1][0]}")
            after = rows[-1][0]
            if progress is not None:
                progress(len(rows))
        keys = reader.execute("SELECT mailbox_id, wrapped, created_at FROM data_keys").fetchall()
        reader.close()
        if keys:
            with runtime.engine.begin() as conn:
                conn.execute(
                    data_keys.insert(), [{"mailbox_id": m, "wrapped": w, "created_at": c} for m, w, c in keys]
                )
        copied = time.perf_counter() - started
        start = getattr(views_progress, "start", None)
        if start is not None:
            start(last)
        views = project(runtime, views_progress)
        projected = time.perf_counter() - started - copied
        manifest = _landmarks(runtime, source["workspace_id"])
        manifest.update(
            {
                "url": url,
                "messages": source["messages"],
                "master_key": source["master_key"],
                "workspace_id": source["workspace_id"],
                "token": issue_token(runtime.engine, source["workspace_id"], _admin(runtime)),
                "seconds": {
                    "clone": round(copied, 1),
                    "project": round(projected, 1),
                    "landmarks": round(time.perf_counter() - started - copied - projected, 1),
                },
                "cloned_from": source.get("dir", path),
                "clone_events_per_s": round(last / copied) if copied else None,
                "events_before_landmarks": last,
                "events": runtime.app.recorder.max_notification_id(),
                "views": views,
            }
        )
        return manifest
    finally:
        runtime.close()


def _admin(runtime: Runtime) -> str:
    from projections.tables import members

    with runtime.engine.connect() as conn:
        return str(conn.execute(select(members.c.id).where(members.c.role == "admin")).scalars().first())


def code_version() -> dict[str, str]:
    """The commit and migration head whose projections built a store's views."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head() or ""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", ""
    return {"commit": commit + ("+dirty" if dirty else ""), "alembic_head": head}


def view_tables(runtime: Runtime) -> list[str]:
    """Every table of the store that a replay rebuilds: all but the event log, the migrations' own,
    the API tokens, the data keys and the secret tables (`projections.secret_tables`). Read from the
    database, not only from `projections.tables`, so that a view another version keeps elsewhere is
    emptied too."""
    from adapters.datakeys import data_keys
    from adapters.secret_tables import secret_metadata

    keep = {
        "alembic_version",
        api_tokens.name,
        data_keys.name,
        *secret_metadata.tables,
        str(getattr(runtime.app.recorder, "events_table_name", "stored_events")),
    }
    present = set(inspect(runtime.engine).get_table_names())
    known = [t.name for t in reversed(metadata.sorted_tables) if t.name in present and t.name not in keep]
    others = sorted(present - keep - set(known) - {n for n in present if "snapshot" in n})
    return known + others


def project(runtime: Runtime, progress: Progress | None = None) -> dict[str, Any]:
    """(Re)build every view of the store from its whole log with the code checked out now: the views
    emptied (not the API tokens), then the replay's bulk rebuild into the store itself."""
    started = time.perf_counter()
    engine = runtime.engine
    postgres = engine.dialect.name == "postgresql"
    views = view_tables(runtime)
    with engine.begin() as conn:
        if postgres:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{name}"' for name in views)))
        else:
            conn.exec_driver_sql("PRAGMA secure_delete=OFF")  # a bench store: no need to zero the pages
            for name in views:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
    emptied = time.perf_counter() - started
    position = rebuild_store(runtime.app, engine, None, progress, loader=False)
    rebuilt = time.perf_counter() - started - emptied
    if postgres:  # the rebuild made the bulk tables unlogged, as for a throwaway store: log them again
        with engine.begin() as conn:
            for table in sorted(BULK_TABLES):
                conn.execute(text(f'ALTER TABLE "{table}" SET LOGGED'))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return {
        "position": position,
        "seconds": {
            "empty": round(emptied, 1),
            "rebuild": round(rebuilt, 1),
            "finish": round(time.perf_counter() - started - emptied - rebuilt, 1),
        },
        "events_per_s": round(position / rebuilt) if rebuilt else None,
        "code": code_version(),
    }


def build(
    url: str,
    messages: int,
    progress: Progress | None = None,
    master_key: str | None = None,
    workers: int | None = None,
    views_progress: Progress | None = None,
) -> dict[str, Any]:
    """Fill the empty store at `url` with `messages` messages; return its manifest."""
    master_key = master_key or new_master_key()
    workers = max(1, default_workers()) if workers is None else workers
    # eventsourcing ends a PostgreSQL session idle in a transaction for 5 s; on a starved machine
    # a batch save paused that long between its statements and lost the build (at 700,000 of
    # 1,000,000 messages, load average 13). A bench build waits: a minute.
    os.environ.setdefault("POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT", "60")
    runtime = Runtime.open(Settings(database_url=url, master_key=master_key))
    started = time.perf_counter()
    try:
        app = runtime.app
        services = runtime.services
        workspace_id, admin, _ = services.workspaces.create_workspace(
            "Bench", DOMAIN, "Member 0", f"m0@{DOMAIN}", "enterprise"
        )
        services.workspaces.update_settings(workspace_id, {"record_creation": "all"})
        members = [admin] + [
            services.workspaces.add_member(workspace_id, f"Member {k}", [f"m{k}@{DOMAIN}"], "member").id
            for k in range(1, MEMBERS)
        ]
        boxes = [
            services.mailboxes.register(workspace_id, member, "upload", f"m{k}@{DOMAIN}", []).id
            for k, member in enumerate(members)
        ]
        _import(app, boxes, messages, progress, workers)
        imported = time.perf_counter() - started
        start = getattr(views_progress, "start", None)  # a progress bar: the rebuild's total is known now
        if start is not None:
            start(app.recorder.max_notification_id() or 0)
        views = project(runtime, views_progress)
        projected = time.perf_counter() - started - imported
        before_landmarks = runtime.app.recorder.max_notification_id()
        manifest = _landmarks(runtime, workspace_id)
        manifest.update(
            {
                "url": url,
                "messages": messages,
                "master_key": master_key,
                "workspace_id": workspace_id,
                "token": issue_token(runtime.engine, workspace_id, admin),
                "seconds": {
                    "import": round(imported, 1),
                    "project": round(projected, 1),
                    "landmarks": round(time.perf_counter() - started - imported - projected, 1),
                },
                "import_per_s": round(messages / imported) if imported else None,
                "events_before_landmarks": before_landmarks,
                "events": runtime.app.recorder.max_notification_id(),
                "views": views,
            }
        )
        return manifest
    finally:
        runtime.close()


def reproject(manifest: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    """The views of a kept store rebuilt from its events by the code checked out now (migrations
    first); the manifest with the new `views` entry. Ids are the events', so the landmarks hold."""
    runtime = Runtime.open(Settings(database_url=manifest["url"], master_key=manifest["master_key"]))
    try:
        views = project(runtime, progress)
    finally:
        runtime.close()
    return {**manifest, "views": views}


def _landmarks(runtime: Runtime, workspace_id: str) -> dict[str, Any]:
    """The busiest person and company (most emails), and a lead made of that company's people."""
    emails = func.count(func.distinct(email_participants.c.email_id))
    with runtime.engine.connect() as conn:
        person_id, person_emails = conn.execute(
            select(person_addresses.c.person_id, emails)
            .join(
                email_participants,
                (email_participants.c.workspace_id == person_addresses.c.workspace_id)
                & (email_participants.c.address == person_addresses.c.address),
            )
            .where(person_addresses.c.workspace_id == workspace_id)
            .group_by(person_addresses.c.person_id)
            .order_by(emails.desc())
            .limit(1)
        ).one()
        company_id, domain, company_emails = conn.execute(
            select(companies.c.id, companies.c.domain, emails)
            .join(
                email_participants,
                (email_participants.c.workspace_id == companies.c.workspace_id)
                & (email_participants.c.domain == companies.c.domain),
            )
            .where(companies.c.workspace_id == workspace_id)
            .group_by(companies.c.id, companies.c.domain)
            .order_by(emails.desc())
            .limit(1)
        ).one()
        contacts = list(
            conn.execute(
                select(person_addresses.c.person_id)
                .where(person_addresses.c.workspace_id == workspace_id, person_addresses.c.domain == domain)
                .distinct()
                .order_by(person_addresses.c.person_id)
                .limit(LEAD_CONTACTS)
            ).scalars()
        )
        people_count = conn.execute(
            select(func.count())
            .select_from(person_addresses)
            .where(person_addresses.c.workspace_id == workspace_id)
        ).scalar()
        company_count = conn.execute(
            select(func.count()).select_from(companies).where(companies.c.workspace_id == workspace_id)
        ).scalar()
    lead_id = runtime.services.records.create_lead(workspace_id, f"Lead at {domain}", contacts).id
    runtime.catch_up()
    return {
        "person_id": person_id,
        "person_emails": person_emails,
        "company_id": company_id,
        "company_domain": domain,
        "company_emails": company_emails,
        "lead_id": lead_id,
        "lead_contacts": len(contacts),
        "people_addresses": people_count,
        "companies": company_count,
    }


def save_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    (directory / "store.json").write_text(json.dumps(manifest, indent=2))


def load_manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / "store.json"
    return json.loads(path.read_text()) if path.exists() else None
