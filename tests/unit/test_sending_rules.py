"""The sending rules without I/O: limits, header fields, templates, the composed message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest

from adapters.mime import parse_message
from adapters.templates import JinjaTemplates
from application.app import MailTrail
from application.compose import compose, envelope
from application.ports import DueSend, TemplateError
from application.services.sending import Outgoing, Sending
from domain.errors import RuleViolationError
from domain.mailbox import Mailbox
from domain.outbox import Outbox, SendLimits, next_slot
from domain.outgoing import no_line_breaks, recipient, send_time
from domain.send import SENT, Send, backoff, send_id_from_message_id
from domain.workspace import Workspace
from tests.support.fakes import Catalog
from tests.support.smtp import TestClock

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_within_the_limits_a_send_goes_at_once() -> None:
    assert next_slot([], None, T0, SendLimits(), spaced=True) == T0
    assert next_slot([at(-30)] * 11, None, T0, SendLimits(), spaced=False) == T0


def test_the_thirteenth_send_of_an_hour_waits_for_the_first_to_leave_the_hour() -> None:
    taken = [at(-59 + n) for n in range(12)]
    assert next_slot(taken, None, T0, SendLimits(), spaced=False) == at(1)


def test_the_day_limit_counts_the_last_24_hours() -> None:
    limits = SendLimits(per_hour=1000, per_day=3, spacing_seconds=0)
    taken = [at(-60 * 23), at(-60 * 22), at(-10)]
    assert next_slot(taken, None, T0, limits, spaced=False) == at(60)  # the first leaves the day
    assert next_slot([at(-60 * 25), *taken[1:]], None, T0, limits, spaced=False) == T0


def test_mass_sends_keep_the_spacing_and_single_sends_do_not() -> None:
    assert next_slot([at(-1)], at(-1), T0, SendLimits(), spaced=True) == at(4)
    assert next_slot([at(-1)], at(-1), T0, SendLimits(), spaced=False) == T0
    assert next_slot([at(-1)], at(-1), T0, SendLimits(spacing_seconds=0), spaced=True) == T0


def test_the_outbox_forgets_attempts_older_than_a_day() -> None:
    outbox = Outbox(mailbox_id="m")
    outbox.take("a", at(-60 * 25), spaced=True)
    outbox.take("b", T0, spaced=False)
    assert outbox.times() == [T0] and outbox.spaced_at() == at(-60 * 25)


@pytest.mark.parametrize("limits", [(0, 200, 300), (12, 0, 300), (12, 200, -1), (12, 200, True), (1.5, 2, 3)])
def test_limits_must_be_whole_numbers_in_range(limits: tuple[object, object, object]) -> None:
    with pytest.raises(RuleViolationError):
        SendLimits.checked(*limits)


def test_a_send_moves_from_queued_to_sent_and_transient_failures_back_off() -> None:
    send = Send(workspace_id="w", mailbox_id="m", sender_id="s", key="k", message_id="<x@acme.com>",
                thread_key="mid:x@acme.com", headers={}, content={}, queued_at=T0.isoformat())  # fmt: skip
    assert send.due(T0)
    send.attempt(T0, at(5))
    assert not send.due(at(4)) and send.due(at(5))  # in doubt once the lease is over
    send.defer(at(1), "451 busy")
    send.attempt(at(1), at(6))
    send.mark_sent(at(1), "250 ok")
    assert send.status == SENT and send.attempts == 2 and not send.due(at(100))
    with pytest.raises(RuleViolationError):
        send.cancel("s")
    assert [backoff(n) for n in (1, 2, 3, 10)] == [timedelta(minutes=m) for m in (1, 2, 4, 60)]


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nBcc: x@y.z", "a\x00b", "a\u2028b"])
def test_no_header_field_holds_a_line_break(value: str) -> None:
    with pytest.raises(RuleViolationError, match="must not contain line breaks"):
        no_line_breaks("subject", value)


@pytest.mark.parametrize("value", ["carol", "carol@", "@example.org", "a b@example.org", "a..b@example.org",
                                   '"a"@example.org', "carol@example", "<carol@example.org>, x@y.org"])  # fmt: skip
def test_only_plain_addresses_are_recipients(value: str) -> None:
    with pytest.raises(RuleViolationError):
        recipient("to", value)


def test_a_recipient_is_normalised() -> None:
    assert recipient("to", "Carol@Bücher.Example") == "carol@xn--bcher-kva.example"


def test_send_at_needs_a_timezone() -> None:
    assert send_time("2026-12-01T10:00:00+01:00") == at(0)
    with pytest.raises(RuleViolationError):
        send_time("2026-12-01T10:00:00")


def test_templates_render_known_variables_and_name_unknown_ones() -> None:
    templates = JinjaTemplates()
    variables = {"person": {"first_name": None, "name": "Ada"}, "company": {"name": "Globex"}}
    assert templates.render("Hi {{ person.first_name | default('there') }}", variables, "text") == "Hi there"
    assert templates.render("<b>{{ company.name }}</b>", {"company": {"name": "<A&B>"}}, "html") == (
        "<b>&lt;A&amp;B&gt;</b>"
    )
    for template, named in (("{{ person.first_name }}", "person.first_name has no value"),
                            ("{{ person.age }}", "unknown variable person.age"),
                            ("{{ lead.name }}", "'lead' is undefined"),
                            ("{{ person.name.__class__.__mro__ }}", "text:"),
                            ("{{ ''.__class__.__subclasses__() }}", "text:"),
                            ("{% for %}", "template error on line 1")):  # fmt: skip
        with pytest.raises(TemplateError, match=named):
            templates.render(template, variables, "text")


def test_the_composed_message_has_no_bcc_header_and_the_envelope_has_every_recipient() -> None:
    headers = {"from": "bob@acme.com", "from_name": "Bob", "to": ["carol@example.org"], "cc": ["dave@example.org"],
               "bcc": ["erin@example.org"], "subject": "Hé", "message_id": "<x@acme.com>",
               "in_reply_to": "<p@example.org>", "references": ["<r@example.org>", "<p@example.org>"]}  # fmt: skip
    raw = compose(headers, {"text": "body", "html": "<p>body</p>", "attachments": [
        {"filename": "a.txt", "content_type": "text/plain", "content_base64": "aGk="}]}, T0)  # fmt: skip
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Bcc"] is None and b"erin@example.org" not in raw
    assert message["Subject"] == "Hé" and message["References"] == "<r@example.org> <p@example.org>"
    assert [p.get_filename() for p in message.iter_attachments()] == ["a.txt"]  # type: ignore[attr-defined]
    assert envelope(headers) == (
        "bob@acme.com",
        ["carol@example.org", "dave@example.org", "erin@example.org"],
    )


class _FullIndex:
    def due(self, now: datetime, limit: int) -> list[DueSend]:
        return []

    def scheduled(self, workspace_id: str) -> int:
        return 1000


def test_at_most_a_thousand_sends_wait_in_a_workspace() -> None:
    app = MailTrail(Catalog())  # the library's in-memory recorders
    workspace = Workspace(name="Acme", signup_domain="acme.com", plan="pro")
    workspace.add_member("m1", "Bob", ["bob@acme.com"], "admin")
    mailbox = Mailbox(workspace_id=str(workspace.id), owner_id="m1", provider="imap", address="bob@acme.com",
                      aliases=[], connection={"smtp_host": "smtp.acme.com"})  # fmt: skip
    app.save(workspace, mailbox)
    sending = Sending(app, _FullIndex(), JinjaTemplates(), TestClock())
    with pytest.raises(RuleViolationError, match="at most 1000 sends"):
        sending.send(
            str(workspace.id), str(mailbox.id), "m1", None, Outgoing(["carol@example.org"], "Hi", "x")
        )


def test_a_delivery_report_names_its_failed_recipients_and_the_message_returned() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.org\r\nTo: bob@acme.com\r\nSubject: failure\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type="delivery-status"; boundary=b\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsorry\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822;erin@example.org\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n"
        b"Final-Recipient: rfc822; dave@example.org\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        b"Diagnostic-Code: smtp; 552 5.2.2\r\n  mailbox full\r\n\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <abc@acme.com>\r\nSubject: x\r\n\r\nbody\r\n"
        b"--b--\r\n"
    )
    [bounce] = parse_message(raw).bounces
    assert (bounce.recipient, bounce.status, bounce.diagnostic, bounce.original_message_id) == (
        "dave@example.org", "5.2.2", "smtp; 552 5.2.2 mailbox full", "abc@acme.com",
    )  # fmt: skip
    assert parse_message(b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n").bounces == ()
    assert send_id_from_message_id("<" + "a" * 32 + ".mailtrail@acme.com>") is not None
    assert send_id_from_message_id("<abc@acme.com>") is None
