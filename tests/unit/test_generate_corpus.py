from __future__ import annotations

import email
import hashlib
import mailbox
import re
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path

import pytest

from adapters.mailgen import generate_messages, write_maildir, write_mbox

N = 2000


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, bytes]]:
    return list(generate_messages(N))


@pytest.fixture(scope="module")
def parsed(corpus: list[tuple[str, bytes]]) -> list[tuple[str, Message, bytes]]:
    return [(f, email.message_from_bytes(r), r) for f, r in corpus]


def test_deterministic_same_seed(corpus: list[tuple[str, bytes]]) -> None:
    assert list(generate_messages(N)) == corpus


def test_different_seed_differs() -> None:
    a = list(generate_messages(200, seed=7))
    b = list(generate_messages(200, seed=8))
    assert a != b
    assert sum(x != y for x, y in zip(a, b)) > 150


def test_messages_parse_with_required_headers(parsed: list[tuple[str, Message, bytes]]) -> None:
    ids = set()
    for folder, msg, raw in parsed:
        assert folder in ("INBOX", "Sent")
        assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
        for h in ("From", "To", "Date", "Message-ID", "Subject"):
            assert msg[h], h
        assert not msg.defects
        ids.add(msg["Message-ID"])
        if folder == "Sent":
            assert "alice@acme.example" in msg["From"]
        else:
            assert "alice@acme.example" in msg["To"]
    assert len(ids) == N
    assert "<0.7@gen.mailtrail.example>" in ids


def test_dates_increase(parsed: list[tuple[str, Message, bytes]]) -> None:
    dates = [email.utils.parsedate_to_datetime(m["Date"]) for _, m, _ in parsed]
    assert dates == sorted(dates)
    assert 600 < (dates[-1] - dates[0]).days <= 731


def test_shares(parsed: list[tuple[str, Message, bytes]]) -> None:
    msgs = parsed
    ids = {m["Message-ID"] for _, m, _ in msgs}

    def share(pred) -> float:  # type: ignore[no-untyped-def]
        return sum(1 for item in msgs if pred(*item)) / N

    assert 0.25 < share(lambda f, m, r: f == "Sent") < 0.35
    assert 0.30 < share(lambda f, m, r: m["In-Reply-To"] is not None) < 0.50
    assert 0.06 < share(lambda f, m, r: m.get_content_type() == "multipart/mixed") < 0.14
    assert 0.06 < share(lambda f, m, r: b"multipart/alternative" in r) < 0.16
    assert 0.08 < share(lambda f, m, r: b"=?utf-8?" in r.split(b"\r\n\r\n", 1)[0]) < 0.25
    assert 0.02 < share(lambda f, m, r: m["List-Unsubscribe"] is not None) < 0.09
    for _, m, _ in msgs:
        if m["In-Reply-To"]:
            assert m["In-Reply-To"] in ids
            assert str(make_header(decode_header(m["Subject"]))).startswith("Re: ")
            assert m["References"].split()[-1] == m["In-Reply-To"]
        cc = m.get_all("Cc") or []
        assert len(email.utils.getaddresses(cc)) <= 4
    avg = sum(len(r) for _, _, r in msgs) / N
    assert 2000 < avg < 10000


def test_attachments_decode(parsed: list[tuple[str, Message, bytes]]) -> None:
    seen = 0
    for _, msg, _ in parsed:
        for part in msg.walk():
            if part.get_content_disposition() == "attachment":
                assert part.get_content_type() in ("application/pdf", "image/png")
                payload = part.get_payload(decode=True)
                assert 2048 <= len(payload) <= 30720
                seen += 1
    assert seen > 0


def test_write_maildir(tmp_path: Path) -> None:
    n = write_maildir(tmp_path / "md", count=300)
    assert n == 300
    inbox = list((tmp_path / "md" / "cur").iterdir())
    sent = list((tmp_path / "md" / ".Sent" / "cur").iterdir())
    assert len(inbox) + len(sent) == 300
    expected = list(generate_messages(300))
    assert sum(f == "Sent" for f, _ in expected) == len(sent)
    for d in ("md", "md/.Sent"):
        for sub in ("tmp", "new", "cur"):
            assert (tmp_path / d / sub).is_dir()
    assert (tmp_path / "md" / "cur" / "0000000.mailtrail:2,S").read_bytes() == expected[0][1]
    assert len(mailbox.Maildir(tmp_path / "md")) == len(inbox)


def test_write_mbox_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "out.mbox"
    assert write_mbox(path, count=500) == 500
    expected = [email.message_from_bytes(r) for _, r in generate_messages(500)]
    box = mailbox.mbox(path)
    try:
        got = list(box)
        assert len(got) == 500
        assert [m["Message-ID"] for m in got] == [m["Message-ID"] for m in expected]
        assert [m["Subject"] for m in got] == [m["Subject"] for m in expected]
    finally:
        box.close()
    data = path.read_bytes()
    assert b"\n>From " in data  # body lines starting with "From " are quoted
    for line in data.split(b"\n"):
        if line.startswith(b"From "):
            assert line == b"From MAILER-DAEMON Thu Jan  1 00:00:00 2025"


def test_the_benchmark_corpus_is_the_one_it_always_was() -> None:
    """The default stream (no `end`) is pinned: benchmark figures stay comparable across changes."""
    digest = hashlib.sha256(b"".join(f.encode() + r for f, r in generate_messages(500))).hexdigest()
    assert digest == "c290487ff35c85435c952f0c2e4154fa0887d093599adcf9c62140875f44e94b"


@pytest.mark.parametrize("count", [1, 3, 40, 700])
def test_mail_generated_up_to_a_moment_ends_there_and_never_later(count: int) -> None:
    end = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    mail = [email.message_from_bytes(r) for _, r in generate_messages(count, seed=11, end=end)]
    dates = [email.utils.parsedate_to_datetime(m["Date"]) for m in mail]

    assert dates == sorted(dates) and dates[-1] == end
    assert dates[0] >= end - timedelta(days=731)
    stamp = rb"On (\w{3}, \d\d \w{3} \d{4} [\d:]{8} [+-]\d{4}),"
    quoted = [d for m in mail for d in re.findall(stamp, m.as_bytes())]
    assert all(email.utils.parsedate_to_datetime(d.decode()) < end for d in quoted)
    assert quoted or count < 40
    again = list(generate_messages(count, seed=11, end=end))
    assert again == list(generate_messages(count, seed=11, end=end))
