"""Stories of a member sending from their IMAP mailbox: a real SMTP server on loopback
(aiosmtpd) receives what is sent, a real Dovecot is the mailbox (and its Sent folder)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.dovecot import DovecotServer
from tests.support.dsl import Member, Workspace, assert_problem
from tests.support.imap import external, fill_maildir, new_user, requires_dovecot
from tests.support.smtp import SmtpServer, TestClock

pytestmark = requires_dovecot
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@dataclass
class Outbox:
    ws: Workspace
    mailbox_id: str
    smtp: SmtpServer
    clock: TestClock
    user: str

    def send(self, member: Member | None = None, key: str | None = None, **body: Any) -> Any:
        message = {"to": ["carol@example.org"], "subject": "Proposal", "text": "Hello Carol", **body}
        headers = {**(member or self.ws.admin).headers, **({"Idempotency-Key": key} if key else {})}
        return self.ws.client.post(f"/mailboxes/{self.mailbox_id}/send", json=message, headers=headers)

    def queued(self, key: str | None = None, **body: Any) -> dict[str, Any]:
        response = self.send(key=key, **body)
        assert response.status_code == 202, response.text
        shown: dict[str, Any] = response.json()
        return shown

    def run(self) -> Any:
        return self.ws.runtime.outbox.run_once()

    def shown(self, send_id: str) -> dict[str, Any]:
        response = self.ws.client.get(f"/sends/{send_id}", headers=self.ws.admin.headers)
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = response.json()
        return shown


def _mailbox_body(
    dovecot: DovecotServer, smtp: SmtpServer, user: str, password: str, **smtp_fields: Any
) -> dict[str, Any]:
    return {
        "provider": "imap", "address": "bob@acme.com", "host": "127.0.0.1", "port": dovecot.port,
        "security": "none", "username": user, "password": password, "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port, "smtp_security": "none", **smtp_fields,
    }  # fmt: skip


@pytest.fixture
def outbox(acme: Workspace, dovecot: DovecotServer, smtp_server: SmtpServer) -> Iterator[Outbox]:
    acme.runtime.settings.allow_private_hosts = True  # Dovecot and the SMTP server listen on loopback
    user, password = new_user(dovecot)
    smtp_server.reset()
    smtp_server.add_user(user, password)  # the SMTP login is the IMAP one unless smtp_username is given
    response = acme.client.post("/mailboxes", json=_mailbox_body(dovecot, smtp_server, user, password),
                                headers=acme.admin.headers)  # fmt: skip
    assert response.status_code == 201, response.text
    acme.runtime.background.wait()
    clock = TestClock()
    acme.runtime.set_clock(clock)
    yield Outbox(acme, response.json()["id"], smtp_server, clock, user)
    smtp_server.reset()


def _emails(ws: Workspace) -> list[dict[str, Any]]:
    response = ws.client.get("/emails", headers=ws.admin.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_queued_message_is_sent_once_with_its_message_id_and_shows_on_the_records_at_once(
    outbox: Outbox, dovecot: DovecotServer
) -> None:
    queued = outbox.queued(cc=["dave@example.org"], bcc=["erin@example.org"])
    assert queued["status"] == "queued" and queued["message_id"].endswith("@acme.com>")
    assert queued["thread_id"] == f"mid:{queued['message_id'].strip('<>')}"

    assert outbox.run().sent == 1
    [received] = outbox.smtp.received
    message = received.message
    assert message["Message-ID"] == queued["message_id"]
    assert message["From"] == "Bob <bob@acme.com>" and message["To"] == "carol@example.org"
    assert message["Cc"] == "dave@example.org" and message["Bcc"] is None  # Bcc only in the envelope
    assert received.mail_from == "bob@acme.com"
    assert sorted(received.rcpt_tos) == ["carol@example.org", "dave@example.org", "erin@example.org"]
    assert message.get_body(("plain",)).get_content().strip() == "Hello Carol"  # type: ignore[union-attr]

    shown = outbox.shown(queued["id"])
    assert shown["status"] == "sent" and shown["reason"] == "accepted" and shown["sent_at"]
    [email] = _emails(outbox.ws)
    assert email["id"] == shown["email_id"] and email["subject"] == "Proposal"
    assert email["direction"] == "sent"
    people = outbox.ws.client.get("/people", headers=outbox.ws.admin.headers).json()["items"]
    assert {a for p in people for a in p["emails"]} >= {"carol@example.org", "dave@example.org"}

    # The provider files it in Sent; the sync meets it there: the same email, the same copy.
    fill_maildir(dovecot, outbox.user, [("Sent", received.raw)])
    report = outbox.ws.runtime.imap_sync().sync(outbox.mailbox_id)
    outbox.ws.runtime.wait_for(report.position)
    [again] = _emails(outbox.ws)
    assert again["id"] == email["id"]
    mailbox = outbox.ws.client.get(f"/mailboxes/{outbox.mailbox_id}", headers=outbox.ws.admin.headers).json()
    assert mailbox["synced"] == 1 and mailbox["skipped"].get("duplicate", 0) == 0
    assert outbox.run().sent == 0 and len(outbox.smtp.received) == 1


@sqlite_only
def test_the_same_idempotency_key_is_the_same_send_and_never_a_second_message(outbox: Outbox) -> None:
    first = outbox.queued(key="k-1")
    again = outbox.queued(key="k-1")
    assert again["id"] == first["id"] and again["message_id"] == first["message_id"]
    outbox.run()
    after = outbox.queued(key="k-1")  # retried after it went: still the same send
    assert after["id"] == first["id"] and after["status"] == "sent"
    outbox.run()
    assert len(outbox.smtp.received) == 1
    other = outbox.send(key="k-1", subject="Something else")
    assert assert_problem(other, 409)["detail"] == "this Idempotency-Key was used for a different message"
    listed = outbox.ws.client.get("/sends", headers=outbox.ws.admin.headers).json()
    assert [s["id"] for s in listed["items"]] == [first["id"]]


@sqlite_only
def test_addresses_and_header_fields_are_checked_so_no_header_can_be_injected(outbox: Outbox) -> None:
    cases = [
        ({"to": ["not-an-address"]}, "to: 'not-an-address' is not a valid email address"),
        ({"to": ["carol@example.org\r\nBcc: spy@evil.example"]}, "to must not contain line breaks"),
        ({"subject": "Hi\r\nBcc: spy@evil.example"}, "subject must not contain line breaks"),
        ({"subject": "Hi\nX-Injected: 1"}, "subject must not contain line breaks"),
        ({"cc": ["a b@example.org"]}, "cc: 'a b@example.org' is not a valid email address"),
        ({"from": "mallory@acme.com"}, "from must be the mailbox's address or one of its aliases"),
        ({"send_at": "tomorrow"}, "send_at must be an ISO time with a timezone"),
        ({"attachments": [{"filename": "a\r\n.txt", "content_base64": ""}]}, "attachments.filename must not"),
    ]
    for body, detail in cases:
        response = outbox.send(**body)
        assert detail in assert_problem(response, 422)["detail"], body
    assert outbox.ws.client.get("/sends", headers=outbox.ws.admin.headers).json()["items"] == []
    assert outbox.run().sent == 0 and outbox.smtp.received == []


@sqlite_only
def test_only_the_mailboxs_owner_sends_from_it(outbox: Outbox) -> None:
    carol = outbox.ws.add_member("Carol", "carol@acme.com")
    assert_problem(outbox.send(member=carol), 403)
    assert outbox.ws.client.get("/sends", headers=carol.headers).json()["items"] == []


@sqlite_only
def test_a_reply_keeps_the_thread_with_in_reply_to_and_references(
    outbox: Outbox, dovecot: DovecotServer
) -> None:
    fill_maildir(dovecot, outbox.user, [external(1)])
    outbox.ws.runtime.wait_for(outbox.ws.runtime.imap_sync().sync(outbox.mailbox_id).position)
    [email] = _emails(outbox.ws)
    queued = outbox.queued(to=["contact1@example.org"], subject="Re: Deal 1", reply_to_email=email["id"])
    outbox.run()
    [received] = outbox.smtp.received
    assert received.message["In-Reply-To"] == "<deal-1@example.org>"
    assert received.message["References"] == "<deal-1@example.org>"
    assert queued["thread_id"] == "mid:deal-1@example.org"
    emails = _emails(outbox.ws)
    assert len(emails) == 2 and len({e["thread_id"] for e in emails if "thread_id" in e} or {1}) == 1
    missing = outbox.send(reply_to_email="00000000-0000-0000-0000-000000000000")
    assert_problem(missing, 404)


@sqlite_only
def test_a_4xx_waits_with_backoff_and_a_5xx_fails_with_the_servers_reason(outbox: Outbox) -> None:
    outbox.smtp.script("451 4.3.0 mailbox busy, try later", "250 OK")
    waiting = outbox.queued()
    outbox.run()
    shown = outbox.shown(waiting["id"])
    assert shown["status"] == "queued" and shown["reason"] == "451 4.3.0 mailbox busy, try later"
    assert shown["goes_at"] == "2026-12-01T09:01:00.000000+00:00" and shown["attempts"] == 1
    outbox.clock.advance(seconds=30)
    outbox.run()
    assert outbox.shown(waiting["id"])["status"] == "queued" and outbox.smtp.received == []
    outbox.clock.advance(seconds=31)
    outbox.run()
    assert outbox.shown(waiting["id"])["status"] == "sent" and len(outbox.smtp.received) == 1

    outbox.smtp.script("550 5.1.1 <carol@example.org>: no such user")
    refused = outbox.queued()
    outbox.run()
    failed = outbox.shown(refused["id"])
    assert failed["status"] == "failed" and failed["reason"] == "550 5.1.1 <carol@example.org>: no such user"
    outbox.clock.advance(hours=2)
    outbox.run()
    assert len(outbox.smtp.received) == 1


@sqlite_only
def test_a_send_at_in_the_future_waits_until_then_and_can_be_cancelled(outbox: Outbox) -> None:
    later = outbox.queued(send_at="2026-12-01T11:00:00+01:00")  # 10:00 UTC
    cancelled = outbox.queued(send_at="2026-12-01T10:00:00Z")
    assert later["goes_at"] == "2026-12-01T10:00:00.000000+00:00"
    response = outbox.ws.client.post(f"/sends/{cancelled['id']}/cancel", headers=outbox.ws.admin.headers)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    outbox.run()
    assert outbox.smtp.received == []
    outbox.clock.advance(hours=1)
    outbox.run()
    assert outbox.shown(later["id"])["status"] == "sent" and len(outbox.smtp.received) == 1
    sent_already = outbox.ws.client.post(f"/sends/{later['id']}/cancel", headers=outbox.ws.admin.headers)
    assert_problem(sent_already, 422)


@sqlite_only
def test_over_the_hourly_limit_a_send_waits_and_the_outbox_says_when_it_goes(outbox: Outbox) -> None:
    ws = outbox.ws
    forbidden = ws.client.patch("/settings", json={"send_limits": {"per_hour": 2}},
                                headers=ws.add_member("Carol", "carol@acme.com").headers)  # fmt: skip
    assert_problem(forbidden, 403)
    changed = ws.client.patch("/settings", json={"send_limits": {"per_hour": 2}}, headers=ws.admin.headers)
    assert changed.json()["send_limits"] == {"per_hour": 2, "per_day": 200, "spacing_seconds": 300}
    assert_problem(
        ws.client.patch("/settings", json={"send_limits": {"per_hour": 0}}, headers=ws.admin.headers), 422
    )

    first = outbox.queued(key="1")
    outbox.run()
    outbox.clock.advance(minutes=10)
    outbox.queued(key="2")
    outbox.clock.advance(seconds=1)
    third = outbox.queued(key="3")
    outbox.run()
    assert len(outbox.smtp.received) == 2
    shown = outbox.shown(third["id"])
    assert shown["status"] == "queued" and shown["reason"] == "waiting for the mailbox's sending limits"
    assert shown["goes_at"] == "2026-12-01T10:00:00.000000+00:00"  # an hour after the first went
    assert outbox.shown(first["id"])["status"] == "sent"
    outbox.clock.advance(minutes=48, seconds=59)
    outbox.run()
    assert len(outbox.smtp.received) == 2
    outbox.clock.advance(minutes=1)
    outbox.run()
    assert len(outbox.smtp.received) == 3 and outbox.shown(third["id"])["status"] == "sent"


def _person(ws: Workspace, name: str, email: str) -> str:
    response = ws.client.post("/people", json={"name": name, "emails": [email]}, headers=ws.admin.headers)
    assert response.status_code == 201, response.text
    person_id: str = response.json()["id"]
    return person_id


@sqlite_only
def test_a_mass_send_is_personalised_per_person_and_spaced_apart(outbox: Outbox) -> None:
    ws = outbox.ws
    ws.client.post(
        "/companies", json={"domain": "globex.example", "name": "Globex"}, headers=ws.admin.headers
    )
    ada = _person(ws, "Ada Lovelace", "ada@globex.example")
    grace = _person(ws, "Grace", "grace@gmail.com")
    body = {
        "recipients": [ada, grace],
        "subject": "Hello {{ person.first_name }}",
        "text": "Hi {{ person.first_name | default('there') }} at {{ company.name | default('your team') }}, "
        "{{ sender.name }}",
    }
    preview = ws.client.post(f"/mailboxes/{outbox.mailbox_id}/mass-sends/preview", json=body,
                             headers=ws.admin.headers)  # fmt: skip
    assert preview.status_code == 200, preview.text
    assert [(p["to"], p["subject"], p["text"]) for p in preview.json()["items"]] == [
        ("ada@globex.example", "Hello Ada", "Hi Ada at Globex, Bob"),
        ("grace@gmail.com", "Hello Grace", "Hi Grace at your team, Bob"),
    ]
    for template, named in (("{{ person.nickname }}", "unknown variable person.nickname"),
                            ("{{ deal.value }}", "'deal' is undefined"),
                            ("{% if %}", "template error on line 1"),
                            ("{{ person.__class__ }}", "unknown variable person.__class__")):  # fmt: skip
        bad = ws.client.post(f"/mailboxes/{outbox.mailbox_id}/mass-sends", json={**body, "text": template},
                             headers=ws.admin.headers)  # fmt: skip
        assert named in assert_problem(bad, 422)["detail"], template
    assert ws.client.get("/sends", headers=ws.admin.headers).json()["items"] == []

    response = ws.client.post(f"/mailboxes/{outbox.mailbox_id}/mass-sends", json=body,
                              headers={**ws.admin.headers, "Idempotency-Key": "m1"})  # fmt: skip
    assert response.status_code == 202, response.text
    sends = response.json()["sends"]
    assert [s["person_id"] for s in sends] == [ada, grace] and len({s["id"] for s in sends}) == 2
    outbox.run()
    assert [r.rcpt_tos for r in outbox.smtp.received] == [["ada@globex.example"]]
    waiting = outbox.shown(sends[1]["id"])
    assert waiting["status"] == "queued" and waiting["goes_at"] == "2026-12-01T09:05:00.000000+00:00"
    outbox.clock.advance(minutes=5)
    outbox.run()
    assert [r.message["Subject"] for r in outbox.smtp.received] == ["Hello Ada", "Hello Grace"]


@sqlite_only
def test_smtp_settings_are_checked_by_logging_in_and_user_typed_hosts_follow_the_private_address_rule(
    acme: Workspace, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    ws = acme
    user, password = new_user(dovecot)
    smtp_server.add_user(user, password)
    smtp_server.add_user("bob-smtp", "smtp-secret")
    ws.runtime.settings.allow_private_hosts = True

    def connect(**fields: Any) -> Any:
        body = _mailbox_body(dovecot, smtp_server, user, password, **fields)
        return ws.client.post("/mailboxes", json=body, headers=ws.admin.headers)

    wrong = connect(smtp_username="bob-smtp", smtp_password="guess")
    detail = assert_problem(wrong, 422)["detail"]
    assert (
        detail
        == f"SMTP login to 127.0.0.1:{smtp_server.port} failed: the SMTP server refused the username or password"
    )
    plaintext = connect(smtp_host="10.0.0.7")
    assert "loopback" in assert_problem(plaintext, 422)["detail"]
    assert ws.client.get("/mailboxes", headers=ws.admin.headers).json()["items"] == []

    created = connect(smtp_username="bob-smtp", smtp_password="smtp-secret")
    assert created.status_code == 201, created.text
    mailbox_id = created.json()["id"]
    assert "smtp-secret" not in created.text and "smtp_password" not in created.text
    ws.runtime.background.wait()

    moved = ws.client.patch(
        f"/mailboxes/{mailbox_id}", json={"smtp_host": "localhost"}, headers=ws.admin.headers
    )
    assert "needs smtp_password" in assert_problem(moved, 422)["detail"]
    ws.runtime.settings.allow_private_hosts = False
    refused = ws.client.patch(f"/mailboxes/{mailbox_id}", json={"smtp_host": "169.254.169.254", "smtp_security": "tls",
                              "smtp_password": "smtp-secret"}, headers=ws.admin.headers)  # fmt: skip
    assert "MAILTRAIL_ALLOW_PRIVATE_HOSTS" in assert_problem(refused, 422)["detail"]
    ws.runtime.settings.allow_private_hosts = True
    again = ws.client.patch(
        f"/mailboxes/{mailbox_id}", json={"smtp_password": "guess"}, headers=ws.admin.headers
    )
    assert_problem(again, 422)
    fixed = ws.client.patch(f"/mailboxes/{mailbox_id}", json={"smtp_username": user, "smtp_password": password},
                            headers=ws.admin.headers)  # fmt: skip
    assert fixed.status_code == 200, fixed.text
    assert ws.runtime.keystore.get(mailbox_id) == {"password": password, "smtp_password": password}


@sqlite_only
def test_content_is_sealed_audit_rows_hold_none_and_a_removed_mailbox_sends_nothing(outbox: Outbox) -> None:
    ws = outbox.ws
    waiting = outbox.queued(subject="Confidential merger", text="Secret body", send_at="2026-12-02T09:00:00Z")
    with ws.runtime.engine.connect() as conn:
        stored = conn.execute(text(f"SELECT state FROM {ws.runtime.app.recorder.events_table_name}")).all()  # type: ignore[attr-defined]
    assert stored and not any(
        b"Confidential" in bytes(r.state) or b"carol@example.org" in bytes(r.state) for r in stored
    )
    audit = ws.client.get("/audit/events", headers=ws.admin.headers).json()["items"]
    assert "Send.Created" in {e["event_type"] for e in audit} and "Confidential" not in str(audit)

    assert ws.client.delete(f"/mailboxes/{outbox.mailbox_id}", headers=ws.admin.headers).status_code == 204
    outbox.clock.advance(days=1)
    outbox.run()
    shown = outbox.shown(waiting["id"])
    assert shown["status"] == "failed" and shown["reason"] == "the mailbox was removed"
    assert outbox.smtp.received == []
    assert_problem(outbox.send(), 422)


@sqlite_only
def test_the_outbox_loop_started_with_the_runtime_sends_as_soon_as_a_send_is_queued(outbox: Outbox) -> None:
    loop = outbox.ws.runtime.outbox_loop
    loop.poll_seconds = 60.0  # only the queueing's wake-up can make it send within the test
    loop.start()
    try:
        queued = outbox.queued()
        deadline = time.monotonic() + 20
        while not outbox.smtp.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        loop.stop()
    assert len(outbox.smtp.received) == 1
    outbox.ws.runtime.catch_up()
    assert outbox.shown(queued["id"])["status"] == "sent"


def _bounce_for(message_id: str, recipient: str) -> bytes:
    """A delivery status notification (RFC 3464) as a mail server sends one back."""
    return (
        "From: Mail Delivery System <mailer-daemon@mx.example.org>\r\nTo: bob@acme.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nDate: Tue, 01 Dec 2026 09:05:00 +0000\r\n"
        "Message-ID: <bounce-1@mx.example.org>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {message_id}\r\nSubject: Proposal\r\n\r\n"
        "--B--\r\n"
    ).encode()


@sqlite_only
def test_a_delivery_report_synced_into_the_mailbox_marks_the_send_failed_with_the_reason(
    outbox: Outbox, dovecot: DovecotServer
) -> None:
    queued = outbox.queued(to=["carol@example.org", "dave@example.org"])
    outbox.run()
    fill_maildir(dovecot, outbox.user, [("INBOX", _bounce_for(queued["message_id"], "Carol@Example.org"))])
    for _ in range(2):  # synced again (or re-imported): the same bounce once
        report = outbox.ws.runtime.imap_sync().sync(outbox.mailbox_id)
        outbox.ws.runtime.wait_for(report.position)
    shown = outbox.shown(queued["id"])
    assert shown["status"] == "failed"
    assert shown["reason"] == "bounced: carol@example.org: 5.1.1 smtp; 550 5.1.1 user unknown"
    people = outbox.ws.client.get("/people", headers=outbox.ws.admin.headers).json()["items"]
    assert {p["emails"][0]: p["bouncing"] for p in people} == {
        "carol@example.org": ["carol@example.org"], "dave@example.org": [],
    }  # fmt: skip
    other = outbox.queued(key="other")
    outbox.run()
    fill_maildir(
        dovecot, outbox.user, [("INBOX", _bounce_for("<someone-else@example.org>", "x@example.org"))]
    )
    outbox.ws.runtime.wait_for(outbox.ws.runtime.imap_sync().sync(outbox.mailbox_id).position)
    assert outbox.shown(other["id"])["status"] == "sent"
