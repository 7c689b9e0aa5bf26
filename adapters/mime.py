"""Raw RFC 5322 / MIME bytes -> ParsedMessage. Never raises; oddities go to `defects`.

Header blocks are split into fields once, by hand, following the email package's compat32
parser, and read with the email package (getaddresses, parsedate_to_datetime, make_header,
RFC 2231 parameters). The body is walked over the raw bytes, never into forwarded messages:
several times faster than `BytesParser`, whose line-by-line feed alone costs more.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from typing import Any

from adapters.dsn import delivery_failures
from adapters.mime_text import (
    HeaderCharsets,
    cap,
    clean,
    collapse,
    declared_charsets,
    decode_bytes,
    decode_transfer,
    decode_words,
    header_text,
    html_to_text,
    parse_params,
    read_fields,
    read_head,
    split_multipart,
)
from domain.message import Address, Attachment, ParsedMessage
from domain.values import lenient_address, normalize_address

MAX_BODY_CHARS = 200_000
MAX_DEPTH = 20
MAX_PARTS = 500
FINGERPRINT_BODY_BYTES = 4096
MAX_ODD_ADDRESS_CHARS = 16_384  # getaddresses costs ~15 us a character on hostile input

_IDENTITY_HEADERS = ("message-id", "date", "from", "to", "cc", "subject")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_BLANKS = (b" ", b"\t", b"\x0b", b"\x0c")  # what bytes.rstrip() takes off besides line breaks
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_FORWARDED = frozenset({"message/rfc822", "message/global"})
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
# Fast path for the everyday mailbox forms (`a@b.c`, `Name <a@b.c>`, `"Name" <a@b.c>`),
# on which getaddresses gives the same pairs; anything else goes to getaddresses.
_ATOM = r'[^\s()<>@,:;."\[\]\\]+'
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*"
_ANY_ADDR_SPEC = re.compile(rf'(?<![^\s()<>,:;"\[\]\\]){_ADDR_SPEC}')  # starts only after a delimiter
_WORD = r'[^\s()<>@,:;"\[\]\\]+'
_SIMPLE_MAILBOX = re.compile(
    rf'\s*(?:({_ADDR_SPEC})|(?:"([^"\\]*)"|({_WORD}(?:\s+{_WORD})*))?\s*<({_ADDR_SPEC})>)\s*(,|\Z)'
)

_normalize_address = lru_cache(maxsize=8192)(normalize_address)  # a mailbox repeats its people
_lenient_address = lru_cache(maxsize=1024)(lenient_address)
_AT_TOKEN = re.compile(r'[^\s,;<>()"]*@[^\s,;<>()"@]+')  # what has a domain, in a list too odd to read

Headers = dict[str, list[str]]  # lower-case name -> raw unfolded values, in order
PartHead = dict[str, str]  # lower-case name -> first raw unfolded value
Params = dict[str, str]


@dataclass(slots=True)
class _Part:
    head: PartHead
    body: bytes
    depth: int
    default_type: str = "text/plain"
    plain_twin: bool = False  # within a multipart/alternative that has a text/plain rendering


@dataclass(slots=True)
class _Content:
    """The body as it is walked: displayable inline parts in document order."""

    charsets: HeaderCharsets = field(default_factory=HeaderCharsets)
    text: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    parts: int = 0
    chars: int = 0

    def add(self, pieces: list[str], text: str) -> None:
        if text:
            self.chars += len(text)
            pieces.append(text)


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one raw message. Never raises: problems are listed in `defects`."""
    try:
        data = bytes(raw) if isinstance(raw, (bytearray, memoryview)) else raw
        return _parse(data)
    except Exception as exc:  # noqa: BLE001 - final guard: a parser bug must not stop a sync
        return _unparseable(raw, exc)


def _parse(raw: bytes) -> ParsedMessage:
    defects: list[str] = []
    items, body = read_fields(raw, defects)
    headers: Headers = {}
    for name, value in items:
        headers.setdefault(name.lower(), []).append(value)

    message_id = _message_id(headers, defects)
    content = _Content(charsets=_header_charsets(headers))
    _walk(_Part({name: values[0] for name, values in headers.items()}, body, 0), content, defects)
    unparsed: list[str] = []
    from_ = _addresses(headers, "from", defects, content.charsets, unparsed)
    if not from_:
        defects.append("no-from")
    html, text = _joined(content.html), _joined(content.text)
    has_message_id = message_id is not None
    fingerprint, legacy_fingerprint = _fingerprint(items, headers, body, has_message_id=has_message_id)
    return ParsedMessage(
        message_id=message_id,
        subject=_text(headers, "subject", defects, content.charsets),
        date=_date(headers, defects),
        from_=from_,
        sender=_addresses(headers, "sender", defects, content.charsets, unparsed),
        reply_to=_addresses(headers, "reply-to", defects, content.charsets, unparsed),
        to=_addresses(headers, "to", defects, content.charsets, unparsed),
        cc=_addresses(headers, "cc", defects, content.charsets, unparsed),
        bcc=_addresses(headers, "bcc", defects, content.charsets, unparsed),
        in_reply_to=_in_reply_to(headers, defects),
        references=tuple(_MSG_ID.findall(" ".join(_texts(headers, "references", defects)))),
        bulk=_is_bulk(headers),
        body_text=cap(text, MAX_BODY_CHARS, defects),
        body_html=cap(html, MAX_BODY_CHARS, defects),
        attachments=tuple(content.attachments),
        size=len(raw),
        fingerprint=fingerprint,
        defects=tuple(dict.fromkeys(defects)),
        legacy_fingerprint=legacy_fingerprint,
        unparsed=tuple(dict.fromkeys(unparsed)),
        bounces=delivery_failures(raw) if _is_report(headers) else (),
    )


def _is_report(headers: Headers) -> bool:
    """A multipart/report at the top: perhaps a delivery status notification (adapters/dsn.py)."""
    return any(v.strip().lower().startswith("multipart/report") for v in headers.get("content-type", ()))


def _unparseable(raw: object, exc: Exception) -> ParsedMessage:
    data = raw if isinstance(raw, (bytes, bytearray, memoryview)) else b""
    return ParsedMessage(
        message_id=None, subject="", date=None, from_=(), sender=(), reply_to=(), to=(), cc=(),
        bcc=(), in_reply_to=None, references=(), bulk=False, body_text="", body_html="",
        attachments=(), size=len(data), fingerprint=hashlib.sha256(data).hexdigest()[:32],
        defects=(f"parse-error:{type(exc).__name__}",),
    )  # fmt: skip


# --- headers -------------------------------------------------------------------------


def _header_charsets(headers: Headers) -> HeaderCharsets:
    """The reader of this message's 8-bit headers; the body walk adds its parts' charsets."""
    declared = declared_charsets(v for values in headers.values() for v in values)

    def sample() -> bytes:  # the 8-bit header text a guess is made from, when one is needed
        raw = (v.encode("utf-8", "surrogateescape") for vs in headers.values() for v in vs if not v.isascii())
        return b"\n".join(r for r in raw if not _is_utf8(r))

    return HeaderCharsets(declared, sample)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _texts(
    headers: Headers, name: str, defects: list[str], charsets: HeaderCharsets | None = None
) -> list[str]:
    values = headers.get(name)
    return [header_text(value, defects, charsets) for value in values] if values else []


def _text(headers: Headers, name: str, defects: list[str], charsets: HeaderCharsets | None = None) -> str:
    values = headers.get(name)
    return collapse(decode_words(header_text(values[0], defects, charsets), defects)) if values else ""


def _message_id(headers: Headers, defects: list[str]) -> str | None:
    values = _texts(headers, "message-id", defects)
    text = values[0] if values else ""
    match = _MSG_ID.search(text)
    message_id = match.group(1) if match else "".join(text.split()).strip("<>")
    if not message_id:
        defects.append("no-message-id")
    return message_id or None


def _in_reply_to(headers: Headers, defects: list[str]) -> str | None:
    text = " ".join(_texts(headers, "in-reply-to", defects))
    match = _MSG_ID.search(text)
    if match:
        return match.group(1)
    bare = text.split()
    return (bare[0].strip("<>") or None) if len(bare) == 1 else None


def _date(headers: Headers, defects: list[str]) -> datetime | None:
    values = _texts(headers, "date", defects)
    if not values:
        defects.append("no-date")
        return None
    try:
        parsed = parsedate_to_datetime(collapse(values[0]))
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError, AttributeError):
        defects.append("bad-date")
        return None


def _addresses(
    headers: Headers,
    name: str,
    defects: list[str],
    charsets: HeaderCharsets | None = None,
    unparsed: list[str] | None = None,
) -> tuple[Address, ...]:
    """The field's mailboxes; those whose address does not normalise go to `unparsed`, read by
    lenient_address, for blocklists and exclusions to see."""
    unparsed = [] if unparsed is None else unparsed
    values = _texts(headers, name, defects, charsets)
    if not values:
        return ()
    pairs = _simple_mailboxes(values)
    try:
        if pairs is None and sum(map(len, values)) <= MAX_ODD_ADDRESS_CHARS:
            pairs = getaddresses(values)
    except (ValueError, TypeError, IndexError, AttributeError, RecursionError):
        pass
    if pairs is None:  # too odd for getaddresses: salvage what looks like addresses
        defects.append("bad-address-list")
        pairs = [("", address) for address in _ANY_ADDR_SPEC.findall(" ".join(values))]
        unparsed.extend(filter(None, map(_lenient_address, _AT_TOKEN.findall(" ".join(values)))))
    found: dict[str, Address] = {}
    for display, address in pairs:
        if not display and not address:
            continue  # an empty group such as "undisclosed-recipients:;"
        email = _normalize_address(address) if address else None
        if email is None:
            defects.append("bad-address")
            lenient = _lenient_address(address) if address else None
            if lenient is not None:
                unparsed.append(lenient)
        elif email not in found:
            found[email] = Address(email=email, name=collapse(decode_words(display, defects)))
    return tuple(found.values())


def _simple_mailboxes(values: list[str]) -> list[tuple[str, str]] | None:
    """What getaddresses(values) returns, when every mailbox has an everyday form."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        position, more = 0, bool(value.strip())
        while more:
            match = _SIMPLE_MAILBOX.match(value, position)
            if match is None:
                return None
            bare, quoted, phrase, address, comma = match.groups()
            pairs.append(("", bare) if bare else (quoted or " ".join((phrase or "").split()), address))
            position, more = match.end(), bool(comma)
    return pairs


def _is_bulk(headers: Headers) -> bool:
    if "list-unsubscribe" in headers or "list-id" in headers:
        return True
    if any(collapse(value).lower() in _BULK_PRECEDENCE for value in headers.get("precedence", ())):
        return True
    auto = headers.get("auto-submitted")
    return auto is not None and auto[0].split(";")[0].split("(")[0].strip().lower() != "no"


def _fingerprint(
    items: list[tuple[str, str]], headers: Headers, body: bytes, *, has_message_id: bool
) -> tuple[str, str | None]:
    """sha256 over the identity headers (raw, whitespace-collapsed); without a
    Message-ID also over every other header line; then over the normalised body.
    Also the identity-version-1 digest when it differs (see ParsedMessage.legacy_fingerprint)."""
    lines = [f"{name}:{collapse(value)}" for name in _IDENTITY_HEADERS for value in headers.get(name) or [""]]
    if not has_message_id:
        lines.append("")
        lines.extend(f"{name.strip().lower()}:{collapse(value)}" for name, value in items
                     if name.lower() not in _IDENTITY_HEADERS)  # fmt: skip
    digest = hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape"))
    # The body keeps apart different messages that reuse one Message-ID and headers; line
    # endings and trailing blanks, which servers rewrite, do not count. Version 1 cut the body
    # at FINGERPRINT_BODY_BYTES and then normalised it, so an IMAP copy (CRLF) and an mbox copy
    # (LF) of a longer body digested different text. Version 2 normalises the whole body the
    # same way and digests all of it: no cut, so a body of at most FINGERPRINT_BODY_BYTES keeps
    # its version 1 id, and messages that differ further on stay apart.
    fingerprint = _body_digest(digest.copy(), body)
    if len(body) <= FINGERPRINT_BODY_BYTES:
        return fingerprint, None
    legacy = _body_digest(digest, body[:FINGERPRINT_BODY_BYTES])
    return fingerprint, (legacy if legacy != fingerprint else None)


def _body_digest(digest: Any, body: bytes, chunk: int = 1 << 20) -> str:
    """`digest` updated with the normalised body: lines (CRLF, CR or LF) without trailing blanks,
    joined by LF, without blank lines around; computed a chunk at a time, cut after an LF."""
    digest.update(b"\n\n")
    body = body.strip()
    start = 0
    while start < len(body):
        cut = body.find(b"\n", start + chunk)
        end = len(body) if cut < 0 else cut + 1
        piece = body[start:end].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if any(blank + b"\n" in piece for blank in _BLANKS):
            piece = b"\n".join([line.rstrip() for line in piece.split(b"\n")])
        digest.update(piece)
        start = end
    return str(digest.hexdigest()[:32])


# --- body ----------------------------------------------------------------------------


def _walk(root: _Part, content: _Content, defects: list[str]) -> None:
    """Depth-first over the MIME tree, in document order, within the caps."""
    stack = [root]
    while stack:
        part = stack.pop()
        content.parts += 1
        if content.parts > MAX_PARTS:
            defects.append("too-many-parts")
            return
        try:
            stack.extend(reversed(_visit(part, content, defects)))
        except Exception as exc:  # noqa: BLE001 - one hostile part must not cost the others
            defects.append(f"part-error:{type(exc).__name__}")


def _visit(part: _Part, content: _Content, defects: list[str]) -> list[_Part]:
    """Handle one part; return its children when it is a multipart."""
    content_type, params = parse_params(part.head.get("content-type", ""))
    if params.get("charset"):
        content.charsets.declared.append(params["charset"])
    if not _CONTENT_TYPE.fullmatch(content_type):
        if content_type:
            defects.append("bad-content-type")
        content_type, params = part.default_type, {}
    if content_type.startswith("multipart/"):
        children = _children(part, content_type, params.get("boundary", "").rstrip(), defects)
        if children is not None:
            return children
        content_type = "text/plain"
    if content_type in _FORWARDED:
        content.attachments.append(_forwarded(part, content_type, content, defects))
    else:
        _leaf(part, content_type, params, content, defects)
    return []


def _children(part: _Part, content_type: str, boundary: str, defects: list[str]) -> list[_Part] | None:
    if not boundary:
        defects.append("NoBoundaryInMultipartDefect")
        return None
    if part.depth >= MAX_DEPTH:
        defects.append("mime-too-deep")
        return []
    if _transfer_encoding(part) not in ("", "7bit", "8bit", "binary"):
        defects.append("InvalidMultipartContentTransferEncodingDefect")
    default_type = "message/rfc822" if content_type == "multipart/digest" else "text/plain"
    children = []
    for chunk in split_multipart(part.body, boundary.encode("utf-8", "surrogateescape"), MAX_PARTS, defects):
        head, body = read_head(chunk, defects)
        children.append(_Part(head, body, part.depth + 1, default_type, part.plain_twin))
    if content_type == "multipart/alternative" and any(_is_plain(child) for child in children):
        for child in children:
            child.plain_twin = True
    return children


def _is_plain(part: _Part) -> bool:
    content_type = parse_params(part.head.get("content-type", ""))[0]
    return content_type == "text/plain" or (not content_type and part.default_type == "text/plain")


def _transfer_encoding(part: _Part) -> str:
    return collapse(part.head.get("content-transfer-encoding", "")).lower()


def _decoded(value: str, defects: list[str], charsets: HeaderCharsets) -> str:
    return collapse(decode_words(header_text(value, defects, charsets), defects)) if value else ""


def _forwarded(part: _Part, content_type: str, content: _Content, defects: list[str]) -> Attachment:
    """A forwarded message, named by its Subject; its body is not read."""
    payload = decode_transfer(part.body, _transfer_encoding(part), defects)
    payload = part.body if payload is None else payload
    inner, _ = read_head(payload, [])
    disposition_params = parse_params(part.head.get("content-disposition", ""))[1]
    name = _decoded(inner.get("subject", ""), defects, content.charsets)
    name = name or _decoded(disposition_params.get("filename", ""), defects, content.charsets)
    return Attachment(
        filename=name or "forwarded.eml", content_type=content_type, size=len(payload), data=payload
    )


def _leaf(part: _Part, content_type: str, params: Params, content: _Content, defects: list[str]) -> None:
    """A displayable inline part (text/plain, text/html) is body text, joined in document order;
    anything else is an attachment. A part is inline when its disposition says so, or when it
    has neither a disposition nor a file name."""
    raw_disposition = part.head.get("content-disposition", "")
    disposition, disposition_params = parse_params(raw_disposition)
    named = disposition_params.get("filename") or params.get("name") or ""
    filename = _decoded(named, defects, content.charsets)
    inline = disposition == "inline" or (not disposition and not filename)
    is_plain, is_html = content_type == "text/plain", content_type == "text/html"
    decoded = decode_transfer(part.body, _transfer_encoding(part), defects)
    payload = part.body if decoded is None else decoded
    if not (inline and (is_plain or is_html)):
        content.attachments.append(Attachment(filename, content_type, len(payload), payload))
        return
    if content.chars >= 2 * MAX_BODY_CHARS:
        defects.append("body-truncated")
        return
    text = cap(clean(decode_bytes(payload, params.get("charset"), defects), defects), MAX_BODY_CHARS, defects)
    if is_plain:
        content.add(content.text, text)
        return
    content.add(content.html, text)
    if not part.plain_twin:  # an HTML part with no plain rendering beside it is text too
        content.add(content.text, html_to_text(text))


def _joined(pieces: list[str]) -> str:
    """Body pieces in order, each starting on a line of its own."""
    if len(pieces) <= 1:
        return pieces[0] if pieces else ""
    joined = [pieces[0]]
    for piece in pieces[1:]:
        if not joined[-1].endswith("\n"):
            joined.append("\n")
        joined.append(piece)
    return "".join(joined)
