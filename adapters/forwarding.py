"""The original inside a forward (the ForwardReader port): an attached `message/rfc822` part as it
is, or an inline forward's header block read by the heuristic of docs/forwarding.md and rebuilt
as a small RFC 822 message. Never raises: what cannot be read is UNRECOVERED with a reason."""

from __future__ import annotations

import base64
import quopri
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import Header
from email.message import Message
from email.utils import format_datetime, formataddr, getaddresses, parsedate_to_datetime
from html import unescape

from application.ports import Original
from domain.capture import ATTACHED, INLINE, UNRECOVERED

# The line that opens a forwarded block: Gmail, Outlook's rule or "Original Message", Apple Mail.
MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|original message)\s*-*|_{8,}|begin forwarded message:)\s*$",
    re.IGNORECASE,
)
# One header line of the block; Outlook's plain text sometimes stars the names (`*From:*`).
FIELD = re.compile(r"^\*?(from|sent|date|to|cc|subject)\*?\s*:\s*\*?\s*(.*)$", re.IGNORECASE)
MAILTO = re.compile(r"\[mailto:([^\]\s]+)\]", re.IGNORECASE)
BREAK = re.compile(r"<(?:br|/p|/div|/tr)\b[^>]*>", re.IGNORECASE)
TAG = re.compile(r"<[^>]+>")
DATE_FORMATS = (
    "%a, %b %d, %Y %I:%M %p",  # Gmail: Mon, Jun 2, 2025 at 10:00 AM ("at" removed)
    "%A, %B %d, %Y %I:%M %p",  # Outlook (US): Monday, June 2, 2025 10:00 AM
    "%A, %B %d, %Y %I:%M:%S %p",
    "%A, %d %B %Y %H:%M",  # Outlook (UK): Monday, 2 June 2025 10:00
    "%A, %B %d, %Y %H:%M",
    "%d %B %Y %H:%M",
    "%a, %d %b %Y %H:%M",
    "%m/%d/%Y %I:%M %p",  # older Outlook: 6/2/2025 10:00 AM
    "%Y-%m-%d %H:%M",
)
ADDRESS_FIELDS = ("from", "to", "cc")


class Forwards:
    """The ForwardReader port."""

    def original(self, raw: bytes) -> Original:
        try:
            message = message_from_bytes(raw, policy=policy.compat32)
            attached = _attached(message)
            if attached is not None:
                return Original(ATTACHED, attached)
            return _inline(message)
        except Exception as exc:  # noqa: BLE001 - a forward that breaks the parser is recorded as it is
            return Original(UNRECOVERED, None, f"the forward could not be read ({type(exc).__name__})")


def _attached(message: Message) -> bytes | None:
    """The first attached message (message/rfc822, or an .eml file), its bytes as sent."""
    for part in message.walk():
        if part is message:
            continue
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if not isinstance(inner, Message):
                return None
            encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
            if encoding in ("base64", "quoted-printable") and not inner.keys():  # encoded, against RFC 2046
                text = str(inner.get_payload()).encode("ascii", "replace")
                return base64.b64decode(text) if encoding == "base64" else quopri.decodestring(text)
            return inner.as_bytes(policy=policy.compat32)
        elif (part.get_filename() or "").lower().endswith(".eml"):
            decoded = part.get_payload(decode=True)
            return decoded if isinstance(decoded, bytes) and decoded.strip() else None
    return None


def _text(message: Message) -> str:
    """The forward's text: its first text/plain part, else its HTML without tags."""
    plain, html = None, None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html"):
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                continue
            text = data.decode(part.get_content_charset() or "utf-8", "replace")
            if kind == "text/plain" and plain is None:
                plain = text
            elif kind == "text/html" and html is None:
                html = text
    if plain is not None:
        return plain
    if html is None:
        return ""
    return unescape(TAG.sub("", BREAK.sub("\n", html))).replace("\xa0", " ")


def block(text: str) -> tuple[dict[str, str], str] | str:
    """The forwarded block's fields (from, date, subject, to, cc) and the text after it, or the
    reason nothing was found. See docs/forwarding.md."""
    lines = [line.lstrip("> ").rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    start = next((i + 1 for i, line in enumerate(lines) if MARKER.match(line)), None)
    if start is None:  # Outlook without its rule: a From: line, then a Sent: line within 4 lines
        for i, line in enumerate(lines):
            if _name(line) == "from" and any(_name(later) == "sent" for later in lines[i + 1 : i + 5]):
                start = i
                break
    if start is None:
        return "no forwarded message block found"
    fields: dict[str, str] = {}
    last, end = None, start
    for j in range(start, len(lines)):
        line = lines[j].strip()
        end = j
        if not line:
            if fields:
                break
            continue
        found = FIELD.match(line)
        if found:
            last = "date" if found.group(1).lower() == "sent" else found.group(1).lower()
            fields.setdefault(last, found.group(2).strip())
        elif last in ("to", "cc"):  # a wrapped list of addresses
            fields[last] += " " + line
        else:
            break
    if not fields:
        return "the forwarded block has no header lines"
    return fields, "\n".join(lines[end + 1 :]).strip("\n")


def _name(line: str) -> str | None:
    found = FIELD.match(line.strip())
    return found.group(1).lower() if found else None


def addresses(value: str) -> list[tuple[str, str]]:
    """(name, address) pairs of a block's line: `;`-separated (Outlook), `[mailto:x]` forms."""
    value = MAILTO.sub(r"<\1>", value).replace(";", ",")
    return [(name.strip('"* '), addr) for name, addr in getaddresses([value]) if "@" in addr]


def forwarded_date(value: str, fallback: datetime | None) -> datetime | None:
    """The block's date: RFC 5322, or one of the clients' formats read in the forward's own
    time zone (the forwarder's client wrote both); None when it cannot be read."""
    zone = fallback.tzinfo if fallback is not None and fallback.tzinfo is not None else UTC
    try:
        parsed = parsedate_to_datetime(value)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
    except (TypeError, ValueError, IndexError):
        pass
    cleaned = " ".join(re.sub(r"\s+at\s+", " ", value.replace("\u202f", " ")).split())
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, form).replace(tzinfo=zone)
        except ValueError:
            continue
    return None


def _inline(message: Message) -> Original:
    found = block(_text(message))
    if isinstance(found, str):
        return Original(UNRECOVERED, None, found)
    fields, body = found
    senders = addresses(fields.get("from", ""))
    if not senders:
        return Original(UNRECOVERED, None, "the forwarded block names no sender address")
    try:
        outer_date: datetime | None = parsedate_to_datetime(str(message.get("date", "")))
    except (TypeError, ValueError, IndexError):
        outer_date = None
    recovered = forwarded_date(fields.get("date", ""), outer_date)
    date = recovered or outer_date
    head = [f"From: {_joined(senders[:1])}"]
    for name in ("to", "cc"):
        found_addresses = addresses(fields.get(name, ""))
        if found_addresses:
            head.append(f"{name.capitalize()}: {_joined(found_addresses)}")
    subject = " ".join(fields.get("subject", "").split())
    head.append(f"Subject: {subject if subject.isascii() else Header(subject, 'utf-8').encode()}")
    if date is not None:
        head.append(f"Date: {format_datetime(date)}")
    head += [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    reason = "" if recovered is not None else "the forwarded date was not understood; the forward's is used"
    raw = ("\r\n".join(head) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode("utf-8")
    return Original(INLINE, raw, reason)


def _joined(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(formataddr((name, addr), charset="utf-8") for name, addr in pairs)
