"""A Gmail mailbox synced over IMAP with XOAUTH2: Dovecot's oauth2 passdb validates each access
token against the token issuer's introspection endpoint (the local fake of Google), so a token
that expired or whose consent was revoked is refused by the server itself.

Dovecot does not announce X-GM-EXT-1: the mailbox gets the plain IMAP path (INBOX and \\Sent)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.settings import Settings
from api.bootstrap import gmail_connection
from api.runtime import Runtime
from application.imap_sync import ImapSync
from application.services.oauth import OAuthTokens, grant_secret
from projections.tables import email_copies
from tests.conftest import TEST_MASTER_KEY
from tests.support.dovecot import DovecotServer
from tests.support.google_fake import GoogleFake
from tests.support.imap import (
    _counter,
    change_password,
    external,
    fill_maildir,
    mailbox_view,
    requires_dovecot,
)
from tests.support.oauth import google_grant, google_provider
from tests.support.outbound import StubResolver
from tests.support.tls import TlsFiles, make_certificates

pytestmark = requires_dovecot
GMAIL_HOST = "imap.gmail.test"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def google() -> Iterator[GoogleFake]:
    with GoogleFake(redirect_uris=["http://127.0.0.1:8000/oauth/callback"]) as fake:
        yield fake


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(Path(tmp_path_factory.mktemp("tls")), [GMAIL_HOST])


@pytest.fixture(scope="module")
def dovecot(google: GoogleFake, certificates: TlsFiles) -> Iterator[DovecotServer]:
    with DovecotServer(oauth2_introspection_url=google.introspection_url, tls=certificates) as server:
        yield server


@pytest.fixture
def runtime(
    database_url: str, dovecot: DovecotServer, certificates: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """MAILTRAIL_GMAIL_IMAP points at the TLS Dovecot by a name the test CA signed."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    settings = Settings(database_url=database_url, master_key=TEST_MASTER_KEY,
                        gmail_imap=f"{GMAIL_HOST}:{dovecot.tls_port}")  # fmt: skip
    rt = Runtime.open(settings)
    rt.resolver = StubResolver({GMAIL_HOST: [["127.0.0.1"]]})
    try:
        yield rt
    finally:
        rt.close()


class GmailAccount:
    """A Google account whose mail Dovecot serves, connected as a `gmail` mailbox."""

    def __init__(self, runtime: Runtime, dovecot: DovecotServer, google: GoogleFake) -> None:
        self.runtime, self.dovecot, self.google = runtime, dovecot, google
        self.address = f"bob{os.getpid()}x{next(_counter)}@gmail.test"
        change_password(dovecot, self.address, "not-used-by-mailtrail")  # the Maildir, for filling
        workspace_id, member_id, _ = runtime.services.workspaces.create_workspace(
            "Acme", "acme.com", "Bob", self.address
        )
        connection = {**gmail_connection(runtime.settings), "username": self.address, "auth": "oauth"}
        self.mailbox_id = runtime.services.mailboxes.register(
            workspace_id, member_id, "gmail", self.address, [], connection
        ).id
        self.refreshes_before = google.grants.count("refresh_token")
        runtime.keystore.put(self.mailbox_id, grant_secret("gmail", google_grant(google, self.address)))
        self.tokens = OAuthTokens(runtime.keystore, {"gmail": google_provider(google)})
        self.service: ImapSync = runtime.imap_sync(timeout=10)
        self.service.tokens, self.service.backoff = self.tokens, 0.05

    def access_token(self) -> str:
        return (self.runtime.keystore.get(self.mailbox_id) or {})["access_token"]

    def fill(self, inbox: int, sent: int = 0) -> None:
        fill_maildir(self.dovecot, self.address, [external(n) for n in range(inbox)]
                     + [external(100 + n, folder="Sent") for n in range(sent)])  # fmt: skip

    def copies(self) -> int:
        self.runtime.catch_up()
        query = select(func.count()).where(email_copies.c.mailbox_id == self.mailbox_id)
        with self.runtime.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def refreshes(self) -> int:
        return self.google.grants.count("refresh_token") - self.refreshes_before

    def xoauth2_logins(self) -> int:
        log = self.dovecot.log_path.read_text()
        return log.count(f"Login: user=<{self.address}>, method=XOAUTH2")

    def kick(self) -> None:
        """The server drops the account's connections (as Gmail does now and then)."""
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        subprocess.run([doveadm, "-c", str(self.dovecot.config_path), "kick", self.address],
                       capture_output=True, timeout=10, check=True)  # fmt: skip


@pytest.fixture
def account(runtime: Runtime, dovecot: DovecotServer, google: GoogleFake) -> GmailAccount:
    return GmailAccount(runtime, dovecot, google)


def test_a_gmail_mailbox_syncs_inbox_and_sent_over_xoauth2(account: GmailAccount) -> None:
    account.fill(inbox=3, sent=2)

    report = account.service.sync(account.mailbox_id)

    assert (report.status, report.reason) == ("active", "")
    assert sorted(report.folders) == ["INBOX", "Sent"]
    assert report.fetched == 5 and account.copies() == 5
    assert account.xoauth2_logins() == 1
    assert account.refreshes() == 0  # the token was fresh


def test_a_token_expiring_mid_sync_is_refreshed_and_the_sync_finishes_without_duplicates(
    account: GmailAccount,
) -> None:
    account.fill(inbox=30)
    account.service.batch_count = 5
    first = account.access_token()
    progress: list[int] = []

    def expire_then_drop(mailbox_id: str, folder: str, fetched: int, planned: int) -> None:
        progress.append(fetched)
        if len(progress) == 1:  # one batch saved: the token ends, then the connection drops
            account.google.expire(first)
            account.kick()

    account.service.progress = expire_then_drop
    report = account.service.sync(account.mailbox_id)

    assert (report.status, report.reason) == ("active", "")
    assert report.attempts == 2  # the dropped connection; the refused token is no new attempt
    assert account.refreshes() == 1
    assert account.access_token() != first  # sealed again
    assert account.copies() == 30  # nothing lost, nothing twice
    assert sum(f.skipped["duplicate"] for f in report.folders.values()) == 0
    assert account.xoauth2_logins() == 2  # the first token, then the refreshed one


@sqlite_only  # the store plays no part in a refused refresh
def test_a_revoked_consent_stops_the_sync_with_reconnect_needed(account: GmailAccount) -> None:
    account.fill(inbox=2)
    account.google.revoke(account.address)

    report = account.service.sync(account.mailbox_id)

    assert (report.status, report.reason) == ("error", "reconnect needed")
    account.runtime.catch_up()
    view: dict[str, Any] = mailbox_view(account.runtime, account.mailbox_id)
    assert (view["status"], view["status_reason"]) == ("error", "reconnect needed")
    assert account.copies() == 0 and account.xoauth2_logins() == 0


@sqlite_only  # the store plays no part in a refused login
def test_a_server_refusing_every_token_is_an_error_after_one_refresh(
    account: GmailAccount, runtime: Runtime, dovecot: DovecotServer, google: GoogleFake
) -> None:
    other = GmailAccount(runtime, dovecot, google)  # its tokens are for another account: refused
    runtime.keystore.put(account.mailbox_id, runtime.keystore.get(other.mailbox_id) or {})

    report = account.service.sync(account.mailbox_id)

    assert (report.status, report.reason) == ("error", "login failed: the server refused the access token")
    assert account.refreshes() == 1 and account.xoauth2_logins() == 0


@sqlite_only
def test_a_fetch_process_logging_in_after_the_token_expired_gets_a_refreshed_one(
    account: GmailAccount, runtime: Runtime
) -> None:
    account.fill(inbox=10, sent=5)
    account.service = runtime.imap_sync(timeout=10, process_threshold=1)  # every folder in a child
    account.service.tokens, account.service.batch_count = account.tokens, 5
    first = account.access_token()

    def expire(mailbox_id: str, folder: str, fetched: int, planned: int) -> None:
        if folder == "INBOX":  # the Sent folder's fetch process logs in after this
            account.google.expire(first)

    account.service.progress = expire
    report = account.service.sync(account.mailbox_id)

    assert (report.status, report.reason) == ("active", "")
    assert account.refreshes() == 1 and account.copies() == 15
    assert sum(f.skipped["duplicate"] for f in report.folders.values()) == 0
    assert (
        account.xoauth2_logins() == 4
    )  # the pass, INBOX's child; refused: Sent's child; the pass, Sent's child
