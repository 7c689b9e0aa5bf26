"""The leads' emails (lead_emails), kept by the projections.

An email attaches to a lead when a participant is one of its contacts. Whether it does
depends only on the email's thread (its emails, their visible copies and participants),
the people and lead contacts, and the workspace's internal addresses, so the handlers
only note which threads changed (ViewWriter.changed_threads, or every thread of a
workspace) and which addresses were given to or taken from a record; at the end of the
page `settle` recomputes those threads' associations from the views as they then are.
Only workspaces with leads pay for it.

The rules, for the visible emails of a thread in (time, arrival) order:
- a non-Bcc participant who is a contact attaches the email to the contact's leads, for
  every member (bcc_owner '');
- a contact in Bcc of a member's own copy attaches it for that member only (bcc_owner =
  the member): Bcc never attaches through another member's copy;
- the lead reply rule: an email from an address on no record attaches to the lead of
  its thread when the non-Bcc external participants of the thread's earlier emails
  belong to exactly one lead."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import and_, delete, func, select

from domain.lead import Lead
from domain.person import Person
from projections.email_queries import VISIBLE_COPY
from projections.internal import internal_set_of
from projections.tables import (
    email_copies,
    email_participants,
    emails,
    lead_contacts,
    lead_emails,
    leads,
    mailboxes,
    people,
    person_addresses,
)
from projections.writer import Handler, ViewWriter

LEAD_EMAIL_COLUMNS = ("lead_id", "email_id", "bcc_owner", "workspace_id", "sent_at", "via")


def changed_addresses(w: ViewWriter, workspace_id: str) -> set[str]:
    found: dict[str, set[str]] = w.memo.setdefault("lead_addresses", {})
    return found.setdefault(workspace_id, set())


def _person_workspace(w: ViewWriter, person_id: str) -> str | None:
    workspace_id: str | None = w.execute(
        select(people.c.workspace_id).where(people.c.id == person_id)
    ).scalar()
    return workspace_id


def person_changed(
    event: Person.Created | Person.AddressAdded | Person.Merged, w: ViewWriter, position: int
) -> None:
    """A person's addresses (created, added, or moved by a merge) may attach their threads' emails."""
    if isinstance(event, Person.Created):
        changed_addresses(w, event.workspace_id).update(event.addresses)
        return
    workspace_id = _person_workspace(w, str(event.originator_id))
    if workspace_id is None:
        return
    if isinstance(event, Person.AddressAdded):
        changed_addresses(w, workspace_id).add(event.address)
    else:  # merged: the retired person's leads now are the target's
        w.all_threads_changed(workspace_id)


def contacts_changed(
    event: Lead.Created | Lead.ContactAdded | Lead.ContactRemoved, w: ViewWriter, position: int
) -> None:
    workspace_id = (
        event.workspace_id
        if isinstance(event, Lead.Created)
        else w.execute(select(leads.c.workspace_id).where(leads.c.id == str(event.originator_id))).scalar()
    )
    if workspace_id is None:
        return
    person_ids = list(event.contacts) if isinstance(event, Lead.Created) else [event.person_id]
    found = w.execute(select(person_addresses.c.address).where(person_addresses.c.person_id.in_(person_ids)))
    changed_addresses(w, workspace_id).update(a for (a,) in found)


HANDLERS: dict[type, Handler] = {
    Person.Created: person_changed,
    Person.AddressAdded: person_changed,
    Person.Merged: person_changed,
    Lead.Created: contacts_changed,
    Lead.ContactAdded: contacts_changed,
    Lead.ContactRemoved: contacts_changed,
}


def settle(w: ViewWriter) -> None:
    """Recompute the lead associations of the threads this page changed."""
    addresses: dict[str, set[str]] = w.memo.get("lead_addresses", {})
    w.flush()  # the internal addresses are read from the connection itself
    for workspace_id in sorted(set(w.threads) | set(addresses)):
        if w.execute(
            select(func.count()).select_from(leads).where(leads.c.workspace_id == workspace_id)
        ).scalar():
            threads = w.threads.get(workspace_id, set())
            _settle_workspace(
                w, workspace_id, None if threads is None else set(threads), addresses.get(workspace_id, set())
            )
    w.threads.clear()
    addresses.clear()


def _settle_workspace(
    w: ViewWriter, workspace_id: str, threads: set[str] | None, addresses: set[str]
) -> None:
    if threads is None:
        w.execute(delete(lead_emails).where(lead_emails.c.workspace_id == workspace_id))
        contact_addresses = (
            select(person_addresses.c.address)
            .select_from(
                person_addresses.join(
                    lead_contacts, lead_contacts.c.person_id == person_addresses.c.person_id
                )
            )
            .where(lead_contacts.c.workspace_id == workspace_id)
        )
        threads = _threads_with(w, workspace_id, contact_addresses)
    else:
        if addresses:
            threads |= _threads_with(w, workspace_id, sorted(addresses))
        if not threads:
            return
        in_threads = select(emails.c.id).where(
            emails.c.workspace_id == workspace_id, emails.c.thread_key.in_(sorted(threads))
        )
        w.execute(delete(lead_emails).where(lead_emails.c.email_id.in_(in_threads)))
    if threads:
        w.insert_rows(lead_emails, LEAD_EMAIL_COLUMNS, _associations(w, workspace_id, sorted(threads)))


def _threads_with(w: ViewWriter, workspace_id: str, addresses: Any) -> set[str]:
    p = email_participants
    found = w.execute(
        select(emails.c.thread_key)
        .distinct()
        .select_from(p.join(emails, emails.c.id == p.c.email_id))
        .where(p.c.workspace_id == workspace_id, p.c.address.in_(addresses))
    )
    return {key for (key,) in found}


def _associations(w: ViewWriter, workspace_id: str, threads: list[str]) -> list[tuple[Any, ...]]:
    p = email_participants
    rows = w.execute(
        select(
            emails.c.id,
            emails.c.thread_key,
            emails.c.sent_at,
            email_copies.c.position,
            p.c.address,
            p.c.role,
            p.c.owner_id,
        )
        .select_from(
            emails.join(email_copies, email_copies.c.email_id == emails.c.id)
            .join(mailboxes, mailboxes.c.id == email_copies.c.mailbox_id)
            .join(p, p.c.copy_id == email_copies.c.id)
        )
        .where(emails.c.workspace_id == workspace_id, emails.c.thread_key.in_(threads), VISIBLE_COPY)
    ).all()
    arrived: dict[str, int] = {}
    public: dict[str, set[str]] = defaultdict(set)
    hidden_copy: dict[tuple[str, str], set[str]] = defaultdict(set)  # (email, owner) -> Bcc addresses
    senders: dict[str, set[str]] = defaultdict(set)
    email_of: dict[str, Any] = {}
    for r in rows:
        email_of[r.id] = r
        arrived[r.id] = min(arrived.get(r.id, r.position), r.position)
        if r.role == "bcc":
            hidden_copy[(r.id, r.owner_id)].add(r.address)
        else:
            public[r.id].add(r.address)
        if r.role == "from":
            senders[r.id].add(r.address)
    everyone = {r.address for r in rows}
    owner = {
        a.address: a.person_id
        for a in w.execute(
            select(person_addresses.c.address, person_addresses.c.person_id).where(
                person_addresses.c.workspace_id == workspace_id,
                person_addresses.c.address.in_(sorted(everyone)),
            )
        )
    }
    leads_of: dict[str, set[str]] = defaultdict(set)
    for c in w.execute(
        select(lead_contacts.c.person_id, lead_contacts.c.lead_id).where(
            and_(
                lead_contacts.c.workspace_id == workspace_id,
                lead_contacts.c.person_id.in_(sorted(set(owner.values()))),
            )
        )
    ):
        leads_of[c.person_id].add(c.lead_id)
    internal, _ = internal_set_of(w.conn, workspace_id)

    def leads_of_addresses(addresses: set[str]) -> set[str]:
        return set().union(*(leads_of.get(owner[a], set()) for a in addresses if a in owner))

    found: dict[tuple[str, str, str], str] = {}  # (lead, email, bcc_owner) -> via
    for email_id, addresses in public.items():
        for lead_id in leads_of_addresses(addresses):
            found[(lead_id, email_id, "")] = "contact"
    by_thread: dict[str, list[str]] = defaultdict(list)
    for email_id, r in email_of.items():
        by_thread[r.thread_key].append(email_id)
    for ordered in by_thread.values():
        ordered.sort(key=lambda e: (email_of[e].sent_at or "", arrived[e]))
        earlier: set[str] = set()
        for email_id in ordered:
            if senders[email_id] and not any(s in owner for s in senders[email_id]):
                thread_leads = leads_of_addresses(earlier)
                if len(thread_leads) == 1:
                    found.setdefault((thread_leads.pop(), email_id, ""), "reply")
            earlier |= {a for a in public[email_id] if not internal.is_internal(a)}
    for (email_id, member_id), addresses in hidden_copy.items():
        for lead_id in leads_of_addresses(addresses):
            if (lead_id, email_id, "") not in found:
                found[(lead_id, email_id, member_id)] = "contact"
    return [
        (lead_id, email_id, member_id, workspace_id, email_of[email_id].sent_at or "", via)
        for (lead_id, email_id, member_id), via in sorted(found.items())
    ]
