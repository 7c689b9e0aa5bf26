"""One message, two sources: an IMAP copy (CRLF) and an mbox copy (LF) are one email."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.mailfiles import read_messages
from adapters.mime import parse_message
from adapters.settings import Settings
from api.runtime import Runtime
from application.batch_recorder import DUPLICATE, BatchRecorder
from application.services.ingest import batches, import_batches
from projections.tables import email_copies, emails
from tests.support.dovecot import DovecotServer
from tests.support.imap import ImapAccount, fill_maildir, requires_dovecot
from tests.support.messages import message

# Lines with trailing blanks too: servers and exports rewrite both.
LONG_BODY = "\n".join(f"Line {n} of the quarterly figures, as discussed.  " for n in range(200))


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    rt = Runtime.open(Settings(database_url=database_url, allow_private_hosts=True))
    try:
        yield rt
    finally:
        rt.close()


def long_message() -> bytes:
    raw = message("ann@corp.example", ["bob@acme.com", "karen@acme.com"], "Figures", body=LONG_BODY,
                  message_id="<figures-1@corp.example>")  # fmt: skip
    assert len(raw) > 2 * 4096
    return raw.replace(b"\r\n", b"\n")  # as a mail server stores it; IMAP serves it with CRLF


def emails_and_copies(runtime: Runtime) -> tuple[list[str], list[tuple[str, str]]]:
    with runtime.engine.connect() as conn:
        ids = list(conn.execute(select(emails.c.id)).scalars())
        copies = [(r.email_id, r.mailbox_id) for r in conn.execute(select(email_copies))]
    return ids, copies


@requires_dovecot
def test_a_long_message_synced_over_imap_and_imported_from_an_mbox_is_one_email_with_two_copies(
    dovecot: DovecotServer, runtime: Runtime, tmp_path: Path
) -> None:
    account = ImapAccount(dovecot, runtime)
    fill_maildir(dovecot, account.user, [("INBOX", long_message())])
    assert account.sync().fetched == 1
    karen = runtime.services.workspaces.add_member(
        account.workspace_id, "Karen", ["karen@acme.com"], "member"
    ).id
    karens_box = runtime.services.mailboxes.register(
        account.workspace_id, karen, "upload", "karen@acme.com", [], {}
    ).id
    export = mailbox.mbox(tmp_path / "karen.mbox")
    export.add(long_message())
    export.close()
    assert b"\r\n" not in (tmp_path / "karen.mbox").read_bytes()

    totals = import_batches(BatchRecorder(runtime.app, karens_box), batches(read_messages(tmp_path / "karen.mbox"),
                                                                     parse_message))  # fmt: skip
    runtime.catch_up()

    assert totals.synced == 1
    ids, copies = emails_and_copies(runtime)
    assert len(ids) == 1
    assert sorted(box for _, box in copies) == sorted([account.mailbox_id, karens_box])
    assert {email for email, _ in copies} == set(ids)


def test_a_copy_recorded_by_identity_version_1_is_found_again_on_a_re_sync(runtime: Runtime) -> None:
    """Copies recorded before CRLF was normalised before the cut keep their ids: a re-sync of the
    same CRLF bytes is a duplicate, not a second copy in the same mailbox."""
    workspace_id, bob, _ = runtime.services.workspaces.create_workspace(
        "Acme", "acme.com", "Bob", "bob@acme.com"
    )
    box = runtime.services.mailboxes.register(workspace_id, bob, "upload", "bob@acme.com", [], {}).id
    crlf = long_message().replace(b"\n", b"\r\n")
    parsed = parse_message(crlf)
    assert parsed.legacy_fingerprint is not None
    as_version_1 = replace(parsed, fingerprint=parsed.legacy_fingerprint, legacy_fingerprint=None)
    syncer = BatchRecorder(runtime.app, box)
    assert syncer.record("INBOX", [as_version_1], None).synced == 1

    again = BatchRecorder(runtime.app, box).record("INBOX", [parsed], None)
    runtime.catch_up()

    assert again.synced == 0 and again.skipped[DUPLICATE] == 1
    ids, copies = emails_and_copies(runtime)
    assert len(ids) == 1 and len(copies) == 1
