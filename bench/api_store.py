"""The stores bench/bench_api.py drives: 50 members with a mailbox each, generated mail.

Each mailbox holds two streams of `adapters.mailgen` (its own seeds), their company domains
renamed per stream (`northwind-5.example` -> `northwind-5-17.example`): 60 domains x 50 suffixes
= 3,000 companies, each fed by two neighbouring members' mailboxes, and about 300 generated
people per stream (the free-mail ones shared between streams). Record creation is `all`, so every
external participant becomes a person. A manifest (`store.json`) beside the store keeps what a run
needs: the master key, a member's token, the busiest person and company and a lead."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from adapters.datakeys import new_master_key  # noqa: E402
from adapters.mailgen import generate_messages  # noqa: E402
from adapters.parallel_parse import parsed  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from adapters.tokens import issue_token  # noqa: E402
from api.runtime import Runtime  # noqa: E402
from application.batch_recorder import BatchRecorder  # noqa: E402
from application.services.ingest import group  # noqa: E402
from projections.tables import companies, email_participants, person_addresses  # noqa: E402

DOMAIN = "acme.example"
MEMBERS = 50
STREAMS = 2  # mail streams per mailbox
LEAD_CONTACTS = 50
_COMPANY = re.compile(rb"-(\d+)\.example\b")

Progress = Callable[[int], None]


def _mail(member: int, count: int) -> Iterator[tuple[str, str, bytes]]:
    """(member TAB folder, ref, raw) of one member's mailbox: STREAMS generated streams, domains renamed."""
    owner = f"m{member}@{DOMAIN}"
    for stream in range(STREAMS):
        size = count // STREAMS + (1 if stream < count % STREAMS else 0)
        suffix = b"-%d" % ((member + stream) % MEMBERS)
        for n, (folder, raw) in enumerate(generate_messages(size, seed=1000 * (stream + 1) + member, owner=owner,
                                                            internal_domain=DOMAIN)):
            yield f"{member}\t{folder}", f"bench-{member}-{stream}-{n}", _COMPANY.sub(
                lambda m, s=suffix: b"-" + m.group(1) + s + b".example", raw)


def _import(app: Any, boxes: list[str], messages: int, progress: Progress | None) -> None:
    """Every mailbox's mail parsed by one pool of parse workers, recorded batch by batch."""
    shares = [messages // MEMBERS + (1 if k < messages % MEMBERS else 0) for k in range(MEMBERS)]
    stream = (item for k in range(MEMBERS) for item in _mail(k, shares[k]))
    for key, items in group(parsed(stream)):
        member, folder = key.split("\t", 1)
        BatchRecorder(app, boxes[int(member)]).record(folder, items, None)
        if progress is not None:
            progress(len(items))


def build(url: str, messages: int, progress: Progress | None = None, master_key: str | None = None) -> dict[str, Any]:
    """Fill the empty store at `url` with `messages` messages; return its manifest."""
    master_key = master_key or new_master_key()
    runtime = Runtime.open(Settings(database_url=url, master_key=master_key))
    started = time.perf_counter()
    try:
        app = runtime.app
        services = runtime.services
        workspace_id, admin, _ = services.workspaces.create_workspace("Bench", DOMAIN, "Member 0", f"m0@{DOMAIN}", "enterprise")
        services.workspaces.update_settings(workspace_id, {"record_creation": "all"})
        members = [admin] + [services.workspaces.add_member(workspace_id, f"Member {k}", [f"m{k}@{DOMAIN}"], "member").id
                             for k in range(1, MEMBERS)]
        boxes = [services.mailboxes.register(workspace_id, member, "upload", f"m{k}@{DOMAIN}", []).id
                 for k, member in enumerate(members)]
        _import(app, boxes, messages, progress)
        imported = time.perf_counter() - started
        runtime.catch_up()
        projected = time.perf_counter() - started - imported
        manifest = _landmarks(runtime, workspace_id)
        manifest.update({
            "url": url, "messages": messages, "master_key": master_key, "workspace_id": workspace_id,
            "token": issue_token(runtime.engine, workspace_id, admin),
            "seconds": {"import": round(imported, 1), "project": round(projected, 1)},
            "events": runtime.app.recorder.max_notification_id(),
        })
        return manifest
    finally:
        runtime.close()


def _landmarks(runtime: Runtime, workspace_id: str) -> dict[str, Any]:
    """The busiest person and company (most emails), and a lead made of that company's people."""
    emails = func.count(func.distinct(email_participants.c.email_id))
    with runtime.engine.connect() as conn:
        person_id, person_emails = conn.execute(
            select(person_addresses.c.person_id, emails)
            .join(email_participants, (email_participants.c.workspace_id == person_addresses.c.workspace_id)
                  & (email_participants.c.address == person_addresses.c.address))
            .where(person_addresses.c.workspace_id == workspace_id)
            .group_by(person_addresses.c.person_id).order_by(emails.desc()).limit(1)
        ).one()
        company_id, domain, company_emails = conn.execute(
            select(companies.c.id, companies.c.domain, emails)
            .join(email_participants, (email_participants.c.workspace_id == companies.c.workspace_id)
                  & (email_participants.c.domain == companies.c.domain))
            .where(companies.c.workspace_id == workspace_id)
            .group_by(companies.c.id, companies.c.domain).order_by(emails.desc()).limit(1)
        ).one()
        contacts = list(conn.execute(
            select(person_addresses.c.person_id).where(person_addresses.c.workspace_id == workspace_id,
                                                       person_addresses.c.domain == domain)
            .distinct().order_by(person_addresses.c.person_id).limit(LEAD_CONTACTS)
        ).scalars())
        people_count = conn.execute(select(func.count()).select_from(person_addresses)
                                    .where(person_addresses.c.workspace_id == workspace_id)).scalar()
        company_count = conn.execute(select(func.count()).select_from(companies)
                                     .where(companies.c.workspace_id == workspace_id)).scalar()
    lead_id = runtime.services.records.create_lead(workspace_id, f"Lead at {domain}", contacts).id
    runtime.catch_up()
    return {
        "person_id": person_id, "person_emails": person_emails,
        "company_id": company_id, "company_domain": domain, "company_emails": company_emails,
        "lead_id": lead_id, "lead_contacts": len(contacts),
        "people_addresses": people_count, "companies": company_count,
    }


def save_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    (directory / "store.json").write_text(json.dumps(manifest, indent=2))


def load_manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / "store.json"
    return json.loads(path.read_text()) if path.exists() else None
