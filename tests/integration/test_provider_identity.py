"""Gmail's own ids: X-GM-MSGID keys a copy, X-GM-THRID names its thread."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from adapters.mime import parse_message
from application.batch_recorder import BatchRecorder
from application.imap_sync import copy_id_of, with_provider_ids
from application.ports import Fetched
from projections.tables import email_copies, emails
from tests.support.dsl import Workspace
from tests.support.messages import message


def test_gmail_ids_key_the_copy_and_name_the_thread(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    first = parse_message(message("bob@acme.com", "ann@corp.com", "Plan", message_id="<p1@acme.com>"))
    second = parse_message(
        message("ann@corp.com", "bob@acme.com", "Other subject", message_id="<p2@corp.com>")
    )
    fetched = [Fetched(1, first, 1111, 99), Fetched(2, second, 2222, 99)]
    items = [with_provider_ids(f) for f in fetched]

    result = BatchRecorder(acme.runtime.app, mailbox).record("[Gmail]/All Mail", items, None)
    acme.runtime.catch_up()

    assert [c for c, _ in result.copies] == [copy_id_of(mailbox, i) for i in items]
    assert copy_id_of(mailbox, items[0]) != copy_id_of(mailbox, first)  # the Gmail id, not the headers
    with acme.runtime.engine.connect() as conn:
        threads = {row.thread_key for row in conn.execute(select(emails.c.thread_key))}
        copies = conn.execute(select(email_copies.c.id)).scalars().all()
    assert threads == {"provider:99"}  # one thread, though neither message references the other
    assert len(copies) == 2


def test_a_message_seen_again_with_the_same_gmail_id_is_a_duplicate(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    parsed = parse_message(message("bob@acme.com", "ann@corp.com", "Plan", message_id="<p1@acme.com>"))
    syncer = BatchRecorder(acme.runtime.app, mailbox)
    syncer.record("[Gmail]/All Mail", [with_provider_ids(Fetched(1, parsed, 1111, 99))], None)

    again = syncer.record(
        "[Gmail]/All Mail", [replace(parsed, provider_id="1111", provider_thread="99")], None
    )

    assert again.synced == 0 and again.skipped["duplicate"] == 1
