"""Capture by forwarding and BCC: mail a member sends to their capture address
(`<slug>+<token>@<inbound domain>`) is recorded into their `forwarded` mailbox through the
batch path, like any synced message.

The SMTP adapter (adapters/inbound_smtp.py) asks `recipient` at RCPT and `accept` at DATA;
a CaptureRefusedError is its 550, and nothing is stored."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace

from eventsourcing.persistence import IntegrityError

from application.app import MailTrail
from application.batch_recorder import BatchRecorder, BatchResult
from application.errors import ConflictError, DomainError
from application.group_commit import GroupCommit
from application.ports import (
    CaptureDirectory,
    CaptureTokens,
    DkimResult,
    DkimVerifier,
    ForwardReader,
    Item,
    Rejected,
)
from application.services.ingest import Parser, to_item
from application.services.mailboxes import Mailboxes
from domain.authority import require_owner_or_admin
from domain.capture import (
    BCC,
    UNRECOVERED,
    capture_address,
    dkim_aligned,
    is_forward,
    member_slug,
    split_capture_address,
    without,
)
from domain.message import ParsedMessage
from domain.synced_message import copy_id_for
from domain.values import Provider, domain_of
from domain.workspace import Workspace

FOLDER = "capture"
UNKNOWN_RECIPIENT = "no such capture address"


class CaptureRefusedError(DomainError):
    """The SMTP server refuses the recipient or the message (550), saying why."""


@dataclass(frozen=True)
class CaptureTarget:
    """An accepted recipient: whose capture address it is."""

    workspace_id: str
    member_id: str
    address: str


@dataclass(frozen=True)
class Captured:
    """One recorded capture: its kind (bcc, attached, inline, unrecovered), the copy stored or
    the reason it was skipped (internal, blocklisted, duplicate...)."""

    position: int
    kind: str
    copy_id: str | None = None
    email_id: str | None = None
    skipped: str | None = None
    reason: str = ""


class Capture:
    def __init__(
        self,
        app: MailTrail,
        parse: Parser,
        mailboxes: Mailboxes,
        tokens: CaptureTokens,
        directory: CaptureDirectory,
        dkim: DkimVerifier,
        forwards: ForwardReader,
        inbound_domain: str | None,
    ) -> None:
        self.app = app
        self.parse = parse
        self.mailboxes = mailboxes
        self.tokens = tokens
        self.directory = directory
        self.dkim = dkim
        self.forwards = forwards
        self.inbound_domain = inbound_domain.lower().strip(".") if inbound_domain else None
        self.batches = GroupCommit(self._record_batch)

    def _record_batch(self, mailbox_id: str, items: list[Item]) -> BatchResult:
        return BatchRecorder(self.app, mailbox_id).record(FOLDER, items, None)

    # the address ---------------------------------------------------------------------
    def address_of(self, workspace_id: str, member_id: str) -> str | None:
        """The member's current capture address (None when the deployment has no inbound domain)."""
        if self.inbound_domain is None:
            return None
        workspace = self.app.load(Workspace, workspace_id)
        member = workspace.member(member_id)
        generation = workspace.capture_generation(member_id)
        token = self.tokens.token(workspace_id, member_id, generation)
        return capture_address(member_slug(member["name"], member["emails"]), token, self.inbound_domain)

    def rotate(self, workspace_id: str, member_id: str, actor_id: str) -> int:
        """A new capture address; the previous one is refused at RCPT from now on (the member
        or an admin)."""
        workspace = self.app.load(Workspace, workspace_id)
        workspace.member(member_id)
        require_owner_or_admin(workspace, member_id, actor_id, "only the member or an admin may do this")
        workspace.rotate_capture_address(member_id)
        return self.app.save_all(workspace)

    def recipient(self, address: str) -> CaptureTarget:
        """The member whose current capture address this is; refused otherwise (RCPT)."""
        parts = split_capture_address(address, self.inbound_domain) if self.inbound_domain else None
        if parts is None:
            raise CaptureRefusedError(UNKNOWN_RECIPIENT)
        slug, token = parts
        for workspace_id, member_id in self.directory.members_with_slug(slug):
            workspace = self.app.load(Workspace, workspace_id)
            if member_id not in workspace.members:
                continue
            generation = workspace.capture_generation(member_id)
            if hmac.compare_digest(self.tokens.token(workspace_id, member_id, generation), token):
                return CaptureTarget(workspace_id, member_id, address.strip().strip("<>").lower())
        raise CaptureRefusedError(UNKNOWN_RECIPIENT)

    # the message ---------------------------------------------------------------------
    def accept(self, targets: list[CaptureTarget], raw: bytes, trusted_peer: bool) -> list[Captured]:
        """Check the message for every recipient first (the sender is the member, authenticated
        by DKIM or by a trusted connection), then record it for each."""
        item = to_item(raw, "capture", self.parse)
        if isinstance(item, Rejected):
            raise CaptureRefusedError(f"the message is {item.reason.replace('_', ' ')}")
        outer = item
        sender = outer.from_[0].email if len(outer.from_) == 1 else None
        envelope = {t.address for t in targets}
        checked: list[tuple[CaptureTarget, set[str]]] = []
        dkim: DkimResult | None = None
        for target in targets:
            own = self.app.load(Workspace, target.workspace_id).member_addresses(target.member_id)
            if sender is None or sender not in own:
                shown = sender or "missing"
                raise CaptureRefusedError(f"the sender ({shown}) is not one of the member's addresses")
            dkim = dkim or self.dkim.verify(raw)
            authenticate(sender, dkim, trusted_peer)
            checked.append((target, own))
        return [self._record(target, own, outer, raw, envelope) for target, own in checked]

    def _record(
        self, target: CaptureTarget, own: set[str], outer: ParsedMessage, raw: bytes, envelope: set[str]
    ) -> Captured:
        kind, reason, message = BCC, "", outer
        if is_forward(outer, own, envelope):
            original = self.forwards.original(raw)
            kind, reason = original.kind, original.reason
            item = to_item(original.raw, "forwarded", self.parse) if original.raw is not None else None
            if isinstance(item, ParsedMessage):
                message = item
            else:
                kind = UNRECOVERED
                reason = reason or "the forwarded message could not be read"
                message = replace(outer, defects=(*outer.defects, f"forward not recovered: {reason}"))
        mailbox_id = self._forwarded_mailbox(target.workspace_id, target.member_id)
        item = without(message, envelope)
        result = self.batches.record(mailbox_id, item)  # with the messages that arrived meanwhile
        copy_id = copy_id_for(mailbox_id, item)
        email_id = dict(result.copies).get(str(copy_id))
        if email_id is not None:
            return Captured(result.position, kind, str(copy_id), email_id, reason=reason)
        return Captured(result.position, kind, skipped=result.reasons.get(copy_id, "unknown"), reason=reason)

    def _forwarded_mailbox(self, workspace_id: str, member_id: str) -> str:
        """The member's `forwarded` mailbox, created on first use (no plan slot). Two first
        captures at once: one registers it, the other finds it on its next load."""
        for _ in range(5):
            workspace = self.app.load(Workspace, workspace_id)
            existing = workspace.forwarded_mailboxes.get(member_id)
            if existing is not None:
                return existing
            emails = workspace.member(member_id)["emails"]
            try:
                return self.mailboxes.register(
                    workspace_id, member_id, Provider.FORWARDED.value, emails[0], emails[1:]
                ).id
            except (IntegrityError, ConflictError):
                continue
        raise ConflictError(f"the forwarded mailbox of member {member_id} is being created by another writer")


def authenticate(sender: str, dkim: DkimResult, trusted_peer: bool) -> None:
    """A signed message must carry a signature that verifies for the sender's domain; an
    unsigned one is taken only from a connection the deployment trusts."""
    domain = domain_of(sender)
    if dkim.signed:
        if not any(dkim_aligned(domain, d) for d in dkim.verified):
            why = "; ".join(dkim.failures) or f"signed by {', '.join(dkim.verified)} only"
            raise CaptureRefusedError(f"the DKIM signature does not verify for {domain} ({why})")
    elif not trusted_peer:
        raise CaptureRefusedError("the message carries no DKIM signature and the connection is not trusted")
