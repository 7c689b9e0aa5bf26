"""Threads view: one row per thread with a visible email (its last activity, first email and
count), and the thread's addresses (no Bcc), which `GET /threads?person=|company=` reads.

Which emails are visible does not depend on the viewer (a copy is hidden by a rule for everyone,
and every member sees every visible copy at metadata level at least), so a thread's activity is
kept once; the subject is shown per viewer at read time (projections/thread_queries.py).
`settle` recomputes the threads a page changed (ViewWriter.threads), before lead_views.settle
clears them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, delete, exists, select

from domain.threads import thread_id_for
from projections.email_queries import VISIBLE_COPY
from projections.tables import (
    email_copies,
    email_participants,
    emails,
    mailboxes,
    thread_addresses,
    threads,
    workspaces,
)
from projections.writer import ViewWriter

THREAD_COLUMNS = ("id", "workspace_id", "thread_key", "first_email_id", "first_at", "last_at", "emails")
ADDRESS_COLUMNS = ("thread_id", "address", "workspace_id", "domain", "last_at")
CHUNK = 500


def settle(w: ViewWriter) -> None:
    if not w.threads:
        return
    w.flush()
    for workspace_id, keys in sorted(w.threads.items()):
        if keys is None:
            w.execute(delete(thread_addresses).where(thread_addresses.c.workspace_id == workspace_id))
            w.execute(delete(threads).where(threads.c.workspace_id == workspace_id))
            _rebuild(w, workspace_id, None)
            continue
        ordered = sorted(keys)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            ids = [thread_id_for(workspace_id, k) for k in chunk]
            w.execute(delete(thread_addresses).where(thread_addresses.c.thread_id.in_(ids)))
            w.execute(delete(threads).where(threads.c.id.in_(ids)))
            _rebuild(w, workspace_id, chunk)
    w.flush()


def _rebuild(w: ViewWriter, workspace_id: str, keys: list[str] | None) -> None:
    """The rows of these threads (every thread of the workspace when None) from the visible emails."""
    visible = exists().where(
        email_copies.c.email_id == emails.c.id, mailboxes.c.id == email_copies.c.mailbox_id, VISIBLE_COPY
    )  # per email, through the copies' email index: never the whole workspace's copies
    statement = select(emails.c.id, emails.c.thread_key, emails.c.sent_at).where(
        emails.c.workspace_id == workspace_id, visible
    )
    if keys is not None:
        statement = statement.where(emails.c.thread_key.in_(keys))
    by_thread: dict[str, list[tuple[str, str]]] = defaultdict(list)
    email_thread: dict[str, str] = {}
    for row in w.execute(statement):
        by_thread[row.thread_key].append((row.sent_at or "", row.id))
        email_thread[row.id] = row.thread_key
    if not by_thread:
        return
    rows: list[tuple[Any, ...]] = []
    last: dict[str, str] = {}
    for key, found in by_thread.items():
        found.sort()
        tid = thread_id_for(workspace_id, key)
        last[key] = found[-1][0]
        rows.append((tid, workspace_id, key, found[0][1], found[0][0], found[-1][0], len(found)))
    w.insert_rows(threads, THREAD_COLUMNS, rows)
    addresses: dict[tuple[str, str], str] = {}
    email_ids = sorted(email_thread)
    for start in range(0, len(email_ids), CHUNK):
        for row in w.execute(
            select(
                email_participants.c.email_id, email_participants.c.address, email_participants.c.domain
            ).where(
                email_participants.c.email_id.in_(email_ids[start : start + CHUNK]),
                email_participants.c.role != "bcc",
                email_participants.c.hidden.is_(False),
            )
        ):
            addresses.setdefault((email_thread[row.email_id], row.address), row.domain)
    w.insert_rows(
        thread_addresses,
        ADDRESS_COLUMNS,
        [
            (thread_id_for(workspace_id, key), address, workspace_id, domain, last[key])
            for (key, address), domain in addresses.items()
        ],
    )


def unfilled(engine: Engine) -> list[str]:
    """Every workspace when there are emails but no thread rows at all (a store upgraded from
    before the view); else none. Two one-row reads."""
    with engine.connect() as conn:
        if conn.execute(select(threads.c.id).limit(1)).first() is not None:
            return []
        if conn.execute(select(emails.c.id).limit(1)).first() is None:
            return []
        return list(conn.execute(select(workspaces.c.id)).scalars())


def fill(engine: Engine, workspace_ids: list[str]) -> None:
    with engine.begin() as conn:
        w = ViewWriter(conn)
        for workspace_id in workspace_ids:
            w.all_threads_changed(workspace_id)
        settle(w)
