"""Tolerant helpers for adapters.mime: header text, encoded words, charsets, transfer
encodings, HTML-to-text, and byte-level structure (header blocks, parameters, multipart
bodies). None raises on bad input: problems are appended to `defects` as short strings."""

from __future__ import annotations

import binascii
import codecs
import email.charset
import html
import re
from collections.abc import Callable, Iterable
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import collapse_rfc2231_value, decode_params, unquote
from functools import lru_cache

import charset_normalizer

MAX_HEADER_CHARS = 65_536
MAX_FIELDS = 10_000
MAX_STRAY_LINES = 1_000

_NAME = r"[\x21-\x39\x3b-\x7e]+"
_VALUE = r"[^\r\n]*(?:(?:\r\n|\r|\n)[ \t][^\r\n]*)*"
_EOL = r"(?:\r\n|\r|\n|\Z)"
_FIELD = re.compile(rf"({_NAME})[ \t]*:[ \t]*({_VALUE}){_EOL}")
_FIELDS = re.compile(rf"(?:{_NAME}[ \t]*:[ \t]*{_VALUE}{_EOL})*".encode())
_FIELD_LINE = re.compile(rf"^({_NAME}):[ \t]*(.*)$", re.MULTILINE)
_UNFOLD = re.compile(r"[\r\n]")
_FOLD = re.compile(r"\n(?=[ \t])")
_BLANK_LINE = re.compile(rb"\r\n|\r|\n")
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|\Z)")
_DELIMITER_LINE_END = re.compile(rb"[ \t]*(?:\r\n|\r|\n|\Z)")
_STRAY_LINES = {b" ": "FirstHeaderLineIsContinuationDefect", b"\t": "FirstHeaderLineIsContinuationDefect",
                b":": "InvalidHeaderDefect"}  # fmt: skip
_PARAM = re.compile(r';\s*([^\s;=]+)\s*=\s*("(?:\\.|[^"\\])*"|[^;]*)')
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?\s]*)\?=")
_GLUED_WORD = re.compile(r"\S=\?|\?=\S")  # encoded words touching text, which make_header spaces out
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(?==\?)")
_BASE64_NOISE = re.compile(rb"[^A-Za-z0-9+/]")
_TAG = re.compile(r"<[^<>]*>")
_LINE_BREAK_TAG = re.compile(
    r"<(?:br|/p|/div|/tr|/td|/th|/li|/h[1-6]|/table|/blockquote)\b[^<>]*>", re.IGNORECASE
)
_BLOCK_ENDS = (("<!--", "-->"), (r"<script\b", "</script"), (r"<style\b", "</style"), (r"<head\b", "</head"))
_DROPPED_BLOCKS = [
    (re.compile(start, re.IGNORECASE), re.compile(end, re.IGNORECASE)) for start, end in _BLOCK_ENDS
]
# Codecs that are not charsets, or whose decoders are super-linear on hostile input.
_REFUSED_CODECS = frozenset({"punycode", "idna", "unicode-escape", "raw-unicode-escape", "undefined"})
_IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "8bits", "binary", "plain", "text"})
_ENCODING_NOISE = re.compile(r"[\s_-]+")
MAX_GUESS_BYTES = 16_384
MIN_SINGLE_BYTE_GUESS = 64  # 8-bit bytes of header text before a single-byte guess is believed
_ASCII_PROBE = bytes(range(0x20, 0x7F))
_EIGHT_BIT = bytes(range(0x80, 0x100))
_MULTIBYTE_CODECS = frozenset(
    {
        "gb18030",
        "gbk",
        "gb2312",
        "hz",
        "big5",
        "big5hkscs",
        "cp950",
        "cp949",
        "euc_kr",
        "johab",
        "euc_jp",
        "euc_jis_2004",
        "euc_jisx0213",
        "shift_jis",
        "cp932",
        "shift_jis_2004",
        "shift_jisx0213",
    }
)
# No header is UTF-16 or UTF-32 (they would put NULs in it): guesses of those are noise.
_NOT_HEADER_CODECS = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le"]
# Labels whose codec is a strict subset of what mailers actually send under them (as WHATWG reads them).
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "euc_kr": "cp949"}


def collapse(value: str) -> str:
    return " ".join(value.split())


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


class HeaderCharsets:
    """How one message's undeclared 8-bit header bytes are read: as UTF-8, else in the first
    charset the message declares (its parts' `charset` parameters, its encoded words' charsets)
    that decodes them, else in the charset charset-normalizer guesses once for all of the
    message's 8-bit header text (`sample`), else as Latin-1."""

    def __init__(self, declared: list[str] | None = None, sample: Callable[[], bytes] | None = None) -> None:
        self.declared = declared if declared is not None else []  # may grow while the body is walked
        self._sample = sample
        self._guess: str | None = None
        self._guessed = sample is None

    def decode(self, data: bytes, defects: list[str]) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        for charset in dict.fromkeys(self.declared):
            codec = _codec_name(charset)
            if codec not in (None, "ascii", "utf-8"):
                try:
                    return data.decode(codec)  # type: ignore[arg-type]
                except (UnicodeError, ValueError, LookupError):
                    continue
        guess = self._detected()
        if guess is not None:
            try:
                text = data.decode(guess)
                defects.append(f"8bit-header-guessed:{short(guess)}")
                return text
            except (UnicodeError, ValueError, LookupError):
                pass
        defects.append("8bit-header-not-utf8")
        return data.decode("latin-1")

    def _detected(self) -> str | None:
        if not self._guessed and self._sample is not None:
            self._guessed = True
            sample = self._sample()[:MAX_GUESS_BYTES]
            found = charset_normalizer.from_bytes(sample, cp_exclusion=_NOT_HEADER_CODECS) if sample else None
            best = found.best() if found is not None else None
            codec = _codec_name(best.encoding) if best is not None else None
            self._guess = codec if codec is not None and _plausible(codec, sample) else None
        return self._guess


def _plausible(codec: str, sample: bytes) -> bool:
    """A guess is taken when it reads ASCII as ASCII (headers are ASCII-based, unlike EBCDIC) and
    is a multi-byte charset, whose structure short text confirms; single-byte guesses on a
    few words are noise (Latin-1 text came back as cp1006 or cp1250), unless there is more text."""
    try:
        if _ASCII_PROBE.decode(codec) != _ASCII_PROBE.decode("ascii"):
            return False
    except (UnicodeError, LookupError, ValueError):
        return False
    eight_bit = len(sample) - len(sample.translate(None, _EIGHT_BIT))
    return codec in _MULTIBYTE_CODECS or eight_bit >= MIN_SINGLE_BYTE_GUESS


_UTF8_ELSE_LATIN1 = HeaderCharsets()


def declared_charsets(values: Iterable[str]) -> list[str]:
    """The charsets named by the encoded words of these raw header values."""
    return [match.group(1) for value in values if "=?" in value for match in _ENCODED_WORD.finditer(value)]


def header_text(value: str, defects: list[str], charsets: HeaderCharsets | None = None) -> str:
    """A raw (unfolded, surrogate-escaped) header value as text: undeclared 8-bit bytes are
    read as `charsets` says (UTF-8, else Latin-1, without one). Encoded words are left alone."""
    if len(value) > MAX_HEADER_CHARS:
        defects.append("header-truncated")
        value = value[:MAX_HEADER_CHARS]
    if not value.isascii():
        value = (charsets or _UTF8_ELSE_LATIN1).decode(value.encode("utf-8", "surrogateescape"), defects)
    return clean(value, defects)


def decode_words(text: str, defects: list[str]) -> str:
    """RFC 2047 decoding of `text` (already unfolded), tolerant of bad words."""
    if "=?" not in text:
        return text
    if len(text) <= 2048 and text.isascii() and not _GLUED_WORD.search(text):  # decode_header is O(n^2)
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
    """Python's codec for a MIME charset name, or None when unknown or not a text encoding."""
    name = charset.strip().strip("\"'").lower().partition("*")[0]
    try:
        codec = codecs.lookup(email.charset.ALIASES.get(name, name))
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None
    if not getattr(codec, "_is_text_encoding", True):  # bytes-to-bytes codecs such as base64
        return None
    if codec.name.replace("_", "-") in _REFUSED_CODECS:
        return None
    return _SUPERSETS.get(codec.name, codec.name)


def decode_bytes(data: bytes, charset: str | None, defects: list[str]) -> str:
    """Bytes to text with the declared charset (us-ascii when none); never raises."""
    codec = _codec_name(charset) if charset else "ascii"
    if codec is None:
        defects.append(f"unknown-charset:{short((charset or '').strip().lower())}")
        return data.decode("utf-8", "replace")
    try:
        return data.decode(codec)
    except (UnicodeError, ValueError, LookupError):
        pass
    if codec == "ascii":  # undeclared or mislabelled 8-bit text: UTF-8, else Latin-1
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            defects.append("charset-mismatch:us-ascii")
            return data.decode("latin-1")
    defects.append(f"charset-mismatch:{short(codec)}")
    try:
        return data.decode(codec, "replace")
    except (UnicodeError, ValueError):
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
    """The payload with its Content-Transfer-Encoding undone, or None when undecodable.
    Sloppy spellings ("quoted printable", "8bits", "base64;") are understood."""
    name = _ENCODING_NOISE.sub("", encoding.partition(";")[0].lower())
    if name in _IDENTITY_ENCODINGS:
        return data
    if name == "base64":
        return _base64(data, defects)
    if name == "quotedprintable":
        return binascii.a2b_qp(data)
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
    return "\n".join(filter(None, (" ".join(line.split()) for line in text.split("\n"))))


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
    text = _FOLD.sub("", text)
    fields: list[tuple[str, str]] = _FIELD_LINE.findall(text)
    if len(fields) != text.count("\n") + 1:  # some line is not a header
        return _read_fields_slowly(data, defects)
    if len(fields) > MAX_FIELDS:
        defects.append("too-many-headers")
    return fields[:MAX_FIELDS], body


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
    position = _LINE.match(data).end() if data.startswith(b"From ") else 0  # type: ignore[union-attr]
    for _ in range(MAX_STRAY_LINES):
        block_end = _FIELDS.match(data, position).end()  # type: ignore[union-attr]  # `*` always matches
        block = data[position:block_end].decode("ascii", "surrogateescape")
        found = _FIELD.findall(block)[: MAX_FIELDS - len(fields)]
        fields.extend((name, _UNFOLD.sub("", value).lstrip(" \t")) for name, value in found)
        position = block_end
        if len(fields) >= MAX_FIELDS:
            break
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
        position = _LINE.match(data, position).end()  # type: ignore[union-attr]  # always matches
    defects.append("too-many-headers")
    return fields, _split_head(data)[1]


def read_head(data: bytes, defects: list[str]) -> tuple[dict[str, str], bytes]:
    """A MIME part's headers (lower-case name -> first raw value) and its body."""
    fields, body = read_fields(data, defects)
    headers: dict[str, str] = {}
    for name, value in fields:
        headers.setdefault(name.lower(), value)
    return headers, body


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """`type/subtype; a=1; b*=utf-8''x` -> ("type/subtype", {"a": "1", "b": "x"}), with
    RFC 2231 continuations and charsets; otherwise the first of repeated names wins."""
    main, semicolon, rest = value[:MAX_HEADER_CHARS].partition(";")
    main = main.strip().lower()
    params: dict[str, str] = {}
    if not semicolon:
        return main, params
    pairs = _PARAM.findall(";" + rest)
    if "*" in rest:  # RFC 2231: decode_params lists these after the plain ones, and they win
        extended = {name.lower().partition("*")[0] for name, _ in pairs if "*" in name}
        try:
            for name, raw in decode_params([("", ""), *((n.lower(), r.strip()) for n, r in pairs)])[1:]:
                if isinstance(raw, tuple):
                    raw = (raw[0], raw[1], unquote(raw[2]))
                if name in extended or name not in params:
                    params[name] = collapse_rfc2231_value(raw)
            return main, params
        except (TypeError, ValueError, LookupError, UnicodeError):
            params.clear()
    for name, raw in pairs:
        name = name.lower()
        if name not in params:
            params[name] = unquote(raw.strip())
    return main, params


def split_multipart(data: bytes, boundary: bytes, max_parts: int, defects: list[str]) -> list[bytes]:
    """The bodies between `--boundary` delimiter lines (RFC 2046, read leniently; the
    lines must end in LF or CRLF)."""
    delimiter = b"--" + boundary
    marks: list[tuple[int, int]] = []  # (line break before a delimiter, end of its line)
    closed = False
    found = 0 if data.startswith(delimiter) else data.find(b"\n" + delimiter) + 1 or -1
    while found >= 0:
        position = found + len(delimiter)
        closing = data.startswith(b"--", position)
        line_end = _DELIMITER_LINE_END.match(data, position + 2 if closing else position)
        if line_end is not None:  # else a longer boundary starting with this one
            start = found - 2 if found >= 2 and data[found - 2 : found] == b"\r\n" else max(found - 1, 0)
            marks.append((start, line_end.end()))
            if closing or len(marks) > max_parts:
                closed = True
                break
        found = data.find(b"\n" + delimiter, position) + 1 or -1
    if not marks:
        defects.append("StartBoundaryNotFoundDefect")
        return []
    if not closed:
        defects.append("CloseBoundaryNotFoundDefect")
        marks.append((len(data), len(data)))
    if len(marks) < 2:
        defects.append("MultipartInvariantViolationDefect")
    return [data[marks[i][1] : marks[i + 1][0]] for i in range(len(marks) - 1)]
