"""Syncing a real Dovecot account: full history, incremental passes, expunges, UIDVALIDITY."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.settings import Settings
from api.replay import replay_digests
from api.runtime import Runtime
from application.imap_worker import ImapWorker
from domain.fates import message_text
from domain.mailbox import Mailbox
from domain.visibility import Viewer
from projections.diagnostic_queries import fates_of
from tests.support.dovecot import DovecotServer
from tests.support.imap import CuttingProxy, ImapAccount, external, fill_maildir, requires_dovecot, seen_flags
from tests.support.messages import message

pytestmark = requires_dovecot
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


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


@pytest.fixture
def account(dovecot: DovecotServer, runtime: Runtime) -> ImapAccount:
    return ImapAccount(dovecot, runtime)


def test_a_full_sync_stores_every_message_on_the_server_without_marking_it_read(
    account: ImapAccount, dovecot: DovecotServer
) -> None:
    fill_maildir(dovecot, account.user, [external(n) for n in range(30)])
    fill_maildir(dovecot, account.user, [external(n, "Proposal", "Sent") for n in range(12)])

    report = account.sync()

    on_server = sum(dovecot.status(account.user, f)["MESSAGES"] for f in ("INBOX", "Sent"))
    assert on_server == 42
    assert report.status == "active" and report.fetched == 42
    assert len(account.visible_subjects()) == 42
    view = account.view()
    assert view["status"] == "active" and view["synced"] == 42 and view["last_sync_at"]
    assert set(view["cursors"]) == {"INBOX", "Sent"}
    assert view["cursors"]["INBOX"]["pending"] == 0 and view["cursors"]["INBOX"]["fetched"] == 30
    assert seen_flags(dovecot, account.user, "INBOX") == 0 and seen_flags(dovecot, account.user, "Sent") == 0


@sqlite_only
def test_new_messages_arrive_on_the_next_pass_and_nothing_else_is_fetched_again(
    dovecot: DovecotServer, runtime: Runtime
) -> None:
    proxy = CuttingProxy((dovecot.host, dovecot.port))
    try:
        account = ImapAccount(dovecot, runtime, port=proxy.port)
        fill_maildir(dovecot, account.user, [external(n) for n in range(40)])
        assert account.sync().fetched == 40
        full_bytes = proxy.bytes_from_server

        for n in (100, 101):
            account.append(*external(n, "Late"))
        before = proxy.bytes_from_server
        report = account.sync()
        incremental_bytes = proxy.bytes_from_server - before

        assert report.fetched == 2
        assert [s for s in account.visible_subjects() if s.startswith("Late")] == ["Late 100", "Late 101"]
        assert len(account.visible_subjects()) == 42
        assert incremental_bytes < full_bytes / 4  # two small messages, not the folder again

        position = runtime.app.recorder.max_notification_id()
        assert account.sync().fetched == 0
        assert runtime.app.recorder.max_notification_id() == position  # an idle pass records nothing
    finally:
        proxy.close()


def test_messages_expunged_on_the_server_are_retracted_from_the_views(
    account: ImapAccount, dovecot: DovecotServer
) -> None:
    uids = [account.append(*external(n)) for n in range(5)]
    account.append("Sent", external(1)[1])  # the same message also sits in Sent
    account.sync()
    assert len(account.visible_subjects()) == 5

    dovecot.expunge(account.user, "INBOX", [uids[0], uids[1]])
    report = account.sync()

    assert report.folders["INBOX"].expunged == 1  # Deal 1 is still in Sent
    assert account.visible_subjects() == ["Deal 1", "Deal 2", "Deal 3", "Deal 4"]
    assert sorted(account.copies().values()) == [False, False, False, False, True]


def test_a_uidvalidity_change_resyncs_the_folder_without_duplicates(
    account: ImapAccount, dovecot: DovecotServer
) -> None:
    fill_maildir(dovecot, account.user, [external(n) for n in range(20)])
    fill_maildir(dovecot, account.user, [external(n, "Offer", "Sent") for n in range(6)])
    account.sync()
    old = account.view()["cursors"]["Sent"]["uidvalidity"]

    new = dovecot.recreate_folder(account.user, "Sent")  # new UIDVALIDITY, same messages
    dovecot.set_uidvalidity(account.user, "INBOX", 4242)
    account.append(*external(99, "Offer", "Sent"))
    report = account.sync()

    assert new != old and report.folders["Sent"].resynced and report.folders["INBOX"].resynced
    assert report.folders["Sent"].synced == 1 and report.folders["INBOX"].synced == 0
    cursors = account.view()["cursors"]
    assert (cursors["INBOX"]["uidvalidity"], cursors["Sent"]["uidvalidity"]) == (4242, new)
    assert len(account.copies()) == 27 and len(account.visible_subjects()) == 27
    assert account.view()["synced"] == 27


@sqlite_only
def test_a_connection_cut_in_the_middle_of_a_batch_is_retried_and_loses_nothing(
    dovecot: DovecotServer, runtime: Runtime
) -> None:
    proxy = CuttingProxy((dovecot.host, dovecot.port))
    try:
        account = ImapAccount(dovecot, runtime, port=proxy.port)
        fill_maildir(dovecot, account.user, [external(n) for n in range(300)])
        proxy.cut_after(60_000, times=2)  # the first two sessions die inside a FETCH

        report = account.sync()

        assert proxy.cuts == 2 and report.attempts == 3
        assert report.status == "active" and report.reason == ""
        assert len(account.copies()) == 300 and account.view()["synced"] == 300
    finally:
        proxy.close()


@sqlite_only
def test_a_server_that_stops_answering_times_out_and_the_sync_resumes(
    dovecot: DovecotServer, runtime: Runtime
) -> None:
    proxy = CuttingProxy((dovecot.host, dovecot.port))
    try:
        account = ImapAccount(dovecot, runtime, port=proxy.port)
        account.service.connector.timeout = 1.0  # type: ignore[attr-defined]
        fill_maildir(dovecot, account.user, [external(n) for n in range(120)])
        proxy.cut_after(30_000, stall=True)  # silent in the middle of a FETCH, connection open

        report = account.sync()

        assert proxy.cuts == 1 and report.attempts == 2 and report.status == "active"
        assert len(account.copies()) == 120 and account.view()["synced"] == 120
    finally:
        proxy.close()


def test_two_workers_syncing_one_mailbox_never_duplicate_a_message(
    account: ImapAccount, dovecot: DovecotServer
) -> None:
    fill_maildir(dovecot, account.user, [external(n) for n in range(300)])
    account.service.batch_count = 25
    both_connected, both_opened = threading.Barrier(2), threading.Barrier(2)
    connector = account.service.connector

    class SideBySide:
        """Both workers read the folder's cursor before either saves a batch: they must collide."""

        def connect(self, connection: Any, secret: Any) -> Any:
            server = connector.connect(connection, secret)
            both_connected.wait(timeout=10)
            open_folder = server.open

            def open_together(folder: str) -> Any:
                state = open_folder(folder)
                both_opened.wait(timeout=10)
                return state

            server.open = open_together
            return server

    account.service.connector = SideBySide()  # type: ignore[assignment]
    reports = []
    workers = [threading.Thread(target=lambda: reports.append(account.service.sync(account.mailbox_id)))
               for _ in range(2)]  # fmt: skip
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    account.runtime.catch_up()

    assert [r.status for r in reports] == ["active", "active"]
    assert any(f.contended for r in reports for f in r.folders.values())  # they did collide
    assert len(account.copies()) == 300
    view = account.view()
    assert view["synced"] == 300 and view["skipped"].get("duplicate", 0) == 0
    assert view["cursors"]["INBOX"]["pending"] == 0


def test_mail_that_lands_just_before_the_worker_idles_wakes_it_at_once(
    account: ImapAccount, dovecot: DovecotServer
) -> None:
    fill_maildir(dovecot, account.user, [external(n) for n in range(3)])
    account.sync()
    connector = account.service.connector

    class LateMail:
        """A message arrives after the worker compared the folders and before it opens one to IDLE."""

        def connect(self, connection: Any, secret: Any) -> Any:
            server = connector.connect(connection, secret)
            open_folder = server.open

            def open_after_new_mail(folder: str) -> Any:
                account.append(*external(9, "Late"))
                server.open = open_folder
                return open_folder(folder)

            server.open = open_after_new_mail
            return server

    account.service.connector = LateMail()  # type: ignore[assignment]
    worker = ImapWorker(account.service, poll_seconds=30)
    stop = threading.Event()
    waited = threading.Thread(target=worker._wait_for_change, args=(account.mailbox_id, stop))
    waited.start()
    waited.join(timeout=10)
    stop.set()
    assert not waited.is_alive(), "the worker went to IDLE and missed mail that was already there"
    account.service.connector = connector
    account.sync()
    assert "Late 9" in account.visible_subjects()


def test_a_resync_of_the_same_messages_leaves_the_mailbox_counters_as_they_were(
    account: ImapAccount, dovecot: DovecotServer
) -> None:
    lunch = ("INBOX", message("sue@acme.com", "bob@acme.com", "Lunch", message_id="<lunch@acme.com>"))
    fill_maildir(dovecot, account.user, [external(n) for n in range(4)] + [lunch, lunch, external(0)])
    offers = [external(n, "Offer", "Sent") for n in range(3)]
    fill_maildir(dovecot, account.user, [*offers, ("Sent", external(1)[1])])
    account.sync()  # Deal 1 also sits in Sent; Deal 0 and Lunch twice in INBOX
    first = account.view()
    assert (first["synced"], counted(first)) == (7, {"duplicate": 2, "internal_only": 1})

    dovecot.set_uidvalidity(account.user, "INBOX", 777)  # every message is fetched again
    new = dovecot.recreate_folder(account.user, "Sent")
    report = account.sync()

    assert report.folders["INBOX"].resynced and report.folders["INBOX"].fetched == 7 and new
    again = account.view()
    assert (again["synced"], counted(again)) == (first["synced"], counted(first))


def counted(view: dict[str, Any]) -> dict[str, int]:
    return {reason: n for reason, n in view["skipped"].items() if n}


def test_a_folder_deleted_then_recreated_on_the_server_shows_its_messages_again(
    account: ImapAccount, dovecot: DovecotServer
) -> None:
    plans = [external(n, "Plan", "Projects") for n in range(3)]
    account.append(*external(0))
    for folder, raw in plans:
        account.append(folder, raw)
    mailbox = account.runtime.app.load(Mailbox, account.mailbox_id)
    mailbox.change_connection({**mailbox.connection, "folders": ["INBOX", "Projects"]})
    account.runtime.app.save_all(mailbox)
    account.sync()
    assert len(account.visible_subjects()) == 4

    with dovecot.connect(account.user) as client:
        client.delete_folder("Projects")
    report = account.sync()
    assert report.folders["Projects"].retired and report.folders["Projects"].expunged == 3
    assert account.visible_subjects() == ["Deal 0"] and account.view()["synced"] == 1

    for folder, raw in plans[:2]:  # the owner restores part of it from a backup
        account.append(folder, raw)
    report = account.sync()

    assert report.folders["Projects"].restored == 2 and report.status == "active"
    assert account.visible_subjects() == ["Deal 0", "Plan 0", "Plan 1"]
    assert account.view()["synced"] == 3 and account.view()["status_reason"] == ""
    replayed = replay_digests(account.runtime)  # retraction, forgotten cursor, restoration: all replayable
    assert replayed["replay_digest"] == replayed["live_digest"]


def test_a_message_expunged_and_put_back_on_the_server_is_shown_again(
    account: ImapAccount, dovecot: DovecotServer
) -> None:
    uid = account.append(*external(1))
    account.append(*external(2))
    account.sync()
    dovecot.expunge(account.user, "INBOX", [uid])
    account.sync()
    assert account.visible_subjects() == ["Deal 2"]

    account.append(*external(1))  # moved back from the trash
    account.sync()

    assert account.visible_subjects() == ["Deal 1", "Deal 2"] and account.view()["synced"] == 2


def test_diagnostics_say_a_message_expunged_on_the_server_was_retracted_and_by_which_event(
    account: ImapAccount, dovecot: DovecotServer
) -> None:
    uids = [account.append(*external(n)) for n in range(2)]
    account.sync()
    dovecot.expunge(account.user, "INBOX", [uids[0]])
    account.sync()
    viewer = Viewer(account.workspace_id, account.member_id, "admin")
    with account.runtime.engine.connect() as conn:
        gone, kept = (
            fates_of(
                conn,
                viewer,
                account.runtime.app.fate_hash(message_text(f"deal-{n}@example.org")),
                f"deal-{n}@example.org",
            )
            for n in range(2)
        )
    assert (gone[0]["fate"], gone[0]["reason"], gone[0]["event_type"]) == (
        "retracted",
        "expunged",
        "SyncedMessage.Expunged",
    )
    assert kept[0]["fate"] == "stored"
