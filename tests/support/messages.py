"""Message builders: small raw RFC 822 messages."""

from __future__ import annotations


def message(
    sender: str,
    to: str | list[str],
    subject: str = "Hello",
    *,
    cc: list[str] | None = None,
    message_id: str | None = "<m1@example.com>",
    date: str = "Mon, 02 Jun 2025 10:00:00 +0000",
    body: str = "Hi there.",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A small raw RFC 822 message."""
    recipients = [to] if isinstance(to, str) else to
    lines = [f"From: {sender}", f"To: {', '.join(recipients)}", f"Subject: {subject}", f"Date: {date}"]
    if cc:
        lines.append(f"Cc: {', '.join(cc)}")
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()
