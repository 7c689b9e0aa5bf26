"""Delivery status notifications (RFC 3464): the failed recipients of a multipart/report.

Read with the standard library's parser, and only for a message whose top-level Content-Type
is multipart/report (adapters/mime.py asks): what failed (`Action: failed`), the recipient
(`Final-Recipient`), `Status`, `Diagnostic-Code`, and the Message-ID of the message returned
(its headers part, text/rfc822-headers or message/rfc822)."""

from __future__ import annotations

import email
import re
from email.message import Message
from email.policy import compat32

from domain.message import Bounce
from domain.values import normalize_address

MAX_DIAGNOSTIC_CHARS = 300
_MSG_ID = re.compile(r"<([^<>\s]+)>")


def _one_line(value: object) -> str:
    return " ".join(str(value or "").split())[:MAX_DIAGNOSTIC_CHARS]


def _message_id(headers: Message) -> str | None:
    found = _MSG_ID.search(str(headers.get("Message-ID") or ""))
    return found.group(1) if found else None


def delivery_failures(raw: bytes) -> tuple[Bounce, ...]:
    report = email.message_from_bytes(raw, policy=compat32)
    if report.get_content_type() != "multipart/report":
        return ()
    if str(report.get_param("report-type", "")).lower() != "delivery-status":
        return ()
    blocks: list[Message] = []
    original: str | None = None
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            payload = part.get_payload()
            blocks += [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
        elif kind == "text/rfc822-headers" and original is None:
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                original = _message_id(email.message_from_bytes(text, policy=compat32))
        elif kind == "message/rfc822" and original is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original = _message_id(inner[0])
    failures = []
    for block in blocks:
        if str(block.get("Action") or "").strip().lower() != "failed":
            continue
        recipient = normalize_address(str(block.get("Final-Recipient") or "").rpartition(";")[2])
        if recipient is not None:
            failures.append(Bounce(recipient, _one_line(block.get("Status")), _one_line(block.get("Diagnostic-Code")),
                                   original))  # fmt: skip
    return tuple(failures)
