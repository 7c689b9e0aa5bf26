"""Behaviour of adapters.mime.parse_message on hand-built messages."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import mime
from adapters.mime import MAX_BODY_CHARS, parse_message
from domain.message import Address, Attachment, ParsedMessage

BASE_HEADERS = (
    "Message-ID: <abc.123@example.com>",
    "Date: Tue, 14 May 2024 09:30:00 +0200",
    "From: Alice Example <alice@example.com>",
    "To: bob@example.org",
    "Subject: Hello",
)


def build(*headers: str, body: str | bytes = "Hi Bob.\r\n", base: bool = True) -> bytes:
    """A message from header lines (BASE_HEADERS first unless base=False) and a body."""
    lines = [*(BASE_HEADERS if base else ()), *headers]
    head = "\r\n".join(lines).encode("utf-8") + b"\r\n\r\n"
    return head + (body.encode("utf-8") if isinstance(body, str) else body)


def without(name: str, raw: bytes) -> bytes:
    """`raw` with every header line named `name` removed."""
    prefix = name.lower().encode() + b":"
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.lower().startswith(prefix))


def replaced(header_line: str) -> bytes:
    """build() with `header_line` in place of its header of the same name (or added)."""
    name = header_line.split(":")[0]
    return without(name, build()).replace(b"\r\n\r\n", f"\r\n{header_line}\r\n\r\n".encode(), 1)


def multipart(subtype: str, boundary: str, *parts: str) -> bytes:
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return build("MIME-Version: 1.0", f'Content-Type: multipart/{subtype}; boundary="{boundary}"', body=body)


def assert_storable(message: ParsedMessage) -> None:
    """Every text field can be stored: valid UTF-8, no NUL."""
    texts = [message.subject, message.body_text, message.body_html, *message.defects, *message.references]
    texts += [message.message_id or "", message.in_reply_to or ""]
    texts += [a.email + a.name for a in message.from_ + message.to + message.cc + message.bcc]
    texts += [a.filename + a.content_type for a in message.attachments]
    for text in texts:
        text.encode("utf-8")
        assert "\x00" not in text


# --- headers -------------------------------------------------------------------------


def test_plain_message_is_parsed() -> None:
    raw = build()
    message = parse_message(raw)
    assert message.message_id == "abc.123@example.com"
    assert message.subject == "Hello"
    assert message.date == datetime(2024, 5, 14, 7, 30, tzinfo=UTC)
    assert message.from_ == (Address("alice@example.com", "Alice Example"),)
    assert message.to == (Address("bob@example.org", ""),)
    assert message.body_text == "Hi Bob.\r\n"
    assert message.body_html == ""
    assert message.attachments == ()
    assert message.size == len(raw)
    assert message.bulk is False
    assert message.defects == ()
    assert len(message.fingerprint) == 32 and int(message.fingerprint, 16) >= 0


def test_rfc2047_subject_is_decoded() -> None:
    raw = build("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_?= =?iso-8859-1?b?YXVzIEv2bG4=?= !", base=False)
    assert parse_message(raw).subject == "Grüße aus Köln !"


def test_folded_subject_is_unfolded() -> None:
    raw = build("Subject: a long\r\n\tsubject  line", base=False)
    assert parse_message(raw).subject == "a long subject line"


def test_rfc2047_display_names_are_decoded() -> None:
    to = 'To: =?iso-8859-1?Q?J=F6rg_M=FCller?= <Joerg@Example.DE>, "Doe, Jane" <jane@example.com>'
    raw = build(to, base=False)
    assert parse_message(raw).to == (
        Address("joerg@example.de", "Jörg Müller"),
        Address("jane@example.com", "Doe, Jane"),
    )


def test_encoded_word_with_unknown_charset_does_not_raise() -> None:
    message = parse_message(build("Subject: =?x-foo?q?abc?=", base=False))
    assert message.subject == "abc"
    assert "unknown-charset:x-foo" in message.defects


def test_utf8_header_bytes_are_decoded() -> None:
    message = parse_message("Subject: Café\r\n\r\nbody".encode())
    assert message.subject == "Café"
    assert set(message.defects) == {"no-message-id", "no-date", "no-from"}


def test_latin1_header_bytes_fall_back_to_latin1_with_a_defect() -> None:
    message = parse_message(b"Subject: Caf\xe9\r\n\r\nbody")
    assert message.subject == "Café"
    assert "8bit-header-not-utf8" in message.defects


def raw_8bit(subject: str, name: str, charset: str, content_type: bytes) -> bytes:
    """A message whose Subject and From display name are raw bytes in `charset` (no encoded words)."""
    head = (b"Message-ID: <raw@example.cn>\r\nFrom: " + name.encode(charset) + b" <sender@example.cn>\r\n"
            b"To: bob@example.org\r\nSubject: " + subject.encode(charset)
            + b"\r\nMIME-Version: 1.0\r\n")  # fmt: skip
    return head + content_type


@pytest.mark.parametrize(
    ("subject", "name", "charset", "label"),
    [
        ("黄山旅游", "王小明", "gb2312", "gb2312"),
        ("다음 주 회의 일정", "김민수", "cp949", "ks_c_5601-1987"),
        ("Toplantı gündemi", "Şükrü Öztürk", "cp1254", "windows-1254"),
    ],
)
def test_raw_8bit_headers_are_read_in_the_charset_the_body_declares(
    subject: str, name: str, charset: str, label: str
) -> None:
    body = "본문" if charset == "cp949" else "正文" if charset == "gb2312" else "İçerik"
    part = f"Content-Type: text/plain; charset={label}\r\n\r\n".encode() + body.encode(charset)
    raw = raw_8bit(subject, name, charset, b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
                   b"--b\r\n" + part + b"\r\n--b--\r\n")  # fmt: skip
    message = parse_message(raw)
    assert message.subject == subject
    assert message.from_ == (Address("sender@example.cn", name),)
    assert message.body_text == body


def test_raw_8bit_headers_in_a_charset_named_only_by_an_encoded_word_are_read_in_it() -> None:
    raw = raw_8bit("회의 일정", "김민수", "cp949", b"Content-Type: text/plain\r\n\r\nsee subject")
    encoded = b"=?ks_c_5601-1987?B?" + base64.b64encode("박지영".encode("cp949")) + b"?="
    raw = raw.replace(b"To: bob@example.org", b"To: " + encoded + b" <bob@example.org>")
    message = parse_message(raw)
    assert (message.subject, message.from_[0].name, message.to[0].name) == ("회의 일정", "김민수", "박지영")


def test_undeclared_raw_8bit_headers_are_read_in_the_charset_a_detector_finds() -> None:
    raw = raw_8bit("黄山旅游", "王小明", "gb2312", b"Content-Type: text/plain\r\n\r\nno charset anywhere")
    message = parse_message(raw)
    assert (message.subject, message.from_[0].name) == ("黄山旅游", "王小明")
    assert "8bit-header-guessed:gb18030" in message.defects


def test_missing_message_id_is_recorded_as_a_defect() -> None:
    message = parse_message(without("message-id", build()))
    assert message.message_id is None
    assert "no-message-id" in message.defects


def test_empty_message_id_counts_as_missing() -> None:
    message = parse_message(build("Message-ID:  <>  ", base=False))
    assert message.message_id is None
    assert "no-message-id" in message.defects


def test_message_id_is_stripped_of_brackets_and_whitespace() -> None:
    assert parse_message(build("Message-ID:\r\n  <x.1@host>  ", base=False)).message_id == "x.1@host"
    assert parse_message(build("Message-ID: bare@host", base=False)).message_id == "bare@host"


def test_in_reply_to_and_references_keep_their_ids_in_order() -> None:
    raw = build("In-Reply-To: <p2@h> (comment) <p1@h>", "References: <p0@h>\r\n <p1@h> junk <p2@h>")
    message = parse_message(raw)
    assert message.in_reply_to == "p2@h"
    assert message.references == ("p0@h", "p1@h", "p2@h")


def test_missing_threading_headers_give_empty_values() -> None:
    message = parse_message(build())
    assert message.in_reply_to is None
    assert message.references == ()


def test_date_is_converted_to_utc() -> None:
    message = parse_message(build("Date: Mon, 1 Jan 2024 23:00:00 -0500", base=False))
    assert message.date == datetime(2024, 1, 2, 4, 0, tzinfo=UTC)


def test_date_without_zone_is_taken_as_utc() -> None:
    message = parse_message(build("Date: Mon, 1 Jan 2024 10:00:00 -0000", base=False))
    assert message.date == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["not a date", "Mon, 45 Foo 2024 99:99:99 +0000", "<HR>", ""])
def test_unparseable_date_is_recorded_as_a_defect(value: str) -> None:
    message = parse_message(build(f"Date: {value}", base=False))
    assert message.date is None
    assert "bad-date" in message.defects


def test_missing_date_is_recorded_as_a_defect() -> None:
    message = parse_message(without("date", build()))
    assert message.date is None
    assert "no-date" in message.defects


def test_addresses_are_normalised_deduplicated_and_bad_ones_dropped() -> None:
    raw = build(
        "From: a@example.com",
        "To: Bob <BOB@Example.ORG>, bob@example.org, not-an-address, <carol@bücher.example>",
        "Cc: dave@localhost, Eve <eve@example.net>",
        "Bcc: frank@example.com",
        "Reply-To: Alice <alice@example.com>",
        "Sender: list@example.com",
        base=False,
    )
    message = parse_message(raw)
    assert message.to == (Address("bob@example.org", "Bob"), Address("carol@xn--bcher-kva.example", ""))
    assert message.cc == (Address("eve@example.net", "Eve"),)
    assert message.bcc == (Address("frank@example.com", ""),)
    assert message.reply_to == (Address("alice@example.com", "Alice"),)
    assert message.sender == (Address("list@example.com", ""),)
    assert "bad-address" in message.defects


def test_repeated_address_headers_are_combined() -> None:
    message = parse_message(build("To: a@example.com", "To: b@example.com, a@example.com", base=False))
    assert [a.email for a in message.to] == ["a@example.com", "b@example.com"]


def test_group_syntax_gives_its_members() -> None:
    raw = build("To: Team: a@example.com, B <b@example.com>;, undisclosed-recipients:;", base=False)
    message = parse_message(raw)
    assert [a.email for a in message.to] == ["a@example.com", "b@example.com"]
    assert "bad-address" not in message.defects


def test_comments_and_quoted_names_are_handled() -> None:
    raw = build('From: "Smith, J. (Sales)" <j.smith@example.com> (work)', base=False)
    assert parse_message(raw).from_ == (Address("j.smith@example.com", "Smith, J. (Sales)"),)


def test_missing_from_is_recorded_as_a_defect() -> None:
    message = parse_message(without("from", build()))
    assert message.from_ == ()
    assert "no-from" in message.defects


@pytest.mark.parametrize(
    "header",
    [
        "List-Unsubscribe: <mailto:unsubscribe@example.com>",
        "List-Id: Example list <list.example.com>",
        "Precedence: bulk",
        "Precedence: LIST",
        "Precedence: junk",
        "Auto-Submitted: auto-generated",
        "Auto-Submitted: auto-replied; owner-email=x@example.com",
    ],
)
def test_bulk_headers_mark_the_message_bulk(header: str) -> None:
    assert parse_message(build(header)).bulk is True


@pytest.mark.parametrize(
    "header", ["Auto-Submitted: no", "Auto-Submitted: No (a person wrote this)", "Precedence: first-class"]
)
def test_personal_mail_is_not_bulk(header: str) -> None:
    assert parse_message(build(header)).bulk is False


# --- body ----------------------------------------------------------------------------


def test_multipart_alternative_gives_text_and_html() -> None:
    raw = multipart(
        "alternative",
        "b1",
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe",
        "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Grüße</p>",
    )
    message = parse_message(raw)
    assert message.body_text == "Grüße"
    assert message.body_html == "<p>Grüße</p>"
    assert message.attachments == ()


def test_html_only_message_gives_text_from_its_html() -> None:
    html = (
        "<html><head><style>p {}</style></head>"
        "<body><p>Fish &amp; chips</p><script>x()</script>ok<br>end</body>"
    )
    message = parse_message(build("Content-Type: text/html; charset=us-ascii", body=html))
    assert message.body_html == html
    assert message.body_text == "Fish & chips\nok\nend"


def test_body_is_decoded_with_its_charset() -> None:
    body = "Ça coûte 5 €".encode("cp1252")
    message = parse_message(build("Content-Type: text/plain; charset=windows-1252", body=body))
    assert message.body_text == "Ça coûte 5 €"


def test_unknown_charset_falls_back_to_utf8_with_a_defect() -> None:
    message = parse_message(build("Content-Type: text/plain; charset=x-unknown", body="naïve".encode()))
    assert message.body_text == "naïve"
    assert "unknown-charset:x-unknown" in message.defects


def test_undeclared_8bit_body_is_read_as_utf8() -> None:
    assert parse_message(build(body="naïve".encode())).body_text == "naïve"


def test_attachments_are_listed_with_decoded_size_and_filename() -> None:
    payload = bytes(range(256)) * 3
    encoded = base64.encodebytes(payload).decode().replace("\n", "\r\n")
    raw = multipart(
        "mixed",
        "xyz",
        "Content-Type: text/plain\r\n\r\nsee attached",
        f'Content-Type: application/PDF; name="ignored.pdf"\r\nContent-Disposition: attachment;\r\n'
        f" filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}",
        "Content-Type: image/png\r\n\r\nrawbytes",
        'Content-Type: text/plain; name="=?utf-8?q?notes_=C3=A0?=.txt"\r\n\r\nnot the body',
    )
    message = parse_message(raw)
    assert message.body_text == "see attached"
    assert message.attachments == (
        Attachment("résumé.pdf", "application/pdf", len(payload)),
        Attachment("", "image/png", len(b"rawbytes")),
        Attachment("notes à.txt", "text/plain", len(b"not the body")),
    )
    assert [a.data for a in message.attachments] == [payload, b"rawbytes", b"not the body"]  # the files


def test_a_single_text_part_marked_inline_with_a_filename_is_the_body() -> None:
    raw = build("MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                "Content-Disposition: inline; filename=notes.txt", body="The notes, inline.\r\n")  # fmt: skip
    message = parse_message(raw)
    assert message.body_text == "The notes, inline.\r\n"
    assert message.attachments == ()


def test_inline_text_parts_after_the_first_are_joined_to_the_body_in_order() -> None:
    raw = multipart(
        "mixed",
        "m",
        "Content-Type: text/plain; charset=utf-8\r\n\r\nHello list.",
        "Content-Type: image/png\r\nContent-Disposition: inline\r\n\r\nPNG",
        "Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: inline\r\n\r\n-- \r\nlist footer",
        "Content-Type: text/plain\r\n\r\nunsubscribe: https://lists.example/u",
    )
    message = parse_message(raw)
    assert message.body_text == "Hello list.\n-- \r\nlist footer\nunsubscribe: https://lists.example/u"
    assert message.attachments == (Attachment("", "image/png", 3),)


def test_a_footer_after_an_alternative_joins_the_text_and_the_html_keeps_its_own_rendering() -> None:
    alternative = (
        'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        "--alt\r\nContent-Type: text/plain\r\n\r\nplain words\r\n"
        "--alt\r\nContent-Type: text/html\r\n\r\n<p>html words</p>\r\n--alt--"
    )
    raw = multipart("mixed", "out", alternative, "Content-Type: text/plain\r\n\r\nthe footer")
    message = parse_message(raw)
    assert message.body_text == "plain words\nthe footer"  # the HTML twin is not text a second time
    assert message.body_html == "<p>html words</p>"
    assert message.attachments == ()


def test_html_then_a_plain_footer_gives_both_as_text() -> None:
    raw = multipart("mixed", "h", "Content-Type: text/html\r\n\r\n<p>Offer</p>",
                    "Content-Type: text/plain\r\n\r\nfooter")  # fmt: skip
    message = parse_message(raw)
    assert (message.body_text, message.body_html) == ("Offer\nfooter", "<p>Offer</p>")


def test_every_part_of_a_bounce_report_is_body_text_or_an_attachment() -> None:
    raw = multipart(
        "report",
        "r",
        "Content-Type: text/plain\r\n\r\nYour message could not be delivered.",
        "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n"
        "\r\nFinal-Recipient: rfc822; gone@example.org\r\nStatus: 5.1.1",
        "Content-Type: text/rfc822-headers\r\n\r\nFrom: bob@acme.com\r\nSubject: Offer",
        "Content-Type: text/plain\r\n\r\nSecond human-readable part.",
    )
    message = parse_message(raw)
    assert message.body_text == "Your message could not be delivered.\nSecond human-readable part."
    assert [a.content_type for a in message.attachments] == ["message/delivery-status", "text/rfc822-headers"]


def test_text_parts_that_are_not_displayable_inline_are_attachments() -> None:
    raw = multipart(
        "mixed",
        "c",
        "Content-Type: text/plain\r\n\r\nSee you then.",
        "Content-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR",
        "Content-Type: text/plain\r\nContent-Disposition: attachment; filename=log.txt\r\n\r\nlog",
        "Content-Type: text/html\r\nContent-Disposition: attachment\r\n\r\n<p>page</p>",
    )
    message = parse_message(raw)
    assert message.body_text == "See you then."
    assert message.attachments == (
        Attachment("", "text/calendar", len(b"BEGIN:VCALENDAR")),
        Attachment("log.txt", "text/plain", 3),
        Attachment("", "text/html", len(b"<p>page</p>")),
    )


def test_rfc2231_filename_wins_over_its_plain_fallback() -> None:
    part = (
        "Content-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="resume.pdf";\r\n'
        " filename*0*=utf-8''r%C3%A9sum%C3%A9; filename*1=\".pdf\"\r\n\r\n%PDF"
    )
    attachments = parse_message(multipart("mixed", "b", part)).attachments
    assert attachments == (Attachment("résumé.pdf", "application/pdf", 4),)


def test_nested_message_is_an_attachment_named_by_its_subject() -> None:
    inner = "From: x@example.com\r\nSubject: =?utf-8?q?Original_=C3=A9?=\r\n\r\nInner body text"
    raw = multipart("mixed", "outer", "Content-Type: message/rfc822\r\n\r\n" + inner)
    message = parse_message(raw)
    assert message.body_text == ""
    assert message.attachments == (Attachment("Original é", "message/rfc822", len(inner.encode())),)


def test_forwarded_message_without_subject_is_named_forwarded_eml() -> None:
    raw = multipart(
        "mixed",
        "o",
        "Content-Type: text/plain\r\n\r\nFYI",
        "Content-Type: message/rfc822\r\n\r\nFrom: a@b.example\r\n\r\nhi",
    )
    message = parse_message(raw)
    assert message.body_text == "FYI"
    assert message.attachments[0].filename == "forwarded.eml"


def test_multipart_digest_parts_default_to_messages() -> None:
    raw = multipart("digest", "d", "\r\nSubject: first\r\n\r\none", "\r\nSubject: second\r\n\r\ntwo")
    assert [a.filename for a in parse_message(raw).attachments] == ["first", "second"]


def test_nested_multiparts_are_walked_in_order() -> None:
    inner = (
        'Content-Type: multipart/alternative; boundary="in"\r\n\r\n'
        "--in\r\n\r\nplain\r\n--in\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--in--"
    )
    raw = multipart("mixed", "out", inner, "Content-Type: application/zip\r\n\r\nPK")
    message = parse_message(raw)
    assert (message.body_text, message.body_html) == ("plain", "<b>x</b>")
    assert message.attachments == (Attachment("", "application/zip", 2),)


def test_boundary_prefix_lines_are_not_delimiters() -> None:
    raw = multipart("mixed", "abc", "\r\nline one\r\n--abcdef\r\nline two")
    assert parse_message(raw).body_text == "line one\r\n--abcdef\r\nline two"


def test_missing_close_boundary_keeps_the_last_part() -> None:
    raw = build('Content-Type: multipart/mixed; boundary="q"', body="--q\r\n\r\nunfinished")
    message = parse_message(raw)
    assert message.body_text == "unfinished"
    assert "CloseBoundaryNotFoundDefect" in message.defects


def test_multipart_without_boundary_is_read_as_text() -> None:
    message = parse_message(build("Content-Type: multipart/mixed", body="just text"))
    assert message.body_text == "just text"
    assert "NoBoundaryInMultipartDefect" in message.defects


def test_missing_start_boundary_is_recorded() -> None:
    message = parse_message(build('Content-Type: multipart/mixed; boundary="zz"', body="no parts here"))
    assert "StartBoundaryNotFoundDefect" in message.defects


def test_missing_header_body_separator_is_recorded() -> None:
    message = parse_message(b"Subject: hi\r\nthis line is body\r\nmore\r\n")
    assert message.subject == "hi"
    assert message.body_text == "this line is body\r\nmore\r\n"
    assert "MissingHeaderBodySeparatorDefect" in message.defects


def test_bad_base64_does_not_raise() -> None:
    raw = multipart(
        "mixed",
        "b",
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gV29y!!!bGQ",
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%=",
    )
    message = parse_message(raw)
    assert message.body_text.startswith("Hello Wor")
    assert "bad-base64" in message.defects
    assert len(message.attachments) == 1


def test_body_is_truncated_at_the_cap() -> None:
    message = parse_message(build(body="x" * (MAX_BODY_CHARS + 10)))
    assert len(message.body_text) == MAX_BODY_CHARS
    assert "body-truncated" in message.defects


def test_pathological_nesting_is_capped() -> None:
    body = "leaf"
    for depth in range(60):
        content_type = f'Content-Type: multipart/mixed; boundary="b{depth}"'
        body = f"{content_type}\r\n\r\n--b{depth}\r\n{body}\r\n--b{depth}--"
    content_type, _, nested_body = body.partition("\r\n\r\n")
    message = parse_message(build(content_type, body=nested_body))
    assert "mime-too-deep" in message.defects
    assert message.body_text == ""


def test_huge_part_counts_are_capped() -> None:
    raw = multipart("mixed", "m", *["Content-Type: image/gif\r\n\r\nGIF"] * 2000)
    message = parse_message(raw)
    assert "too-many-parts" in message.defects
    assert len(message.attachments) <= mime.MAX_PARTS


def test_nul_bytes_and_8bit_headers_do_not_raise() -> None:
    raw = b"Subject: a\x00b \xff\xfe\r\nFrom: \x00<a@example.com>\r\nTo: x@example.com\x00\r\n\r\n"
    raw += b"bo\x00dy \xff"
    message = parse_message(raw)
    assert message.subject == "ab ÿþ"
    assert message.from_ == (Address("a@example.com"),)
    assert message.body_text == "body ÿ"
    assert {"nul-bytes", "8bit-header-not-utf8", "charset-mismatch:us-ascii"} <= set(message.defects)
    assert_storable(message)


def test_huge_header_does_not_raise() -> None:
    recipients = ", ".join(f"user{i}@example.com" for i in range(20000))
    raw = build(f"To: {recipients}", "X-Long: " + "y" * 2_000_000)
    message = parse_message(raw)
    assert Address("user0@example.com") in message.to
    assert "header-truncated" in message.defects


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n",
        b"\x00" * 1000,
        b"no headers at all",
        b": no name\r\n\r\n",
        b" continuation first\r\nSubject: x\r\n\r\n",
        b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: mbox\n\nbody",
        b"Content-Type: text/plain; charset=\xff\xfe\r\n\r\n\xff",
        b'Content-Type: multipart/mixed; boundary="\xff"\r\n\r\n--\xff\r\n\r\nx\r\n--\xff--',
        b"Content-Type: text/plain; charset*0=utf-8''a; charset*=x\r\n\r\nx",
        b"Content-Type: text/plain; charset=punycode\r\n\r\n" + b"a-" * 5000,
        b"Content-Type: text/plain\rSubject: bare cr\r\rbody",
        b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 f\r\n#86)C\r\n`\r\nend",
        b"Date: Mon, 1 Jan 99999 00:00:00 +9999\r\n\r\n",
    ],
)
def test_malformed_messages_do_not_raise(raw: bytes) -> None:
    message = parse_message(raw)
    assert isinstance(message, ParsedMessage)
    assert message.size == len(raw)
    assert_storable(message)


HOSTILE = {
    "unclosed encoded words": b"Subject: " + b"=?utf-8?q?abc " * 5000 + b"\r\n\r\nb",
    "odd address list": b"To: " + b"a@" * 30000 + b"\r\n\r\nb",
    "unbalanced angle brackets": b"To: " + b"<" * 60000 + b"\r\n\r\nb",
    "boundary noise": b'Content-Type: multipart/mixed; boundary="a"\r\n\r\n' + b"--a" * 1_000_000,
    "boundary then spaces": b'Content-Type: multipart/mixed; boundary="a"\r\n\r\n'
    + (b"\n--a" + b" " * 10_000 + b"x") * 100,
    "bare CR header lines": b"Subject: x\r" * 200_000 + b"\rbody",
    "a hundred thousand headers": b"".join(b"X-H%d: v\r\n" % i for i in range(100_000)) + b"\r\nb",
    "stray header lines": b"A: b\r\n" + b" x\r\n:y\r\n" * 50_000 + b"\r\nb",
    "unclosed script tags": b"Content-Type: text/html\r\n\r\n" + b"<script" * 200_000,
    "RFC 2231 continuations": b"Content-Type: text/plain; " + b"a*0*=x; " * 20_000 + b"\r\n\r\nb",
}


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_inputs_are_parsed_in_bounded_time(raw: bytes) -> None:
    start = time.perf_counter()
    message = parse_message(raw)
    assert time.perf_counter() - start < 5.0
    assert message.size == len(raw)
    assert not any(defect.startswith("parse-error") for defect in message.defects)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    message = parse_message(raw)
    assert message.size == len(raw)
    assert_storable(message)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_messages_never_raise(data: st.DataObject) -> None:
    parts = ("Content-Type: text/plain\r\n\r\nx", "Content-Type: image/png\r\n\r\ny")
    raw = bytearray(multipart("mixed", "b", *parts))
    for _ in range(data.draw(st.integers(1, 20))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    assert_storable(parse_message(bytes(raw)))


def test_unexpected_errors_become_a_parse_error_defect(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(mime, "read_fields", explode)
    raw = build()
    message = parse_message(raw)
    assert message.defects == ("parse-error:RuntimeError",)
    assert message.size == len(raw)
    assert message.fingerprint == parse_message(raw).fingerprint


def test_an_error_in_one_part_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(mime, "_forwarded", explode)
    raw = multipart("mixed", "b", "\r\nkept", "Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\ny")
    message = parse_message(raw)
    assert message.body_text == "kept"
    assert "part-error:KeyError" in message.defects


# --- fingerprint ---------------------------------------------------------------------


def test_fingerprint_is_deterministic() -> None:
    assert parse_message(build()).fingerprint == parse_message(build()).fingerprint
    assert parse_message(build()) == parse_message(build())


@pytest.mark.parametrize(
    "header",
    [
        "Date: Tue, 14 May 2024 09:31:00 +0200",
        "From: Mallory <mallory@example.com>",
        "To: carol@example.org",
        "Cc: dave@example.org",
        "Subject: Hello again",
    ],
)
def test_same_message_id_different_headers_gives_different_fingerprints(header: str) -> None:
    changed = replaced(header)
    assert parse_message(changed).message_id == parse_message(build()).message_id
    assert parse_message(changed).fingerprint != parse_message(build()).fingerprint


def test_bcc_and_received_do_not_change_the_fingerprint() -> None:
    delivered = build(
        "Bcc: secret@example.com",
        "Received: from mx.example.com by mail.example.org; Tue, 14 May 2024 09:30:05 +0200",
        "Delivered-To: bob@example.org",
        "Return-Path: <alice@example.com>",
        "X-Spam-Score: 0.1",
    )
    assert parse_message(delivered).fingerprint == parse_message(build()).fingerprint


def test_folding_and_line_endings_do_not_change_the_fingerprint() -> None:
    refolded = build().replace(b"Subject: Hello", b"Subject:\r\n  Hello").replace(b"\r\n", b"\n")
    assert parse_message(refolded).fingerprint == parse_message(build()).fingerprint


def test_a_body_longer_than_the_digested_start_has_one_fingerprint_whatever_its_line_endings() -> None:
    body = "".join(f"Paragraph {n}: the figures we discussed. \r\n" for n in range(300))
    crlf, lf = build(body=body), build(body=body).replace(b"\r\n", b"\n")
    assert len(body) > 3 * mime.FINGERPRINT_BODY_BYTES
    assert parse_message(crlf).fingerprint == parse_message(lf).fingerprint
    assert parse_message(crlf).legacy_fingerprint not in (None, parse_message(crlf).fingerprint)
    short = build().replace(b"\r\n", b"\n")
    assert parse_message(build()).legacy_fingerprint is None
    assert parse_message(short).legacy_fingerprint is None


def test_messages_that_differ_only_after_their_first_kilobytes_get_distinct_fingerprints() -> None:
    body = "".join(f"Paragraph {n}: the figures we discussed.\r\n" for n in range(300))
    signed = build(body=body + "-- \r\nAnn, with a new signature\r\n")
    assert parse_message(signed).fingerprint != parse_message(build(body=body)).fingerprint


def _version_1_normalised(body: bytes) -> bytes:
    return b"\n".join(line.rstrip() for line in body.splitlines()).strip()


@given(st.lists(st.sampled_from([b"a", b"b", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\x0c"]), max_size=80)
       .map(b"".join),
       st.integers(1, 8))  # fmt: skip
def test_the_body_digest_normalises_the_whole_body_as_version_1_normalised_its_start(
    body: bytes, chunk: int
) -> None:
    import hashlib

    expected = hashlib.sha256(b"\n\n" + _version_1_normalised(body)).hexdigest()[:32]
    assert mime._body_digest(hashlib.sha256(), body, chunk) == expected


def test_a_pathological_body_is_digested_in_linear_time() -> None:
    for body in (b" " * 5_000_000, b" \r\n" * 2_000_000, b"\r" * 5_000_000, b"x \t" * 2_000_000):
        started = time.perf_counter()
        parse_message(build(body=body))
        assert time.perf_counter() - started < 2.0


def test_messages_without_message_id_get_distinct_fingerprints() -> None:
    first = without("message-id", build(body="first body"))
    second = without("message-id", build(body="second body"))
    other_header = without("message-id", build("X-Mailer: other", body="first body"))
    fingerprints = {parse_message(raw).fingerprint for raw in (first, second, other_header)}
    assert len(fingerprints) == 3
    assert parse_message(first).fingerprint == parse_message(bytes(first)).fingerprint
