"""Reading a forward: the attached original as it is, an inline forward's block by the heuristic
of docs/forwarding.md, and a reason when nothing can be recovered."""

from __future__ import annotations

import base64
from datetime import datetime
from email.message import EmailMessage

import pytest

from adapters.forwarding import Forwards, addresses, block, forwarded_date
from adapters.mime import parse_message
from domain.capture import ATTACHED, INLINE, UNRECOVERED
from tests.support.messages import message

ORIGINAL = message(
    "Carol <carol@client.example>", "bob@acme.com", "Pricing", message_id="<o1@client.example>"
)


def forward(body: str = "", html: str | None = None, date: str = "Tue, 03 Jun 2025 09:00:00 +0200") -> bytes:
    outer = EmailMessage()
    outer["From"] = "bob@acme.com"
    outer["To"] = "bob+token@in.mailtrail.example"
    outer["Subject"] = "Fwd: Pricing"
    outer["Date"] = date
    if html is None:
        outer.set_content(body)
    else:
        outer.set_content(html, subtype="html")
    return outer.as_bytes()


def recovered(raw: bytes) -> tuple[str, str, object]:
    original = Forwards().original(raw)
    assert original.raw is not None, original
    parsed = parse_message(original.raw)
    return original.kind, original.reason, parsed


def test_an_attached_original_is_taken_byte_for_byte_with_its_message_id() -> None:
    outer = EmailMessage()
    outer["From"] = "bob@acme.com"
    outer.set_content("see attached")
    outer.add_attachment(_as_message(ORIGINAL))
    kind, _, parsed = recovered(outer.as_bytes())
    assert kind == ATTACHED and parsed.message_id == "o1@client.example"  # type: ignore[attr-defined]


def _as_message(raw: bytes) -> EmailMessage:
    from email import message_from_bytes, policy

    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def test_a_base64_encoded_attached_original_and_an_eml_file_are_read_too() -> None:
    encoded = (
        b"From: bob@acme.com\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
        b"--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(ORIGINAL)
        + b"\r\n--b--\r\n"
    )
    assert recovered(encoded)[2].message_id == "o1@client.example"  # type: ignore[attr-defined]
    eml = EmailMessage()
    eml["From"] = "bob@acme.com"
    eml.set_content("see attached")
    eml.add_attachment(ORIGINAL, maintype="application", subtype="octet-stream", filename="Pricing.eml")
    assert recovered(eml.as_bytes())[2].message_id == "o1@client.example"  # type: ignore[attr-defined]


GMAIL = """Look
---------- Forwarded message ---------
From: Carol Client <carol@client.example>
Date: Mon, Jun 2, 2025 at 10:00\u202fAM
Subject: Prix d'été
To: Bob <bob@acme.com>, Dan <dan@client.example>
Cc: Erin <erin@client.example>

Body line one
"""


def test_a_gmail_block_gives_sender_date_subject_to_and_cc_and_the_body_after_it() -> None:
    kind, reason, parsed = recovered(forward(GMAIL))
    assert kind == INLINE and reason == ""
    assert [a.email for a in parsed.from_] == ["carol@client.example"]  # type: ignore[attr-defined]
    assert [a.email for a in parsed.to] == ["bob@acme.com", "dan@client.example"]  # type: ignore[attr-defined]
    assert [a.email for a in parsed.cc] == ["erin@client.example"]  # type: ignore[attr-defined]
    assert parsed.subject == "Prix d'été"  # type: ignore[attr-defined]
    assert parsed.date == datetime.fromisoformat("2025-06-02T10:00:00+02:00")  # type: ignore[attr-defined]
    assert parsed.body_text.strip() == "Body line one"  # type: ignore[attr-defined]
    assert parsed.message_id is None  # type: ignore[attr-defined]


OUTLOOK = """FYI

*From:* Carol Client [mailto:carol@client.example]
*Sent:* Monday, 2 June 2025 10:00
*To:* Bob Smith <bob@acme.com>; Dan <dan@client.example>;
 erin@client.example
*Subject:* RE: Pricing

Body
"""


def test_an_outlook_block_without_its_rule_with_starred_names_mailto_and_wrapped_lists() -> None:
    kind, _, parsed = recovered(forward(OUTLOOK))
    assert kind == INLINE
    assert parsed.from_[0].email == "carol@client.example"  # type: ignore[attr-defined]
    assert parsed.from_[0].name == "Carol Client"  # type: ignore[attr-defined]
    assert [a.email for a in parsed.to] == ["bob@acme.com", "dan@client.example", "erin@client.example"]  # type: ignore[attr-defined]
    assert parsed.date == datetime.fromisoformat("2025-06-02T10:00:00+02:00")  # type: ignore[attr-defined]


def test_an_html_only_forward_and_apple_mails_block_are_read() -> None:
    html = (
        "<div>see</div><div>---------- Forwarded message ---------<br>From: <b>Carol</b> "
        "&lt;carol@client.example&gt;<br>Date: Mon, Jun 2, 2025 at 10:00 AM<br>Subject: Pricing<br>"
        "To: &lt;bob@acme.com&gt;<br><br>Body</div>"
    )
    assert recovered(forward(html=html))[2].from_[0].email == "carol@client.example"  # type: ignore[attr-defined]
    apple = "Begin forwarded message:\n\nFrom: Carol <carol@client.example>\nSubject: Pricing\n" \
            "Date: 2 June 2025 10:00\nTo: bob@acme.com\n\nBody\n"  # fmt: skip
    kind, _, parsed = recovered(forward(apple))
    assert kind == INLINE and parsed.subject == "Pricing"  # type: ignore[attr-defined]


def test_a_date_it_cannot_read_is_the_forwards_own_with_a_reason() -> None:
    kind, reason, parsed = recovered(
        forward(GMAIL.replace("Mon, Jun 2, 2025 at 10:00\u202fAM", "lundi dernier"))
    )
    assert kind == INLINE and "date was not understood" in reason
    assert parsed.date == datetime.fromisoformat("2025-06-03T09:00:00+02:00")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("just a note, nothing forwarded", "no forwarded message block found"),
        (
            "---------- Forwarded message ---------\nFrom: Carol Client\nSubject: x\n\nbody",
            "no sender address",
        ),
        ("---------- Forwarded message ---------\n\nhello", "no header lines"),
    ],
)
def test_nothing_recovered_says_why(body: str, reason: str) -> None:
    original = Forwards().original(forward(body))
    assert original.kind == UNRECOVERED and original.raw is None and reason in original.reason


def test_the_block_reader_and_its_helpers() -> None:
    fields, rest = block(
        "> ---------- Forwarded message ---------\n> From: a@b.example\n> To: c@d.example\n>\n> hi"
    )  # type: ignore[misc]
    assert fields == {"from": "a@b.example", "to": "c@d.example"} and rest == "hi"
    assert addresses("A [mailto:a@b.example]; B <b@c.example>") == [
        ("A", "a@b.example"),
        ("B", "b@c.example"),
    ]
    assert forwarded_date("6/2/2025 10:00 AM", None).isoformat() == "2025-06-02T10:00:00+00:00"  # type: ignore[union-attr]
    assert forwarded_date("Mon, 02 Jun 2025 10:00:00 -0700", None).isoformat() == "2025-06-02T10:00:00-07:00"  # type: ignore[union-attr]
