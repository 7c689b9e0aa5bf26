"""Tolerant helpers for MIME parsing: header text, encoded words, charsets, transfer
encodings, HTML-to-text, and the byte-level structure (header blocks, parameters,
multipart bodies). None of them raises on bad input: problems are appended to the
caller's `defects` list as short strings."""

from __future__ import annotations

import binascii
import codecs
import email.charset
import html
import re
from functools import lru_cache

from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import collapse_rfc2231_value, decode_params, unquote

MAX_HEADER_CHARS = 65_536

_WHITESPACE = re.compile(r"\s+")
_NAME = r"[\x21-\x39\x3b-\x7e]+"
_VALUE = r"[^\r\n]*(?:(?:\r\n|\r|\n)[ \t][^\r\n]*)*"
_EOL = r"(?:\r\n|\r|\n|\Z)"
_FIELD = re.compile(rf"({_NAME})[ \t]*:[ \t]*({_VALUE}){_EOL}")
_FIELDS = re.compile(rf"(?:{_NAME}[ \t]*:[ \t]*{_VALUE}{_EOL})*".encode())
_UNFOLD = re.compile(r"[\r\n]")
_FOLD = re.compile(r"\n(?=[ \t])")
_BLANK_LINE = re.compile(rb"\r\n|\r|\n")
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|\Z)")
_STRAY_LINES = {b" ": "FirstHeaderLineIsContinuationDefect", b"\t": "FirstHeaderLineIsContinuationDefect",
                b":": "InvalidHeaderDefect"}  # fmt: skip
_PARAM = re.compile(r';\s*([^\s;=]+)\s*=\s*("(?:\\.|[^"\\])*"|[^;]*)')
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(?==\?)")
_BASE64_NOISE = re.compile(rb"[^A-Za-z0-9+/]")
_TAG = re.compile(r"<[^<>]*>")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r" ?\n\s*")
_LINE_BREAK_TAG = re.compile(r"<(?:br|/p|/div|/tr|/td|/th|/li|/h[1-6]|/table|/blockquote)\b[^<>]*>", re.I)
_DROPPED_BLOCKS = tuple(
    (re.compile(start, re.I), re.compile(end, re.I))
    for start, end in (("<!--", "-->"), ("<script\\b", "</script"), ("<style\\b", "</style"), ("<head\\b", "</head"))
)
# Codecs that are not charsets, or whose decoders are super-linear on hostile input.
_REFUSED_CODECS = frozenset({"punycode", "idna", "unicode-escape", "raw-unicode-escape", "undefined"})
_IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})


def collapse(value: str) -> str:
    """Whitespace runs become one space; ends stripped."""
    return _WHITESPACE.sub(" ", value).strip()


def clean(text: str, defects: list[str]) -> str:
    """Text safe to store: no NUL characters and no lone surrogates."""
    if "\x00" in text:
        defects.append("nul-bytes")
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def short(value: str) -> str:
    """A value fit to embed in a defect string (ASCII, at most 40 characters)."""
    return value[:40].encode("ascii", "replace").decode("ascii")


def header_text(raw_value: str, defects: list[str]) -> str:
    """A raw (unfolded, surrogate-escaped) header value as text: 8-bit bytes are read
    as UTF-8, else Latin-1. Encoded words are left alone."""
    value = raw_value
    if len(value) > MAX_HEADER_CHARS:
        defects.append("header-truncated")
        value = value[:MAX_HEADER_CHARS]
    if not value.isascii():
        data = value.encode("utf-8", "surrogateescape")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            defects.append("8bit-header-not-utf8")
            value = data.decode("latin-1")
    return clean(value, defects)


def decode_words(text: str, defects: list[str]) -> str:
    """RFC 2047 decoding of `text` (already unfolded), tolerant of bad words."""
    if "=?" not in text:
        return text
    if text.isascii():
        try:
            return clean(str(make_header(decode_header(text))), defects)
        except (HeaderParseError, LookupError, UnicodeError, ValueError, TypeError, AssertionError):
            pass
    return clean(_decode_words_by_hand(text, defects), defects)


def _decode_words_by_hand(text: str, defects: list[str]) -> str:
    def word(match: re.Match[str]) -> str:
        charset, encoding, encoded = match.group(1), match.group(2).lower(), match.group(3)
        data = encoded.encode("utf-8", "surrogateescape")
        if encoding == "q":
            return decode_bytes(binascii.a2b_qp(data, header=True), charset, defects)
        decoded = _base64(data, defects)
        if decoded is None:
            defects.append("bad-encoded-word")
            return match.group(0)
        return decode_bytes(decoded, charset, defects)

    return _ENCODED_WORD.sub(word, _BETWEEN_WORDS.sub(r"\1", text))


@lru_cache(maxsize=256)
def _codec_name(charset: str) -> str | None:
    name = charset.strip().strip("\"'").lower().partition("*")[0]
    name = email.charset.ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None
    return None if codec.replace("_", "-") in _REFUSED_CODECS else codec


def decode_bytes(data: bytes, charset: str | None, defects: list[str]) -> str:
    """Bytes to text with the declared charset; never raises."""
    codec = _codec_name(charset) if charset else "ascii"
    if codec is None:
        defects.append(f"unknown-charset:{short(charset or '')}")
        return data.decode("utf-8", "replace")
    try:
        return data.decode(codec)
    except LookupError:
        defects.append(f"unknown-charset:{short(charset or '')}")
        return data.decode("utf-8", "replace")
    except (UnicodeError, ValueError):
        pass
    if codec == "ascii":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            defects.append("charset-mismatch:us-ascii")
            return data.decode("latin-1")
    defects.append(f"charset-mismatch:{short(codec)}")
    try:
        return data.decode(codec, "replace")
    except (LookupError, UnicodeError, ValueError):
        return data.decode("utf-8", "replace")


def _base64(data: bytes, defects: list[str]) -> bytes | None:
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        pass
    defects.append("bad-base64")
    cleaned = _BASE64_NOISE.sub(b"", data.split(b"=", 1)[0])
    cleaned = cleaned[: len(cleaned) - 1] if len(cleaned) % 4 == 1 else cleaned
    try:
        return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        return None


def decode_transfer(data: bytes, encoding: str, defects: list[str]) -> bytes | None:
    """The payload with its Content-Transfer-Encoding undone, or None when undecodable."""
    encoding = encoding.strip().lower()
    if encoding in _IDENTITY_ENCODINGS:
        return data
    if encoding == "base64":
        return _base64(data, defects)
    if encoding == "quoted-printable":
        try:
            return binascii.a2b_qp(data)
        except (binascii.Error, ValueError):
            defects.append("bad-quoted-printable")
            return None
    defects.append(f"unknown-transfer-encoding:{short(encoding)}")
    return data


def cap(text: str, limit: int, defects: list[str]) -> str:
    if len(text) <= limit:
        return text
    defects.append("body-truncated")
    return text[:limit]


def _drop_blocks(markup: str) -> str:
    for start, end in _DROPPED_BLOCKS:
        pieces: list[str] = []
        position = 0
        while (opening := start.search(markup, position)) is not None:
            pieces.append(markup[position : opening.start()])
            closing = end.search(markup, opening.end())
            if closing is None:
                position = len(markup)
                break
            closer = markup.find(">", closing.end() - 1)
            position = len(markup) if closer < 0 else closer + 1
        pieces.append(markup[position:])
        markup = "".join(pieces)
    return markup


def html_to_text(markup: str) -> str:
    """Readable text from HTML: script/style/comments dropped, tags stripped,
    entities unescaped, whitespace tidied. Linear time on any input."""
    markup = _LINE_BREAK_TAG.sub("\n", _drop_blocks(markup))
    text = html.unescape(_TAG.sub("", markup))
    return _BLANK_LINES.sub("\n", _SPACES.sub(" ", text)).strip()


# --- structure: header blocks, parameters, multipart bodies ---------------------------


def read_fields(data: bytes, defects: list[str]) -> tuple[list[tuple[str, str]], bytes]:
    """The header block's fields in order as (name, unfolded raw value, 8-bit bytes
    surrogate-escaped as the email package does), and the body after it."""
    head, body = _split_head(data)
    text = head.decode("ascii", "surrogateescape").replace("\r\n", "\n")
    if not text or "\r" in text:
        return _read_fields_slowly(data, defects)
    if text.startswith("From "):  # mbox envelope line
        text = text.partition("\n")[2]
    fields: list[tuple[str, str]] = []
    for line in _FOLD.sub("", text).split("\n"):
        name, colon, value = line.partition(":")
        if not (colon and name and name.isascii() and name.isprintable() and " " not in name):
            return _read_fields_slowly(data, defects)
        fields.append((name, value.lstrip(" \t")))
    return fields, body


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """(header lines, body) around the first blank line."""
    if data.startswith((b"\n", b"\r\n")):
        return b"", data[data.index(b"\n") + 1 :]
    crlf = data.find(b"\n\r\n")
    lf = data.find(b"\n\n", 0, crlf if crlf >= 0 else len(data))
    if lf >= 0:
        return data[:lf], data[lf + 2 :]
    if crlf >= 0:
        return data[: crlf - 1 if data[crlf - 1 : crlf] == b"\r" else crlf], data[crlf + 3 :]
    return data[: -2 if data.endswith(b"\r\n") else -1 if data.endswith(b"\n") else None], b""


def _read_fields_slowly(data: bytes, defects: list[str]) -> tuple[list[tuple[str, str]], bytes]:
    """read_fields for header blocks with stray lines or bare CRs, following the email
    package's parser: a leading mbox "From " line is skipped, stray lines are skipped
    with a defect, any other line that is not a header ends the block."""
    fields: list[tuple[str, str]] = []
    position = _line_end(data, 0) if data.startswith(b"From ") else 0
    while True:
        block_end = _FIELDS.match(data, position).end()  # type: ignore[union-attr]  # `*` always matches
        block = data[position:block_end].decode("ascii", "surrogateescape")
        fields.extend((name, _UNFOLD.sub("", value).lstrip(" \t")) for name, value in _FIELD.findall(block))
        position = block_end
        blank = _BLANK_LINE.match(data, position)
        if blank is not None or position >= len(data):
            return fields, data[position if blank is None else blank.end() :]
        stray = _STRAY_LINES.get(data[position : position + 1])
        if stray is None and data.startswith(b"From ", position):
            stray = "MisplacedEnvelopeHeaderDefect"
        if stray is None:
            defects.append("MissingHeaderBodySeparatorDefect")
            return fields, data[position:]
        defects.append(stray)
        position = _line_end(data, position)


def _line_end(data: bytes, position: int) -> int:
    match = _LINE.match(data, position)
    return len(data) if match is None else match.end()


def read_head(data: bytes, defects: list[str]) -> tuple[dict[str, str], bytes]:
    """A MIME part's headers (lower-case name -> first raw value) and its body."""
    fields, body = read_fields(data, defects)
    headers: dict[str, str] = {}
    for name, value in fields:
        headers.setdefault(name.lower(), value)
    return headers, body


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """`type/subtype; a=1; b*=utf-8''x` -> ("type/subtype", {"a": "1", "b": "x"}),
    with RFC 2231 continuations and charsets; the first of repeated names wins."""
    main, semicolon, rest = value.partition(";")
    params: dict[str, str] = {}
    if not semicolon:
        return main.strip().lower(), params
    pairs = [(m.group(1).lower(), m.group(2).strip()) for m in _PARAM.finditer(";" + rest)]
    if "*" in rest:
        try:
            for name, raw in decode_params([("", ""), *pairs])[1:]:
                if isinstance(raw, tuple):
                    raw = (raw[0], raw[1], unquote(raw[2]))
                params.setdefault(name, collapse_rfc2231_value(raw))
            return main.strip().lower(), params
        except (TypeError, ValueError, LookupError, UnicodeError):
            params.clear()
    for name, raw in pairs:
        params.setdefault(name, unquote(raw))
    return main.strip().lower(), params


def split_multipart(data: bytes, boundary: bytes, max_parts: int, defects: list[str]) -> list[bytes]:
    """The bodies between `--boundary` delimiter lines (RFC 2046, read leniently)."""
    delimiter = b"--" + boundary
    marks: list[tuple[int, int]] = []  # (line break before a delimiter, end of its line)
    position, closed = 0, False
    while (found := data.find(delimiter, position)) >= 0:
        position = found + len(delimiter)
        if found and data[found - 1] not in b"\r\n":
            continue
        closing = data.startswith(b"--", position)
        end = position + 2 if closing else position
        while end < len(data) and data[end] in b" \t":
            end += 1
        if end < len(data) and data[end] not in b"\r\n":
            continue  # a longer boundary that starts with this one
        start = found - 2 if found >= 2 and data[found - 2 : found] == b"\r\n" else max(found - 1, 0)
        end += 2 if data.startswith(b"\r\n", end) else 1
        marks.append((start, min(end, len(data))))
        if closing or len(marks) > max_parts:
            closed = True
            break
    if not marks:
        defects.append("StartBoundaryNotFoundDefect")
        return []
    if not closed:
        defects.append("CloseBoundaryNotFoundDefect")
        marks.append((len(data), len(data)))
    if len(marks) < 2:
        defects.append("MultipartInvariantViolationDefect")
    return [data[marks[i][1] : marks[i + 1][0]] for i in range(len(marks) - 1)]
