"""Sending: one message, or a mass send personalised per person, queued in the outbox.

A send is queued as a `Send` aggregate whose id comes from the Idempotency-Key (the same key
is the same send, never a second message) and whose Message-ID is fixed now, before any
attempt. The outbox worker (application/outbox.py) sends it when it is due and within the
mailbox's limits. Only the mailbox's owner may send from it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from application.app import MailTrail
from application.errors import ConflictError, NotFoundError, RuleViolationError
from application.ports import Clock, DueSend, SendIndex, TemplateError, Templates
from domain.authority import require_owner
from domain.company import Company
from domain.mailbox import DISCONNECTED, REMOVED, Mailbox
from domain.outbox import MAX_SCHEDULED
from domain.outgoing import check_counts, no_line_breaks, recipient, recipients, subject_line
from domain.person import Person
from domain.send import MASS, Send, message_id_for
from domain.synced_message import SyncedMessage
from domain.threads import thread_key
from domain.values import domain_of, stable_id
from domain.workspace import Workspace

MAX_MASS_RECIPIENTS = 50
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Outgoing:
    """What a member asks to send (as the API received it)."""

    to: list[str]
    subject: str
    text: str
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    html: str | None = None
    from_: str | None = None
    send_at: datetime | None = None
    attachments: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Parent:
    """The email replied to: one of its copies the sender may see, and its thread."""

    copy_id: str
    thread_key: str


@dataclass(frozen=True)
class Queued:
    id: str
    message_id: str
    thread_key: str
    position: int
    person_id: str | None = None


def key_digest(key: str) -> str:
    """What the log keeps of a client's Idempotency-Key."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def request_digest(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(repr(sorted(parts.items())).encode()).hexdigest()


class Sending:
    def __init__(self, app: MailTrail, index: SendIndex, templates: Templates, clock: Clock,
                 wake: Callable[[], object] = lambda: None) -> None:  # fmt: skip
        self.app = app
        self.index = index
        self.templates = templates
        self.clock = clock
        self.wake = wake  # tells the outbox worker a send is waiting

    # one send -----------------------------------------------------------------------
    def send(self, workspace_id: str, mailbox_id: str, actor_id: str, key: str | None, outgoing: Outgoing,
             parent: Parent | None = None) -> Queued:  # fmt: skip
        mailbox = self._sending_mailbox(workspace_id, mailbox_id, actor_id)
        headers, content = self._message(mailbox, outgoing, parent)
        queued = self._queue(mailbox, actor_id, key, headers, content, outgoing.send_at, parent)
        self.wake()
        return queued

    def _sending_mailbox(self, workspace_id: str, mailbox_id: str, actor_id: str) -> Mailbox:
        mailbox = self.app.load(Mailbox, mailbox_id, workspace_id)
        require_owner(mailbox.owner_id, actor_id, "the mailbox's owner (sending from it)")
        if mailbox.status in (REMOVED, DISCONNECTED):
            raise RuleViolationError(f"the mailbox is {mailbox.status}: it cannot send")
        if mailbox.provider != "imap" or not mailbox.connection.get("smtp_host"):
            raise RuleViolationError("this mailbox cannot send: connect an SMTP server (smtp_host) first")
        return mailbox

    def _message(
        self, mailbox: Mailbox, outgoing: Outgoing, parent: Parent | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        sender = recipient("from", outgoing.from_) if outgoing.from_ else mailbox.address
        if sender not in mailbox.addresses:
            raise RuleViolationError("from must be the mailbox's address or one of its aliases")
        to, cc, bcc = (recipients(name, values) for name, values in
                       (("to", outgoing.to), ("cc", outgoing.cc), ("bcc", outgoing.bcc)))  # fmt: skip
        check_counts(to, cc, bcc)
        workspace = self.app.load(Workspace, mailbox.workspace_id)
        headers: dict[str, Any] = {
            "from": sender,
            "from_name": no_line_breaks("sender name", str(workspace.member(mailbox.owner_id)["name"])),
            "to": to,
            "cc": cc,
            "bcc": bcc,
            "subject": subject_line(outgoing.subject),
        }
        if parent is not None:
            replied = self.app.load(SyncedMessage, parent.copy_id, mailbox.workspace_id).headers
            if replied.get("message_id"):
                headers["in_reply_to"] = f"<{replied['message_id']}>"
                refs = [*(replied.get("references") or []), replied["message_id"]]
                headers["references"] = [f"<{r}>" for r in refs]
        attachments = [_attachment(a) for a in outgoing.attachments]
        content = {"text": outgoing.text, "html": outgoing.html, "attachments": attachments}
        return headers, content

    def _queue(self, mailbox: Mailbox, actor_id: str, key: str | None, headers: dict[str, Any],
               content: dict[str, Any], send_at: datetime | None, parent: Parent | None,
               kind: str = "single", batch_id: str | None = None) -> Queued:  # fmt: skip
        now = self.clock.now()
        digest = key_digest(key or str(uuid.uuid4()))
        send_id = Send.create_id(mailbox.workspace_id, str(mailbox.id), actor_id, digest)
        asked = request_digest({**headers, **content, "send_at": send_at.isoformat() if send_at else None})
        if self.app.exists(send_id):
            return self._same(send_id, asked)
        if self.index.scheduled(mailbox.workspace_id) >= MAX_SCHEDULED:
            raise RuleViolationError(f"at most {MAX_SCHEDULED} sends may wait in a workspace's outbox")
        message_id = message_id_for(send_id, domain_of(headers["from"]))
        date = max(send_at, now) if send_at else now
        headers = {**headers, "message_id": message_id, "date": date.isoformat(), "request": asked}
        thread = parent.thread_key if parent else thread_key({"message_id": message_id.strip("<>")}, "")
        send = Send(
            workspace_id=mailbox.workspace_id, mailbox_id=str(mailbox.id), sender_id=actor_id, key=digest,
            message_id=message_id, thread_key=thread, headers=headers, content=content,
            queued_at=now.isoformat(), not_before=send_at.isoformat() if send_at else None, kind=kind,
            spaced=kind == MASS, batch_id=batch_id,
        )  # fmt: skip
        position = self.app.save_all(send, conflict="this Idempotency-Key is being used by another request")
        return Queued(str(send.id), message_id, thread, position)

    def _same(self, send_id: uuid.UUID, asked: str) -> Queued:
        """The send an Idempotency-Key already made; 409 when the request differs from it."""
        send = self.app.load(Send, send_id)
        if send.headers.get("request") not in (asked, None):
            raise ConflictError("this Idempotency-Key was used for a different message")
        return Queued(str(send.id), send.message_id, send.thread_key, self.app.position())

    def cancel(self, workspace_id: str, send_id: str, actor_id: str) -> int:
        send = self.app.load(Send, send_id, workspace_id)
        require_owner(send.sender_id, actor_id, "the sender")
        send.cancel(actor_id)
        return self.app.save_all(send)

    # mass sends ----------------------------------------------------------------------
    def render(self, workspace_id: str, mailbox_id: str, actor_id: str, person_ids: list[str], subject: str,
               text: str, html: str | None) -> list[tuple[Person, dict[str, Any]]]:  # fmt: skip
        """Each person and their rendered subject, text and html; 422 naming a template error."""
        mailbox = self._sending_mailbox(workspace_id, mailbox_id, actor_id)
        if not 1 <= len(person_ids) <= MAX_MASS_RECIPIENTS:
            raise RuleViolationError(f"recipients: from 1 to {MAX_MASS_RECIPIENTS} people")
        workspace = self.app.load(Workspace, workspace_id)
        sender = {"name": workspace.member(actor_id)["name"], "email": mailbox.address}
        rendered = []
        for person_id in dict.fromkeys(person_ids):
            person = self.app.load(Person, person_id, workspace_id)
            if person.merged_into or not person.addresses:
                raise RuleViolationError(f"person {person_id} has no address to send to")
            variables = {"person": _person_vars(person), "company": self._company(workspace_id, person),
                         "sender": sender}  # fmt: skip
            parts: dict[str, Any] = {}
            for name, template in (("subject", subject), ("text", text), ("html", html)):
                try:
                    parts[name] = (
                        None if template is None else self.templates.render(template, variables, name)
                    )
                except TemplateError as error:
                    raise RuleViolationError(str(error)) from None
            subject_line(parts["subject"])
            rendered.append((person, parts))
        return rendered

    def _company(self, workspace_id: str, person: Person) -> dict[str, Any]:
        domain = domain_of(person.addresses[0])
        company_id = Company.create_id(workspace_id, domain)
        if self.app.exists(company_id):
            return {"name": self.app.load(Company, company_id).name, "domain": domain}
        return {"name": None, "domain": domain}

    def mass_send(self, workspace_id: str, mailbox_id: str, actor_id: str, key: str | None, person_ids: list[str],
                  subject: str, text: str, html: str | None) -> tuple[str, list[Queued]]:  # fmt: skip
        """One send per person (its own status), spaced by the workspace's spacing."""
        rendered = self.render(workspace_id, mailbox_id, actor_id, person_ids, subject, text, html)
        mailbox = self._sending_mailbox(workspace_id, mailbox_id, actor_id)
        batch_key = key or str(uuid.uuid4())
        batch_id = str(stable_id("mass-send", workspace_id, mailbox_id, actor_id, key_digest(batch_key)))
        queued = []
        for person, parts in rendered:
            outgoing = Outgoing(to=[person.addresses[0]], subject=parts["subject"], text=parts["text"],
                                html=parts["html"])  # fmt: skip
            headers, content = self._message(mailbox, outgoing, None)
            one = self._queue(mailbox, actor_id, f"{batch_key}\x1f{person.id}", headers, content, None, None,
                              kind=MASS, batch_id=batch_id)  # fmt: skip
            queued.append(Queued(one.id, one.message_id, one.thread_key, one.position, str(person.id)))
        self.wake()
        return batch_id, queued


class NoOutbox:
    """A SendIndex for a runtime without the outbox's view (unit tests): nothing waits, nothing is due."""

    def due(self, now: datetime, limit: int) -> list[DueSend]:
        return []

    def scheduled(self, workspace_id: str) -> int:
        return 0


class NoTemplates:
    def render(self, template: str, variables: Mapping[str, Any], field: str) -> str:
        raise TemplateError("templates are not available in this runtime")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _person_vars(person: Person) -> dict[str, Any]:
    name = person.name.strip() or None
    return {"name": name, "first_name": name.split()[0] if name else None, "email": person.addresses[0]}


def _attachment(attachment: Mapping[str, str]) -> dict[str, str]:
    filename = no_line_breaks("attachments.filename", attachment.get("filename") or "")
    content_type = no_line_breaks(
        "attachments.content_type", attachment.get("content_type") or "application/octet-stream"
    )
    if not filename:
        raise RuleViolationError("attachments: every attachment needs a filename")
    if content_type.count("/") != 1 or any(c.isspace() or c in ';"' for c in content_type):
        raise RuleViolationError(f"attachments: {content_type!r} is not a content type")
    data = attachment.get("content_base64") or ""
    if len(data) * 3 // 4 > MAX_ATTACHMENT_BYTES:
        raise RuleViolationError("attachments: at most 10 MB each")
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RuleViolationError(f"attachments: {filename}: content_base64 is not base64") from None
    return {"filename": filename, "content_type": content_type, "content_base64": data}


__all__ = ["NotFoundError", "Outgoing", "Parent", "Queued", "Sending"]
