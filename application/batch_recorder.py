"""The sync use case: record a batch of messages, its records and the cursor atomically."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from application.app import MailTrail
from application.companies import add_person
from application.errors import ConflictError
from application.ports import Item, Rejected
from domain.fates import NO_RECORDS, REJECTED, entry_text, lookup_text
from domain.filtering import BLOCKLISTED, screen
from domain.mailbox import Mailbox
from domain.message import Address, Bounce, ParsedMessage
from domain.participants import direction, participants, unparsed_participants
from domain.person import AddressClaim
from domain.records import BATCH_RECORD_LIMIT, TOO_MANY_PARTICIPANTS, is_role_address, people_to_create
from domain.send import Send, send_id_from_message_id
from domain.synced_message import SyncedMessage, copy_id_for, email_id_for, email_identity, legacy_copy_id_for
from domain.threads import thread_hashes
from domain.values import RecordPolicy
from domain.workspace import Workspace

DUPLICATE = "duplicate"
MAX_ATTEMPTS = 5


@dataclass
class BatchResult:
    synced: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: list[dict[str, str]] = field(default_factory=list)
    copies: list[tuple[str, str]] = field(default_factory=list)  # (copy id, email id)
    position: int = 0
    met: Counter[UUID] = field(default_factory=Counter, repr=False)  # copies this batch came across
    held: list[str] = field(default_factory=list)  # copies met that were stored before this batch
    reasons: dict[UUID, str] = field(default_factory=dict, repr=False)  # why each unstored copy was not


def skip_key(copy_id: UUID) -> str:
    """What a skipped message is counted by in its mailbox: its copy id, shortened (no content)."""
    return copy_id.hex[:16]


class BatchRecorder:
    """Records batches for one mailbox; remembers which records already exist.

    `seen` counts the copies this run (an import, an IMAP pass) came across, so that a message
    met a second time in the run is a duplicate of the mailbox, while one stored by an earlier
    run is merely held already: re-importing leaves the mailbox's skip counts as they were."""

    def __init__(self, app: MailTrail, mailbox_id: str, seen: Counter[UUID] | None = None) -> None:
        self.app = app
        self.mailbox_id = mailbox_id
        self.known: set[UUID] = set()
        self.seen: Counter[UUID] = Counter() if seen is None else seen

    def record(
        self,
        folder: str,
        items: list[Item],
        cursor: dict[str, Any] | None,
        also: Callable[[BatchResult], Sequence[Aggregate]] | None = None,
    ) -> BatchResult:
        """Save the batch in one atomic write; retried when another writer got there first.

        `also` gives, for each try, more aggregates to save in the same write (the outbox's
        send marked sent with the copy that records it)."""
        existing: set[UUID] = set()
        for _ in range(MAX_ATTEMPTS):
            mailbox = self.app.load(Mailbox, self.mailbox_id)
            workspace = self.app.load(Workspace, mailbox.workspace_id)
            result, aggregates = self._build(workspace, mailbox, folder, items, cursor, existing)
            aggregates = [*aggregates, *(also(result) if also is not None else ())]
            try:
                recordings = self.app.save(mailbox, *aggregates)
            except IntegrityError:
                existing |= {a.id for a in aggregates if self.app.exists(a.id)}
                self.known |= existing
                continue
            result.position = recordings[-1].notification.id
            self.seen.update(result.met)
            return result
        raise ConflictError(f"mailbox {self.mailbox_id} is being synced by another writer")

    def _build(
        self,
        workspace: Workspace,
        mailbox: Mailbox,
        folder: str,
        items: list[Item],
        cursor: dict[str, Any] | None,
        existing: set[UUID],
    ) -> tuple[BatchResult, list[Aggregate]]:
        result = BatchResult()
        internal = workspace.internal_set()
        exclusions = workspace.exclusions
        owner = set(mailbox.addresses)
        policy = RecordPolicy(workspace.record_policy)
        workspace_id = str(workspace.id)
        copies: dict[UUID, SyncedMessage] = {}
        records: dict[UUID, Aggregate] = {}
        blocked_threads = set(mailbox.blocked_threads)
        stored: list[tuple[ParsedMessage, UUID, str, int]] = []
        skipped_keys: dict[str, set[str]] = {}
        fates: list[tuple[str, str, str]] = []

        def fate(text: str | None, reason: str, entry: str = "") -> None:
            if text is not None:
                fates.append((self.app.fate_hash(text), reason, entry))

        bounced: dict[UUID, Aggregate] = {}
        for item in items:
            if isinstance(item, Rejected):
                result.rejected.append({"ref": item.ref, "reason": item.reason})
                fate(lookup_text(item.message_id), REJECTED, item.reason)
                continue
            for bounce in item.bounces:  # a delivery report about one of this mailbox's sends
                self._bounce(bounced, bounce)
            copy_id = copy_id_for(self.mailbox_id, item)
            result.met[copy_id] += 1
            nth = self.seen[copy_id] + result.met[copy_id]  # the how-manieth time this run meets it
            everyone = participants(item)
            skip = screen(everyone, internal, exclusions, mailbox.blocklist, unparsed_participants(item))
            if skip is not None:
                reason, entry = skip
                fate(_lookup_text(item), reason, self.app.fate_hash(entry_text(entry)) if entry else "")
                result.reasons[copy_id] = reason
                result.skipped[reason] += 1
                skipped_keys.setdefault(reason, set()).add(skip_key(copy_id))
                if reason == BLOCKLISTED:
                    blocked_threads |= thread_hashes(item)
                continue
            if copy_id in copies or copy_id in existing or self._recorded_by_version_1(item):
                result.reasons.setdefault(copy_id, DUPLICATE)
                result.skipped[DUPLICATE] += 1
                if copy_id in existing:
                    result.held.append(str(copy_id))
                if nth > 1:  # met before in this run; the first meeting of a stored copy is no skip
                    skipped_keys.setdefault(DUPLICATE, set()).add(f"{skip_key(copy_id)}#{nth}")
                continue
            way = direction(item, owner)
            identity = email_identity(item.message_id, item.fingerprint)
            email_id = str(email_id_for(workspace_id, identity))
            copies[copy_id] = SyncedMessage(
                mailbox_id=self.mailbox_id,
                identity=identity,
                workspace_id=workspace_id,
                email_id=email_id,
                folder=folder,
                direction=way,
                headers=headers_of(item),
                content=content_of(item),
                copy_key=item.copy_key,
            )
            result.copies.append((str(copy_id), email_id))
            stored.append((item, copy_id, way, len(everyone)))
        limits = self.app.fan_out
        budget = limits.max_records_per_batch
        for item, copy_id, way, count in stored:
            if thread_hashes(item) & blocked_threads:
                continue  # no records from a thread that involves a blocklisted participant
            if limits.too_many_participants(count):
                result.skipped[TOO_MANY_PARTICIPANTS] += 1
                fate(_lookup_text(item), TOO_MANY_PARTICIPANTS)
                skipped_keys.setdefault(TOO_MANY_PARTICIPANTS, set()).add(skip_key(copy_id))
                continue
            if policy is not RecordPolicy.NONE and (sender := _role_or_bulk(item)):
                fate(_lookup_text(item), NO_RECORDS, sender)
            cut = False
            for address, rule in people_to_create(item, way, policy, internal, exclusions):
                if budget <= 0:
                    cut = True
                    break
                origin = {"rule": rule, "copy_id": str(copy_id), "mailbox_id": self.mailbox_id}
                if add_person(
                    self.app, records, self.known, workspace_id, address, _name_of(item, address), origin
                ):
                    budget -= 1
            if cut:
                result.skipped[BATCH_RECORD_LIMIT] += 1
                fate(_lookup_text(item), BATCH_RECORD_LIMIT)
                skipped_keys.setdefault(BATCH_RECORD_LIMIT, set()).add(skip_key(copy_id))
        result.synced = len(copies)
        mailbox.record_batch(
            folder,
            cursor,
            result.synced,
            skipped_keys,
            result.rejected,
            sorted(blocked_threads),
            stored=[skip_key(copy_id) for copy_id in copies],
            fates=fates,
        )
        return result, [*copies.values(), *records.values(), *bounced.values()]

    def _bounce(self, bounced: dict[UUID, Aggregate], bounce: Bounce) -> None:
        """The send the report is about fails; its recipient's address is marked as bouncing."""
        send_id = send_id_from_message_id(bounce.original_message_id)
        if send_id is None or (send_id not in bounced and not self.app.exists(send_id)):
            return
        send = bounced.get(send_id) or self.app.load(Send, send_id)
        if not isinstance(send, Send) or send.mailbox_id != self.mailbox_id:
            return
        send.bounce(bounce.recipient, bounce.status, bounce.diagnostic)
        bounced[send_id] = send
        claim_id = AddressClaim.create_id(send.workspace_id, bounce.recipient)
        if claim_id in bounced or self.app.exists(claim_id):
            claim = bounced.get(claim_id) or self.app.load(AddressClaim, claim_id)
            if isinstance(claim, AddressClaim):
                claim.mark_bouncing(bounce.status, bounce.diagnostic)
                bounced[claim_id] = claim

    def _recorded_by_version_1(self, item: ParsedMessage) -> bool:
        """This mailbox already holds the copy under the id identity version 1 gave it."""
        legacy = legacy_copy_id_for(self.mailbox_id, item)
        return legacy is not None and (legacy in self.known or self.app.exists(legacy))


def _pairs(addresses: tuple[Address, ...]) -> list[list[str]]:
    return [[a.email, a.name] for a in addresses]


def _name_of(message: ParsedMessage, address: str) -> str:
    for group in (message.from_, message.to, message.cc, message.bcc, message.reply_to):
        for a in group:
            if a.email == address and a.name:
                return a.name
    return ""


def headers_of(message: ParsedMessage) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "subject": message.subject,
        "date": message.date.isoformat() if message.date else None,
        "from": _pairs(message.from_),
        "sender": _pairs(message.sender),
        "reply_to": _pairs(message.reply_to),
        "to": _pairs(message.to),
        "cc": _pairs(message.cc),
        "bcc": _pairs(message.bcc),
        "in_reply_to": message.in_reply_to,
        "thread_id": message.provider_thread,
        "references": list(message.references),
        "bulk": message.bulk,
        "size": message.size,
        "defects": list(message.defects),
        "unparsed": list(message.unparsed),
    }


MAX_STORED_ATTACHMENTS = 25 * 1024 * 1024  # a message's attachment files kept, in all; beyond: names only


def content_of(message: ParsedMessage) -> dict[str, Any]:
    """Sealed with the mailbox's key (application/transcoder.py), like the bodies: the files too,
    base64, in `attachment_data` (None for a file past MAX_STORED_ATTACHMENTS)."""
    kept, data = 0, []
    for a in message.attachments:
        kept += len(a.data)
        data.append(base64.b64encode(a.data).decode("ascii") if kept <= MAX_STORED_ATTACHMENTS else None)
    return {
        "body_text": message.body_text,
        "body_html": message.body_html,
        "attachments": [[a.filename, a.content_type, a.size] for a in message.attachments],
        "attachment_data": data,
    }


def _lookup_text(message: ParsedMessage) -> str | None:
    sender = message.from_[0].email if message.from_ else None
    return lookup_text(message.message_id, sender, message.date)


def _role_or_bulk(message: ParsedMessage) -> str:
    """ "bulk" or "role" when the message's kind keeps its sender from becoming a person."""
    if message.bulk:
        return "bulk"
    if message.from_ and is_role_address(message.from_[0].email):
        return "role"
    return ""
