"""Capture by forwarding and BCC: smtplib over loopback against the inbound SMTP server the
composition root builds (`mailtrail inbound`'s, here on a thread over the test's store), then
what the member sees through the HTTP API."""

from __future__ import annotations

import base64
import contextlib
import os
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from adapters.settings import Settings
from api.main import create_app
from api.runtime import Runtime
from domain.message import MAX_MESSAGE_BYTES
from tests.conftest import TEST_MASTER_KEY
from tests.support.dns_stub import DnsStub, dns_stub
from tests.support.dsl import Workspace, make_workspace
from tests.support.messages import message
from tests.support.postgres import free_port

# Capture goes through the batch path, which both stores run for every other origin: the tests
# that show what the store does (copies, dedupe, removal) run on both, the protocol's on SQLite.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

DOMAIN = "in.mailtrail.example"
SELECTOR = "mt2026"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DkimKey:
    private_pem: bytes
    txt: str

    def sign(self, raw: bytes, domain: str = "acme.com") -> bytes:
        signature = dkim.sign(raw, SELECTOR.encode(), domain.encode(), self.private_pem)
        return bytes(signature) + raw


@pytest.fixture(scope="module")
def dkim_key() -> DkimKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DkimKey(pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}")


@pytest.fixture
def dns(dkim_key: DkimKey) -> Iterator[DnsStub]:
    with dns_stub({f"{SELECTOR}._domainkey.acme.com": dkim_key.txt}) as stub:
        yield stub


@dataclass
class Inbound:
    acme: Workspace
    port: int

    @property
    def runtime(self) -> Runtime:
        return self.acme.runtime

    def address(self, member_id: str | None = None) -> str:
        member_id = member_id or self.acme.admin.id
        response = self.acme.client.get(f"/members/{member_id}", headers=self.acme.admin.headers)
        assert response.status_code == 200, response.text
        return str(response.json()["capture_address"])

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=30)

    def send(self, raw: bytes, to: str | None = None, sender: str = "bob@acme.com") -> tuple[int, bytes]:
        """DATA's answer (code, text) for one message to the capture address."""
        with self.smtp() as smtp:
            smtp.ehlo()
            assert smtp.mail(sender)[0] == 250
            code, text = smtp.rcpt(to or self.address())
            assert code == 250, text
            return smtp.data(raw)

    def get(self, path: str) -> dict:  # type: ignore[type-arg]
        self.runtime.catch_up()
        response = self.acme.client.get(path, headers=self.acme.admin.headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def emails(self) -> list[dict]:  # type: ignore[type-arg]
        return list(self.get("/emails")["items"])

    def forwarded_mailboxes(self) -> list[dict]:  # type: ignore[type-arg]
        return [
            m
            for m in self.get("/mailboxes")["items"]
            if m["provider"] == "forwarded" and m["status"] != "removed"
        ]


@pytest.fixture
def inbound(database_url: str, dns: DnsStub) -> Iterator[Inbound]:
    settings = Settings(
        database_url=database_url,
        master_key=TEST_MASTER_KEY,
        inbound_domain=DOMAIN,
        inbound_dns=(dns.address,),
    )
    runtime = Runtime.open(settings)
    server = runtime.inbound("127.0.0.1", free_port())
    server.start()
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            yield Inbound(make_workspace(client, runtime), server.port)
    finally:
        server.stop()
        runtime.close()


def addresses(email: dict) -> set[str]:  # type: ignore[type-arg]
    return {p["address"] for p in email["participants"]}


def forward(subject: str, body: str, attachment: bytes | None = None) -> bytes:
    outer = EmailMessage()
    outer["From"] = "Bob <bob@acme.com>"
    outer["To"] = "capture"  # replaced by the capture address where it matters; not a participant
    outer["Subject"] = subject
    outer["Date"] = "Tue, 03 Jun 2025 09:00:00 +0200"
    outer["Message-ID"] = make_msgid(domain="acme.com")
    outer.set_content(body)
    if attachment is not None:
        outer.add_attachment(attachment, maintype="message", subtype="rfc822")
    return outer.as_bytes()


ORIGINAL = message(
    "Carol Client <carol@client.example>", "Bob <bob@acme.com>", "Pricing",
    cc=["Dan <dan@client.example>"], message_id="<pricing-1@client.example>",
    date="Mon, 02 Jun 2025 10:00:00 +0000", body="What would 40 seats cost?",
)  # fmt: skip


def test_a_bcc_of_the_members_own_mail_is_recorded_as_it_is_without_the_capture_address(
    inbound: Inbound,
) -> None:
    capture = inbound.address()
    raw = message("bob@acme.com", "carol@client.example", "Proposal", message_id="<p1@acme.com>")
    code, text = inbound.send(raw, to=capture)
    assert code == 250 and b"captured (bcc)" in text, text
    [email] = inbound.emails()
    assert addresses(email) == {"bob@acme.com", "carol@client.example"}
    assert email["direction"] == "sent"
    [mailbox] = inbound.forwarded_mailboxes()
    assert mailbox["synced"] == 1 and mailbox["owner_id"] == inbound.acme.admin.id
    people = inbound.get("/people")["items"]
    assert [p["emails"] for p in people] == [["carol@client.example"]]  # selective: Bob wrote to her


def test_an_attached_forward_is_recorded_as_the_original_with_its_own_headers(inbound: Inbound) -> None:
    code, text = inbound.send(forward("Fwd: Pricing", "see below", ORIGINAL))
    assert code == 250 and b"captured (attached)" in text, text
    [email] = inbound.emails()
    assert addresses(email) == {"carol@client.example", "bob@acme.com", "dan@client.example"}
    assert email["sent_at"].startswith("2025-06-02T10:00:00")
    assert email["direction"] == "received"
    # the same message uploaded elsewhere later is the same email (its Message-ID), a second copy
    mailbox = inbound.acme.connect_upload(inbound.acme.admin, "bob@acme.com")
    assert inbound.acme.post_message(inbound.acme.admin, mailbox, ORIGINAL).status_code in (200, 201)
    [again] = inbound.emails()
    assert again["id"] == email["id"] and again["copies"] == 2


GMAIL = """Have a look.

---------- Forwarded message ---------
From: Carol Client <carol@client.example>
Date: Mon, Jun 2, 2025 at 10:00\u202fAM
Subject: Pricing
To: Bob <bob@acme.com>
Cc: Dan <dan@client.example>, erin@client.example


What would 40 seats cost?
"""

OUTLOOK = """FYI

________________________________
From: Carol Client <carol@client.example>
Sent: Monday, June 2, 2025 10:00 AM
To: Bob Smith <bob@acme.com>; Dan [mailto:dan@client.example]
Cc: erin@client.example
Subject: RE: Pricing

What would 40 seats cost?
"""


@SQLITE
@pytest.mark.parametrize("body", [GMAIL, OUTLOOK], ids=["gmail", "outlook"])
def test_an_inline_forward_is_read_for_its_sender_date_subject_and_recipients(
    inbound: Inbound, body: str
) -> None:
    code, text = inbound.send(forward("Fwd: Pricing", body))
    assert code == 250 and b"captured (inline)" in text, text
    [email] = inbound.emails()
    assert addresses(email) == {
        "carol@client.example",
        "bob@acme.com",
        "dan@client.example",
        "erin@client.example",
    }
    assert email["sent_at"].startswith("2025-06-02T08:00:00")  # 10:00 in the forward's own zone, +02:00
    assert email["subject"].endswith("Pricing") and email["direction"] == "received"
    body_text = inbound.get(f"/emails/{email['id']}/body")
    assert "40 seats" in str(body_text)


@SQLITE
def test_a_forward_with_nothing_to_recover_is_recorded_itself_with_the_reason(inbound: Inbound) -> None:
    """The forward itself went to the capture address alone: all internal, so the batch path skips
    it as it would any internal mail; the reply and the mailbox's counts say so."""
    code, text = inbound.send(forward("Fwd: lunch", "no header block here, just chat"))
    assert code == 250, text
    assert text.endswith(b"not stored (unrecovered: internal_only): no forwarded message block found")
    [mailbox] = inbound.forwarded_mailboxes()
    assert mailbox["skipped"] == {"internal_only": 1} and inbound.emails() == []


@SQLITE
def test_an_unknown_recipient_is_refused_at_rcpt_before_any_data(inbound: Inbound) -> None:
    real = inbound.address()
    slug = real.partition("+")[0]
    with inbound.smtp() as smtp:
        smtp.ehlo()
        smtp.mail("bob@acme.com")
        for stranger in (f"{slug}+aaaaaaaaaaaaaaaa@{DOMAIN}", f"nobody@{DOMAIN}", "bob@acme.com"):
            code, text = smtp.rcpt(stranger)
            assert code == 550, (stranger, text)
        with pytest.raises(smtplib.SMTPDataError) as refused:  # no recipient accepted: no data taken
            smtp.data(ORIGINAL)
        assert refused.value.smtp_code == 503
    assert inbound.forwarded_mailboxes() == []


@SQLITE
def test_a_rotated_address_is_refused_and_the_new_one_taken(inbound: Inbound) -> None:
    old = inbound.address()
    response = inbound.acme.client.post(
        f"/members/{inbound.acme.admin.id}/capture-address", headers=inbound.acme.admin.headers
    )
    assert response.status_code == 200, response.text
    new = response.json()["capture_address"]
    assert new != old and new == inbound.address() and new.startswith(old.partition("+")[0] + "+")
    with inbound.smtp() as smtp:
        smtp.ehlo()
        smtp.mail("bob@acme.com")
        assert smtp.rcpt(old)[0] == 550
        assert smtp.rcpt(new)[0] == 250
    # the token appears in no event the audit log lists
    events = inbound.get("/audit/events")
    assert new.partition("+")[2].partition("@")[0] not in str(events)


@SQLITE
def test_another_members_address_is_shown_to_nobody_else(inbound: Inbound) -> None:
    carl = inbound.acme.add_member("Carl", "carl@acme.com")
    response = inbound.acme.client.get(f"/members/{carl.id}", headers=inbound.acme.admin.headers)
    assert response.status_code == 200 and response.json()["capture_address"] is None
    own = inbound.acme.client.get(f"/members/{carl.id}", headers=carl.headers).json()["capture_address"]
    assert own.startswith("carl+") and own.endswith("@" + DOMAIN)


@SQLITE
def test_a_strangers_forward_is_refused_with_the_reason_and_nothing_is_stored(inbound: Inbound) -> None:
    raw = forward("Fwd: Pricing", "see below", ORIGINAL).replace(
        b"Bob <bob@acme.com>", b"mallory@evil.example", 1
    )
    code, text = inbound.send(raw, sender="mallory@evil.example")
    assert code == 550 and b"mallory@evil.example" in text and b"not one of the member's addresses" in text
    assert inbound.forwarded_mailboxes() == [] and inbound.emails() == []


@SQLITE
def test_a_dkim_signed_forward_must_verify_against_the_published_key(
    inbound: Inbound, dkim_key: DkimKey, dns: DnsStub
) -> None:
    signed = dkim_key.sign(forward("Fwd: Pricing", "see below", ORIGINAL))
    tampered = signed.replace(b"see below", b"see BELOW")
    code, text = inbound.send(tampered)
    assert code == 550 and b"DKIM signature does not verify for acme.com" in text, text
    assert inbound.emails() == []
    code, text = inbound.send(signed)
    assert code == 250 and b"captured (attached)" in text, text
    assert f"{SELECTOR}._domainkey.acme.com" in dns.queries
    assert len(inbound.emails()) == 1


@SQLITE
def test_an_oversized_message_is_refused(inbound: Inbound) -> None:
    capture = inbound.address()
    big = b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n"
    big = big * (MAX_MESSAGE_BYTES // len(big) + 1)
    with inbound.smtp() as smtp:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # SIZE declared: refused at MAIL
            smtp.sendmail("bob@acme.com", [capture], big)
        assert refused.value.smtp_code == 552
    assert inbound.forwarded_mailboxes() == []


def test_captured_mail_follows_the_mailboxs_blocklist_and_leaves_with_its_removal(inbound: Inbound) -> None:
    """Blocklist, removal and a new mailbox on the next capture: the batch path's rules."""
    acme, headers = inbound.acme, inbound.acme.admin.headers
    assert inbound.send(forward("Fwd: Pricing", "see below", ORIGINAL))[0] == 250
    [mailbox] = inbound.forwarded_mailboxes()
    assert acme.client.post(f"/mailboxes/{mailbox['id']}/blocklist", json={"entry": "client.example"},
                            headers=headers).status_code in (200, 201)  # fmt: skip
    assert inbound.emails() == []  # hidden at once
    other = message(
        "Carol <carol@client.example>", "bob@acme.com", "Again", message_id="<again@client.example>"
    )
    code, text = inbound.send(forward("Fwd: Again", "again", other))
    assert code == 250 and b"not stored (attached: blocklisted)" in text, text
    assert acme.client.delete(f"/mailboxes/{mailbox['id']}", headers=headers).status_code == 204
    assert inbound.emails() == [] and inbound.forwarded_mailboxes() == []
    assert inbound.send(forward("Fwd: Again", "again", other))[0] == 250  # a new forwarded mailbox
    [fresh] = inbound.forwarded_mailboxes()
    assert fresh["id"] != mailbox["id"] and fresh["synced"] == 1
    assert [e["subject"] for e in inbound.emails()] == ["Again"]


@SQLITE
def test_mailtrail_inbound_takes_a_signed_forward_from_an_untrusted_network_and_no_unsigned_one(
    database_url: str, dkim_key: DkimKey, dns: DnsStub, tmp_path: Path
) -> None:
    """The `mailtrail inbound` command itself, trusting no network: only DKIM lets mail in."""
    runtime = Runtime.open(
        Settings(database_url=database_url, master_key=TEST_MASTER_KEY, inbound_domain=DOMAIN)
    )
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            acme = make_workspace(client, runtime)
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("MAILTRAIL_")}
            env.update({
                "MAILTRAIL_DATABASE_URL": database_url, "MAILTRAIL_MASTER_KEY": TEST_MASTER_KEY,
                "MAILTRAIL_INBOUND_DOMAIN": DOMAIN, "MAILTRAIL_INBOUND_TRUSTED": "",
                "MAILTRAIL_INBOUND_DNS": dns.address,
            })  # fmt: skip
            log = (tmp_path / "inbound.log").open("wb")
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "mailtrail"), "inbound", "--port", str(port)],
                cwd=ROOT, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                server = Inbound(acme, port)
                _wait_for_smtp(port, process, tmp_path / "inbound.log")
                code, text = server.send(forward("Fwd: Pricing", "see below", ORIGINAL))
                assert code == 550 and b"no DKIM signature and the connection is not trusted" in text, text
                code, text = server.send(dkim_key.sign(forward("Fwd: Pricing", "see below", ORIGINAL)))
                assert code == 250 and b"captured (attached)" in text, text
                [email] = server.emails()
                assert email["subject"] == "Pricing"
            finally:
                process.terminate()
                process.wait(10)
                log.close()
            assert (
                b"+" + server.address().partition("+")[2].encode()
                not in (tmp_path / "inbound.log").read_bytes()
            )
    finally:
        runtime.close()


def _wait_for_smtp(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mailtrail inbound exited: {log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise AssertionError(f"mailtrail inbound did not listen: {log.read_text()}")


@SQLITE
def test_a_forwarded_reply_from_a_new_address_joins_the_lead_of_the_bccd_thread(inbound: Inbound) -> None:
    """Close's flow: BCC the proposal, forward the client's reply; the reply attaches to the lead."""
    acme = inbound.acme
    hank = acme.client.post(
        "/people", json={"name": "Hank", "emails": ["hank@globex.com"]}, headers=acme.admin.headers
    )
    deal = acme.client.post(
        "/leads", json={"name": "Globex deal", "contacts": [hank.json()["id"]]}, headers=acme.admin.headers
    ).json()["id"]
    proposal = message("bob@acme.com", "hank@globex.com", "Pricing", message_id="<t1@acme.com>")
    assert inbound.send(proposal)[0] == 250
    reply = message(
        "newcomer@globex.com", "bob@acme.com", "Re: Pricing", message_id="<t2@globex.com>",
        date="Tue, 03 Jun 2025 09:00:00 +0000",
        headers={"In-Reply-To": "<t1@acme.com>", "References": "<t1@acme.com>"},
    )  # fmt: skip
    assert inbound.send(forward("Fwd: Re: Pricing", "for the lead", reply))[0] == 250
    subjects = sorted(e["subject"] for e in inbound.get(f"/leads/{deal}/emails")["items"])
    assert subjects == ["Pricing", "Re: Pricing"]
