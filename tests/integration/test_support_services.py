"""Smoke tests for the real-service test helpers in tests/support/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from email.message import EmailMessage

import psycopg
import pytest

from tests.support.dovecot import DovecotServer, find_dovecot
from tests.support.postgres import (
    ENV_URL,
    PostgresServer,
    drop_database,
    fresh_database,
    postgres_url_for_tests,
)

requires_dovecot = pytest.mark.skipif(
    find_dovecot() is None and shutil.which("/usr/sbin/dovecot") is None,
    reason="dovecot not installed (apt-get install -y dovecot-imapd)",
)


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer({"alice": "alice-pw", "bob": "bob-pw"}) as server:
        yield server


def _raw_message(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@example.org>"
    msg["To"] = "alice@example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@example.org>"
    msg.set_content(f"body of {subject}\n")
    return msg.as_bytes().replace(b"\n", b"\r\n")


# -- PostgreSQL ----------------------------------------------------------------------


def test_postgres_server_accepts_connections(pg_server: PostgresServer) -> None:
    assert pg_server.url.startswith("postgresql://postgres@127.0.0.1:")
    assert pg_server.port not in (None, 5432)
    with psycopg.connect(pg_server.url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_database()").fetchone() == ("mailtrail_test",)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_fresh_database_gives_distinct_empty_databases(pg_server: PostgresServer) -> None:
    first = fresh_database(pg_server.url, "support_test")
    second = fresh_database(pg_server.url, "support_test")
    try:
        assert first != second
        names = set()
        for url in (first, second):
            with psycopg.connect(url, connect_timeout=5) as conn:
                names.add(conn.execute("SELECT current_database()").fetchone())
                tables = conn.execute(
                    "SELECT count(*) FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                ).fetchone()
                assert tables == (0,)
        assert len(names) == 2
        with psycopg.connect(first) as conn:
            conn.execute("CREATE TABLE only_in_first (id int)")
        with psycopg.connect(second) as conn:
            assert conn.execute("SELECT to_regclass('only_in_first')").fetchone() == (None,)
    finally:
        drop_database(first)
        drop_database(second)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(first, connect_timeout=5)


def test_postgres_url_for_tests_honours_env(
    pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_URL, pg_server.url)
    with postgres_url_for_tests() as url:
        assert url == pg_server.url


# -- Dovecot ---------------------------------------------------------------------------


@requires_dovecot
def test_dovecot_login(dovecot: DovecotServer) -> None:
    assert dovecot.host == "127.0.0.1" and dovecot.port not in (0, 143)
    client = dovecot.connect("alice")
    try:
        caps = client.capabilities()
        assert b"CONDSTORE" in caps and b"QRESYNC" in caps and b"UIDPLUS" in caps
    finally:
        client.logout()
    from imapclient import IMAPClient
    from imapclient.exceptions import LoginError

    with IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=10) as bad, pytest.raises(LoginError):
        bad.login("alice", "wrong-password")


@requires_dovecot
def test_dovecot_append_lists_message_with_uid(dovecot: DovecotServer) -> None:
    uid = dovecot.append("bob", "INBOX", _raw_message("hello bob"), flags=[b"\\Seen"])
    assert uid >= 1
    assert dovecot.maildir_path("bob").is_dir()
    client = dovecot.connect("bob")
    try:
        client.select_folder("INBOX", readonly=True)
        assert uid in client.search("ALL")
        data = client.fetch([uid], ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])[uid]
        assert b"\\Seen" in data[b"FLAGS"]
        assert b"hello bob" in data[b"BODY[HEADER.FIELDS (SUBJECT)]"]
    finally:
        client.logout()
    dovecot.expunge("bob", "INBOX", [uid])
    assert dovecot.status("bob", "INBOX")["MESSAGES"] == 0


@requires_dovecot
def test_dovecot_sent_has_special_use(dovecot: DovecotServer) -> None:
    client = dovecot.connect("alice")
    try:
        folders = {name: flags for flags, _sep, name in client.list_folders()}
    finally:
        client.logout()
    assert b"\\Sent" in folders["Sent"]
    assert "INBOX" in folders


@requires_dovecot
def test_dovecot_recreate_folder_changes_uidvalidity(dovecot: DovecotServer) -> None:
    for i in range(3):
        dovecot.append("alice", "Archive", _raw_message(f"archived {i}"))
    before = dovecot.status("alice", "Archive")
    new_uidvalidity = dovecot.recreate_folder("alice", "Archive")
    after = dovecot.status("alice", "Archive")
    assert new_uidvalidity == after["UIDVALIDITY"] != before["UIDVALIDITY"]
    assert after["MESSAGES"] == before["MESSAGES"] == 3

    dovecot.append("alice", "INBOX", _raw_message("inbox one"))
    dovecot.set_uidvalidity("alice", "INBOX", 4242)
    assert dovecot.status("alice", "INBOX")["UIDVALIDITY"] == 4242
