"""A queued send as the RFC 5322 message handed to the transport (stdlib `email`).

Everything here was checked when the send was queued (domain/outgoing.py: no line breaks in a
header field, plain addresses); the `email` package's SMTP policy refuses a header with a
line break anyway, so a header can never be injected."""

from __future__ import annotations

import base64
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any


def _address(email: str, name: str = "") -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def compose(headers: dict[str, Any], content: dict[str, Any], date: datetime) -> bytes:
    """The raw message (CRLF line ends), without Bcc (the envelope carries those)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(headers["from"], headers.get("from_name") or "")
    message["To"] = [_address(a) for a in headers["to"]]
    if headers.get("cc"):
        message["Cc"] = [_address(a) for a in headers["cc"]]
    message["Subject"] = headers["subject"]
    message["Date"] = format_datetime(date)
    message["Message-ID"] = headers["message_id"]
    if headers.get("in_reply_to"):
        message["In-Reply-To"] = headers["in_reply_to"]
    if headers.get("references"):
        message["References"] = " ".join(headers["references"])
    message.set_content(content.get("text") or "")
    if content.get("html"):
        message.add_alternative(content["html"], subtype="html")
    for attachment in content.get("attachments") or []:
        maintype, _, subtype = str(attachment.get("content_type") or "application/octet-stream").partition(
            "/"
        )
        message.add_attachment(
            base64.b64decode(attachment["content_base64"]), maintype=maintype, subtype=subtype or "octet-stream",
            filename=attachment["filename"],
        )  # fmt: skip
    return message.as_bytes()


def envelope(headers: dict[str, Any]) -> tuple[str, list[str]]:
    """(MAIL FROM, RCPT TO): the sender, and every To, Cc and Bcc address once."""
    recipients = list(dict.fromkeys([*headers["to"], *headers.get("cc", []), *headers.get("bcc", [])]))
    return headers["from"], recipients
