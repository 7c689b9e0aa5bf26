"""Connecting Gmail by OAuth, end to end: POST /mailboxes → Google's consent (a local fake of its
authorization and token endpoints) → GET /oauth/callback → `active` → the mail synced over IMAP
with XOAUTH2 from a TLS Dovecot whose oauth2 passdb validates the tokens against the fake's
introspection endpoint. MAILTRAIL_GMAIL_IMAP points at that Dovecot; the production code is
unchanged."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapters.secret_tables import mailbox_secrets
from adapters.settings import Settings
from api.main import create_app
from api.runtime import Runtime
from tests.conftest import TEST_MASTER_KEY
from tests.support.dovecot import DovecotServer
from tests.support.dsl import make_workspace
from tests.support.google_fake import GoogleFake, follow
from tests.support.imap import change_password, requires_dovecot
from tests.support.messages import message
from tests.support.outbound import StubResolver
from tests.support.tls import TlsFiles, make_certificates

pytestmark = requires_dovecot
GMAIL_HOST = "imap.gmail.test"
CALLBACK = "http://testserver/oauth/callback"
_accounts = itertools.count()


@pytest.fixture(scope="module")
def google() -> Iterator[GoogleFake]:
    with GoogleFake(redirect_uris=[CALLBACK]) as fake:
        yield fake


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(Path(tmp_path_factory.mktemp("tls")), [GMAIL_HOST])


@pytest.fixture(scope="module")
def dovecot(google: GoogleFake, certificates: TlsFiles) -> Iterator[DovecotServer]:
    with DovecotServer(oauth2_introspection_url=google.introspection_url, tls=certificates) as server:
        yield server


class Gmail:
    """A team member on a Google Workspace domain, the API, and their mail on the Dovecot."""

    def __init__(
        self, client: TestClient, runtime: Runtime, google: GoogleFake, dovecot: DovecotServer
    ) -> None:
        n = f"{os.getpid()}x{next(_accounts)}"
        self.address, self.google, self.dovecot, self.runtime = f"bob@acme{n}.test", google, dovecot, runtime
        self.ws = make_workspace(client, runtime, domain=f"acme{n}.test", admin=("Bob", self.address))
        change_password(dovecot, self.address, "not-used-by-mailtrail")  # the account's Maildir
        google.signed_in = self.address

    def deliver(self, folder: str, subject: str) -> None:
        sender, to = (
            (self.address, "carol@example.org") if folder == "Sent" else ("carol@example.org", self.address)
        )
        self.dovecot.append(
            self.address, folder, message(sender, to, subject, message_id=f"<{subject}@x.org>")
        )

    def connect(self) -> dict[str, Any]:
        response = self.ws.client.post("/mailboxes", json={"provider": "gmail", "address": self.address},
                                       headers=self.ws.admin.headers)  # fmt: skip
        assert response.status_code == 201, response.text
        return dict(response.json())

    def consent(self, authorization_url: str) -> str:
        """The owner's browser: Google's consent screen, then back to mailtrail's callback."""
        answer = follow(self.google, authorization_url)
        page = self.ws.client.get("/oauth/callback", params=answer)
        assert page.status_code == 200, page.text
        self.runtime.background.wait()
        self.runtime.catch_up()
        return page.text

    def mailbox(self, mailbox_id: str) -> dict[str, Any]:
        return dict(self.ws.client.get(f"/mailboxes/{mailbox_id}", headers=self.ws.admin.headers).json())

    def subjects(self) -> list[str]:
        items = self.ws.client.get("/emails", headers=self.ws.admin.headers).json()["items"]
        return sorted(e["subject"] for e in items)

    def xoauth2_logins(self) -> int:
        return self.dovecot.log_path.read_text().count(f"Login: user=<{self.address}>, method=XOAUTH2")


@pytest.fixture
def gmail(
    sqlite_template: Path, tmp_path: Path, google: GoogleFake, dovecot: DovecotServer, certificates: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Gmail]:  # fmt: skip
    shutil.copy(sqlite_template, tmp_path / "mailtrail.db")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'mailtrail.db'}", master_key=TEST_MASTER_KEY,
        google_client_id=google.client_id, google_client_secret=google.client_secret,
        google_auth_url=google.auth_url, google_token_url=google.token_url, google_jwks_url=google.jwks_url,
        gmail_imap=f"{GMAIL_HOST}:{dovecot.tls_port}", public_url="http://testserver",
    )  # fmt: skip
    runtime = Runtime.open(settings)
    runtime.resolver = StubResolver({GMAIL_HOST: [["127.0.0.1"]]})
    google.access_lifetime = 3599
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            yield Gmail(client, runtime, google, dovecot)
    finally:
        runtime.background.wait()
        runtime.close()


def test_connecting_gmail_asks_google_for_consent_and_the_callback_activates_and_syncs(gmail: Gmail) -> None:
    gmail.deliver("INBOX", "Quote")
    gmail.deliver("Sent", "Re: Quote")

    created = gmail.connect()

    assert created["status"] == "authorizing"
    url = created["authorization_url"]
    assert url.startswith(gmail.google.auth_url + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["scope"].split() == ["https://mail.google.com/", "openid", "email"]
    assert (query["access_type"], query["prompt"], query["code_challenge_method"]) == (
        "offline",
        "consent",
        "S256",
    )
    assert query["redirect_uri"] == CALLBACK and query["login_hint"] == gmail.address and query["state"]

    page = gmail.consent(url)

    assert "Mailbox connected" in page
    mailbox = gmail.mailbox(created["id"])
    assert (mailbox["status"], mailbox["status_reason"]) == ("active", "")
    assert gmail.subjects() == ["Quote", "Re: Quote"]  # INBOX and \Sent: Dovecot has no X-GM-EXT-1
    assert gmail.xoauth2_logins() == 1
    with gmail.runtime.engine.connect() as conn:
        sealed = bytes(conn.execute(select(mailbox_secrets.c.ciphertext)).scalar_one())
    for token in gmail.google.active_tokens(gmail.address):
        assert token.encode() not in sealed and token not in page and token not in str(mailbox)


def test_an_access_token_about_to_expire_is_refreshed_before_the_login(gmail: Gmail) -> None:
    gmail.google.access_lifetime = 120  # under the five minutes' margin
    refreshes = gmail.google.grants.count("refresh_token")
    gmail.deliver("INBOX", "Hello")

    gmail.consent(gmail.connect()["authorization_url"])

    assert gmail.subjects() == ["Hello"]
    assert gmail.google.grants.count("refresh_token") == refreshes + 1
    assert gmail.xoauth2_logins() == 1  # with the refreshed token: the first was never refused


def test_signing_in_with_another_google_account_sets_error(gmail: Gmail) -> None:
    created = gmail.connect()
    gmail.google.signed_in = "eve@gmail.test"

    page = gmail.consent(created["authorization_url"])

    assert f"signed in as eve@gmail.test, not {gmail.address}" in page
    assert gmail.mailbox(created["id"])["status"] == "error"
    assert gmail.xoauth2_logins() == 0


def test_a_revoked_consent_needs_a_reconnection_after_which_the_sync_resumes_from_its_cursors(
    gmail: Gmail,
) -> None:
    gmail.deliver("INBOX", "One")
    created = gmail.connect()
    gmail.consent(created["authorization_url"])
    gmail.google.revoke(gmail.address)
    gmail.deliver("INBOX", "Two")

    report = gmail.runtime.imap_sync().sync(created["id"])
    gmail.runtime.catch_up()

    assert (report.status, report.reason) == ("error", "reconnect needed")
    assert gmail.mailbox(created["id"])["status_reason"] == "reconnect needed"
    assert gmail.subjects() == ["One"]

    again = gmail.ws.client.post(f"/mailboxes/{created['id']}/reconnect", headers=gmail.ws.admin.headers)
    assert again.status_code == 200, again.text
    gmail.consent(again.json()["authorization_url"])

    mailbox = gmail.mailbox(created["id"])
    assert (mailbox["status"], mailbox["status_reason"]) == ("active", "")
    assert gmail.subjects() == ["One", "Two"]
    assert mailbox["cursors"]["INBOX"]["fetched"] == 2  # "One" was not downloaded again
