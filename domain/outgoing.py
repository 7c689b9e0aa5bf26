"""What an outgoing message may carry: addresses and header fields checked before it is queued."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from domain.errors import RuleViolationError
from domain.values import normalize_address

MAX_RECIPIENTS = 50
MAX_SUBJECT_CHARS = 998
_LOCAL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+")


def no_line_breaks(field: str, value: str) -> str:
    """A header field never holds CR, LF or NUL (no header can be injected through it)."""
    if any(c in value for c in "\r\n\x00") or any(c in value for c in "\u2028\u2029\x85"):
        raise RuleViolationError(f"{field} must not contain line breaks")
    return value


def recipient(field: str, value: str) -> str:
    """A plain address (local@domain), normalised; 422 naming the field otherwise."""
    no_line_breaks(field, value)
    local, _, _ = value.strip().rpartition("@")
    normalized = normalize_address(value)
    if normalized is None or not _LOCAL.fullmatch(local) or local.startswith(".") or ".." in local:
        raise RuleViolationError(f"{field}: {value!r} is not a valid email address")
    return normalized


def recipients(field: str, values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(recipient(field, v) for v in values))


def check_counts(to: list[str], cc: list[str], bcc: list[str]) -> None:
    if not to:
        raise RuleViolationError("to: at least one recipient")
    if len({*to, *cc, *bcc}) > MAX_RECIPIENTS:
        raise RuleViolationError(f"at most {MAX_RECIPIENTS} recipients in all")


def subject_line(value: str) -> str:
    no_line_breaks("subject", value)
    if len(value) > MAX_SUBJECT_CHARS:
        raise RuleViolationError(f"subject: at most {MAX_SUBJECT_CHARS} characters")
    return value


def send_time(value: str | None) -> datetime | None:
    """`send_at`: an ISO time with a timezone (UTC from here on), or None for at once."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RuleViolationError("send_at must be an ISO time with a timezone") from None
    if parsed.tzinfo is None:
        raise RuleViolationError("send_at must be an ISO time with a timezone")
    return parsed.astimezone(UTC)
