"""What a webhook subscriber is told of an event: the event's type and the data its member may see
at that moment, read from the views (they have applied the event, maybe later ones too).

`subscribed(conn, position, event)` says which webhook events an event of the log gives rise to
(`Candidate`s: type, workspace, email, and a function of the viewer that answers the data or
None when that viewer may see nothing of it). The data is what the API answers that viewer for
the same thing (`email_summaries`, `person_rows`, `company_rows`, `mailbox_rows`), so a
metadata-level member is never told a subject, nor an auditor anything beyond metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exists, or_, select

from domain.company import Company
from domain.mailbox import Mailbox
from domain.person import Person
from domain.synced_message import SyncedMessage
from domain.visibility import Viewer
from domain.workspace import Workspace
from projections.email_queries import HIDING_COLUMNS, email_summaries
from projections.record_queries import company_rows, mailbox_rows, person_rows
from projections.tables import email_copies, email_participants, mailboxes, people

EVENT_TYPES = (
    "email.created",
    "email.hidden",
    "email.shown",
    "email.retracted",
    "person.created",
    "person.merged",
    "person.updated",
    "company.created",
    "mailbox.status_changed",
    "mailbox.removed",
)

Data = dict[str, Any] | None

# The events that may hide copies as internal-only or excluded (projections/privacy_views.py).
INTERNAL_OR_EXCLUDED = (
    Workspace.ExclusionsSet,
    Workspace.MemberAdded,
    Workspace.MemberEmailAdded,
    Workspace.MailboxRegistered,
    Workspace.MailboxUnregistered,
    Workspace.InternalDomainsSet,
    Workspace.AutoInternalDomainsSet,
)
MAILBOX_EVENTS = (
    Mailbox.StatusChanged,
    Mailbox.Removed,
    Mailbox.BlocklistEntryAdded,
    Mailbox.BlocklistEntryRemoved,
)


@dataclass(frozen=True)
class Candidate:
    type: str
    workspace_id: str
    data: Callable[[Viewer], Data]  # None: this viewer may see nothing of it
    email_id: str | None = None
    summary: bool = False  # the data is the email as the viewer sees it (read a page at a time)


SUMMARY_CHUNK = 500


def data_of(conn: Connection, viewer: Viewer, candidates: list[Candidate]) -> list[Data]:
    """Each candidate's data for this viewer; the emails' summaries read together."""
    wanted = sorted({c.email_id for c in candidates if c.summary and c.email_id is not None})
    summaries: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), SUMMARY_CHUNK):
        for item in email_summaries(conn, viewer, wanted[start : start + SUMMARY_CHUNK]):
            summaries[item["id"]] = item
    return [summaries.get(c.email_id or "") if c.summary else c.data(viewer) for c in candidates]


def _email(conn: Connection, email_id: str) -> Callable[[Viewer], Data]:
    def data(viewer: Viewer) -> Data:
        found = email_summaries(conn, viewer, [email_id])
        return found[0] if found else None

    return data


def _gone(conn: Connection, email_id: str, reason: str) -> Callable[[Viewer], Data]:
    """An email no longer there for the viewer: its id and why (the viewer saw it before)."""

    def data(viewer: Viewer) -> Data:
        return None if email_summaries(conn, viewer, [email_id]) else {"id": email_id, "reason": reason}

    return data


def _person(conn: Connection, person_id: str) -> Callable[[Viewer], Data]:
    def data(viewer: Viewer) -> Data:
        rows = person_rows(conn, viewer, None, 1, person_id)[1]
        return rows[0] if rows else None

    return data


def _company(conn: Connection, company_id: str) -> Callable[[Viewer], Data]:
    def data(viewer: Viewer) -> Data:
        rows = company_rows(conn, viewer, None, 1, company_id)[1]
        return rows[0] if rows else None

    return data


def _mailbox(conn: Connection, mailbox_id: str, fields: tuple[str, ...]) -> Callable[[Viewer], Data]:
    def data(viewer: Viewer) -> Data:
        rows = mailbox_rows(conn, viewer, mailbox_id)
        return {k: rows[0][k] for k in fields} if rows else None

    return data


def _hidden_by(
    conn: Connection, position: int, scope: Any, columns: tuple[str, ...]
) -> list[tuple[str, str]]:
    """(email id, reason) of the copies in `scope` a rule hid at `position` (and still hides)."""
    found: dict[str, str] = {}
    for column in columns:
        for row in conn.execute(
            select(email_copies.c.email_id).where(scope, email_copies.c[column] == position)
        ):
            found.setdefault(row.email_id, column.removesuffix("_at").replace("internal", "internal_only"))
    return sorted(found.items())


def _shown_by_unblocking(conn: Connection, mailbox_id: str, entry: str) -> list[str]:
    """The emails of the mailbox's visible copies that match a blocklist entry just removed."""
    p = email_participants.c
    match = p.address == entry if "@" in entry else or_(p.domain == entry, p.domain.endswith("." + entry))
    visible = [email_copies.c[c].is_(None) for c in HIDING_COLUMNS]
    statement = select(email_copies.c.email_id).where(
        email_copies.c.mailbox_id == mailbox_id,
        *visible,
        exists().where(p.copy_id == email_copies.c.id, match),
    )
    return sorted({r.email_id for r in conn.execute(statement)})


def _workspace_of_mailbox(conn: Connection, mailbox_id: str) -> str | None:
    return conn.execute(select(mailboxes.c.workspace_id).where(mailboxes.c.id == mailbox_id)).scalar()


def subscribed(conn: Connection, position: int, event: object) -> list[Candidate]:
    """The webhook events an event of the log at `position` gives rise to."""
    if isinstance(event, SyncedMessage.Recorded):
        copy_id = str(event.originator_id)
        first = conn.execute(
            select(email_copies.c.id).where(
                email_copies.c.email_id == event.email_id, email_copies.c.position < position
            )
        ).first()
        if first is not None:  # another mailbox's copy of an email already there: not a new email
            return []
        if conn.execute(select(email_copies.c.id).where(email_copies.c.id == copy_id)).first() is None:
            return []  # retracted since (its mailbox removed), or never stored (erased content)
        return [
            Candidate("email.created", event.workspace_id, _email(conn, event.email_id), event.email_id, True)
        ]
    if isinstance(event, (SyncedMessage.Expunged, SyncedMessage.Restored)):
        row = conn.execute(
            select(email_copies.c.email_id, email_copies.c.workspace_id).where(
                email_copies.c.id == str(event.originator_id)
            )
        ).first()
        if row is None:
            return []
        if isinstance(event, SyncedMessage.Expunged):
            return [Candidate("email.retracted", row.workspace_id, _gone(conn, row.email_id, "expunged"),
                              row.email_id)]  # fmt: skip
        return [Candidate("email.shown", row.workspace_id, _email(conn, row.email_id), row.email_id, True)]
    if isinstance(event, MAILBOX_EVENTS):
        return _mailbox_event(conn, position, event)
    if isinstance(event, INTERNAL_OR_EXCLUDED):
        workspace_id = str(event.originator_id)
        scope = email_copies.c.workspace_id == workspace_id
        return [
            Candidate("email.hidden", workspace_id, _gone(conn, email_id, reason), email_id)
            for email_id, reason in _hidden_by(conn, position, scope, ("internal_at", "excluded_at"))
        ]
    if isinstance(event, (Person.Created, Person.AddressAdded, Person.Merged)):
        person_id = str(event.originator_id)
        home: str | None = conn.execute(
            select(people.c.workspace_id).where(people.c.id == person_id)
        ).scalar()
        if home is None:
            return []
        if isinstance(event, Person.Merged):
            merged = {"id": person_id, "merged_into": event.target_id}
            return [Candidate("person.merged", home, lambda _viewer: merged)]
        kind = "person.created" if isinstance(event, Person.Created) else "person.updated"
        return [Candidate(kind, home, _person(conn, person_id))]
    if isinstance(event, Company.Created):
        return [Candidate("company.created", event.workspace_id, _company(conn, str(event.originator_id)))]
    return []


def _mailbox_event(
    conn: Connection,
    position: int,
    event: Mailbox.StatusChanged
    | Mailbox.Removed
    | Mailbox.BlocklistEntryAdded
    | Mailbox.BlocklistEntryRemoved,
) -> list[Candidate]:
    mailbox_id = str(event.originator_id)
    workspace_id = _workspace_of_mailbox(conn, mailbox_id)
    if workspace_id is None:
        return []
    if isinstance(event, Mailbox.StatusChanged):
        fields = ("id", "owner_id", "address", "status", "status_reason")
        return [Candidate("mailbox.status_changed", workspace_id, _mailbox(conn, mailbox_id, fields))]
    if isinstance(event, Mailbox.Removed):
        removed = {"id": mailbox_id, "held": event.held}
        return [Candidate("mailbox.removed", workspace_id, lambda _viewer: removed)]
    if isinstance(event, Mailbox.BlocklistEntryAdded):
        scope = email_copies.c.mailbox_id == mailbox_id
        return [
            Candidate("email.hidden", workspace_id, _gone(conn, email_id, reason), email_id)
            for email_id, reason in _hidden_by(conn, position, scope, ("blocklisted_at",))
        ]
    if isinstance(event, Mailbox.BlocklistEntryRemoved):
        return [
            Candidate("email.shown", workspace_id, _email(conn, email_id), email_id, True)
            for email_id in _shown_by_unblocking(conn, mailbox_id, event.entry)
        ]
    return []
