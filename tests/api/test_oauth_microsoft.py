"""Connecting Microsoft 365 by OAuth: msal against a local fake of the identity platform and
Graph (tests/support/microsoft.py), over TLS with a test CA, the production code unchanged."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapters.secret_tables import mailbox_secrets, oauth_states
from adapters.settings import Settings
from api.main import create_app
from api.runtime import Runtime
from tests.conftest import TEST_MASTER_KEY
from tests.support.dsl import Workspace, assert_problem, make_workspace
from tests.support.messages import message
from tests.support.microsoft import CLIENT_ID, CLIENT_SECRET, Fake, microsoft_fake


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fake]:
    with microsoft_fake(tmp_path_factory.mktemp("microsoft")) as running:
        yield running


def ms_settings(database_url: str, fake: Fake, **more: Any) -> Settings:
    return Settings(
        database_url=database_url, master_key=TEST_MASTER_KEY, microsoft_client_id=CLIENT_ID,
        microsoft_client_secret=CLIENT_SECRET, microsoft_authority=fake.authority, graph_url=fake.graph_url,
        public_url="http://testserver", **more,
    )  # fmt: skip


def _ms(url: str, fake: Fake, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Workspace, Runtime]]:
    monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca))
    fake.accounts.clear()
    fake.signed_in = ""
    fake.revoked.clear()
    runtime = Runtime.open(ms_settings(url, fake))
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            yield make_workspace(client, runtime), runtime
    finally:
        runtime.background.wait()
        runtime.close()


@pytest.fixture
def ms(
    sqlite_template: Path, tmp_path: Path, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workspace, Runtime]]:
    """On SQLite (the flow's store work is the same on both: `ms_any` runs a few on both)."""
    shutil.copy(sqlite_template, tmp_path / "mailtrail.db")
    yield from _ms(f"sqlite:///{tmp_path / 'mailtrail.db'}", fake, monkeypatch)


@pytest.fixture
def ms_any(
    database_url: str, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workspace, Runtime]]:
    """On SQLite and on PostgreSQL."""
    yield from _ms(database_url, fake, monkeypatch)


def start(ws: Workspace, address: str = "bob@acme.com") -> dict[str, Any]:
    response = ws.client.post("/mailboxes", json={"provider": "microsoft365", "address": address},
                              headers=ws.admin.headers)  # fmt: skip
    assert response.status_code == 201, response.text
    return dict(response.json())


def callback(ws: Workspace, fake: Fake, authorization_url: str) -> Any:
    location = fake.authorize(authorization_url)  # the owner's browser signs in and consents
    path = urlsplit(location)
    return ws.client.get(f"{path.path}?{path.query}")


def status(ws: Workspace, mailbox_id: str) -> tuple[str, str]:
    row = ws.client.get(f"/mailboxes/{mailbox_id}", headers=ws.admin.headers).json()
    return row["status"], row["status_reason"]


def test_without_a_client_id_microsoft365_and_gmail_answer_not_configured(acme: Workspace) -> None:
    for provider in ("microsoft365", "gmail"):
        response = acme.client.post("/mailboxes", json={"provider": provider, "address": "bob@acme.com"},
                                    headers=acme.admin.headers)  # fmt: skip
        assert "not configured" in assert_problem(response, 422)["detail"]
    assert acme.client.get("/mailboxes", headers=acme.admin.headers).json()["items"] == []


def test_connecting_redirects_with_pkce_and_the_callback_activates_and_syncs(
    ms_any: tuple[Workspace, Runtime], fake: Fake
) -> None:
    ws, runtime = ms_any
    fake.account("bob@acme.com")
    fake.deliver("bob@acme.com", "inbox", message("carol@example.org", "bob@acme.com", "Quote",
                                                 message_id="<q1@example.org>"))  # fmt: skip
    created = start(ws)
    assert created["status"] == "authorizing"
    query = parse_qs(urlsplit(created["authorization_url"]).query)
    assert created["authorization_url"].startswith(fake.authority + "/oauth2/v2.0/authorize")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == ["http://testserver/oauth/callback"]
    assert {"Mail.Read", "User.Read", "offline_access"} <= set(query["scope"][0].split())
    assert query["login_hint"] == ["bob@acme.com"] and query["state"][0]

    page = callback(ws, fake, created["authorization_url"])
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "connected" in page.text
    runtime.background.wait()
    runtime.catch_up()
    assert status(ws, created["id"]) == ("active", "")
    subjects = [e["subject"] for e in ws.client.get("/emails", headers=ws.admin.headers).json()["items"]]
    assert subjects == ["Quote"]
    # the tokens are sealed at rest: neither the state table nor the secrets hold them in clear
    with runtime.engine.connect() as conn:
        sealed = conn.execute(select(mailbox_secrets.c.ciphertext)).scalar_one()
        assert conn.execute(select(oauth_states)).first() is None  # the state was used up
    for token in [*fake.access, *fake.refresh_tokens]:
        assert token.encode() not in bytes(sealed)
        assert token not in page.text and token not in str(created)


def test_a_state_is_single_use_and_a_tampered_or_unknown_one_changes_nothing(
    ms_any: tuple[Workspace, Runtime], fake: Fake
) -> None:
    ws, runtime = ms_any
    fake.account("bob@acme.com")
    created = start(ws)
    location = fake.authorize(created["authorization_url"])
    code, state = (parse_qs(urlsplit(location).query)[k][0] for k in ("code", "state"))
    assert_problem(ws.client.get("/oauth/callback", params={"code": code, "state": state + "x"}), 400)
    assert_problem(ws.client.get("/oauth/callback", params={"code": code, "state": "unknown"}), 400)
    assert status(ws, created["id"]) == ("authorizing", "")
    assert ws.client.get("/oauth/callback", params={"code": code, "state": state}).status_code == 200
    replayed = ws.client.get("/oauth/callback", params={"code": code, "state": state})
    assert_problem(replayed, 400)
    runtime.background.wait()
    assert status(ws, created["id"])[0] == "active"


def test_an_expired_state_answers_400(ms: tuple[Workspace, Runtime], fake: Fake) -> None:
    ws, runtime = ms
    fake.account("bob@acme.com")
    created = start(ws)
    oauth = runtime.services.oauth
    assert oauth is not None
    location = fake.authorize(created["authorization_url"])
    code, state = (parse_qs(urlsplit(location).query)[k][0] for k in ("code", "state"))
    real_clock = oauth.clock
    oauth.clock = lambda: real_clock() + 601  # ten minutes and a second later
    assert (
        "expired"
        in assert_problem(ws.client.get("/oauth/callback", params={"code": code, "state": state}), 400)[
            "detail"
        ]
    )
    assert status(ws, created["id"]) == ("authorizing", "")


def test_another_account_than_the_one_asked_for_sets_error(ms: tuple[Workspace, Runtime], fake: Fake) -> None:
    ws, runtime = ms
    fake.account("bob@acme.com")
    fake.account("eve@acme.com")
    fake.signed_in = "eve@acme.com"
    created = start(ws)
    page = callback(ws, fake, created["authorization_url"])
    assert "signed in as eve@acme.com, not bob@acme.com" in page.text
    state, reason = status(ws, created["id"])
    assert state == "error" and "eve@acme.com" in reason
    with runtime.engine.connect() as conn:
        assert conn.execute(select(mailbox_secrets)).first() is None  # no grant kept for the wrong account


def test_a_shared_mailbox_sets_error_with_a_clear_reason(ms: tuple[Workspace, Runtime], fake: Fake) -> None:
    ws, _ = ms
    fake.account("bob@acme.com", shared=True)
    created = start(ws)
    page = callback(ws, fake, created["authorization_url"])
    assert "shared mailbox" in page.text
    assert status(ws, created["id"]) == ("error", status(ws, created["id"])[1])
    assert "shared mailbox" in status(ws, created["id"])[1]


def test_the_plan_limit_is_checked_before_the_redirect(ms: tuple[Workspace, Runtime], fake: Fake) -> None:
    ws, _ = ms
    start(ws)
    response = ws.client.post("/mailboxes", json={"provider": "microsoft365", "address": "bob@acme.com"},
                              headers=ws.admin.headers)  # fmt: skip
    assert "plan allows 1 mailbox" in assert_problem(response, 422)["detail"]


def test_a_revoked_consent_sets_reconnect_needed_and_reconnecting_resumes(
    ms: tuple[Workspace, Runtime], fake: Fake
) -> None:
    ws, runtime = ms
    fake.account("bob@acme.com")
    fake.deliver(
        "bob@acme.com", "inbox", message("carol@example.org", "bob@acme.com", "One", message_id="<1@x.org>")
    )
    created = start(ws)
    callback(ws, fake, created["authorization_url"])
    runtime.background.wait()
    fake.revoked.add("bob@acme.com")
    fake.expire_access_tokens()
    fake.deliver(
        "bob@acme.com", "inbox", message("carol@example.org", "bob@acme.com", "Two", message_id="<2@x.org>")
    )
    report = runtime.imap_sync().sync(created["id"])
    runtime.catch_up()
    assert status(ws, created["id"]) == ("error", "reconnect needed") and report.status == "error"

    fake.revoked.clear()
    again = ws.client.post(f"/mailboxes/{created['id']}/reconnect", headers=ws.admin.headers)
    assert again.status_code == 200, again.text
    fetched_before = fake.raw_fetches
    callback(ws, fake, again.json()["authorization_url"])
    runtime.background.wait()
    runtime.catch_up()
    assert status(ws, created["id"]) == ("active", "")
    subjects = sorted(
        e["subject"] for e in ws.client.get("/emails", headers=ws.admin.headers).json()["items"]
    )
    assert subjects == ["One", "Two"]
    assert fake.raw_fetches == fetched_before + 1  # only the new message was downloaded


def test_no_token_is_kept_in_clear_anywhere_in_the_store(ms: tuple[Workspace, Runtime], fake: Fake) -> None:
    ws, runtime = ms
    database_url = runtime.settings.database_url  # SQLite: its files are read byte by byte
    fake.account("bob@acme.com")
    fake.deliver(
        "bob@acme.com", "inbox", message("carol@example.org", "bob@acme.com", "Hi", message_id="<h@x.org>")
    )
    created = start(ws)
    callback(ws, fake, created["authorization_url"])
    runtime.background.wait()
    fake.expire_access_tokens()  # the next pass refreshes, and seals the new tokens
    runtime.imap_sync().sync(created["id"])
    runtime.catch_up()
    path = database_url.removeprefix("sqlite:///")
    stored = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
    tokens = [*fake.access, *fake.refresh_tokens]
    assert len(tokens) >= 4
    assert not [t for t in tokens if t.encode() in stored]


def test_a_declined_consent_sets_error(ms: tuple[Workspace, Runtime], fake: Fake) -> None:
    ws, _ = ms
    created = start(ws)
    state = parse_qs(urlsplit(created["authorization_url"]).query)["state"][0]
    page = ws.client.get("/oauth/callback", params={"error": "access_denied", "state": state})
    assert page.status_code == 200 and "not given" in page.text
    assert status(ws, created["id"])[0] == "error"


def test_the_sign_in_proves_the_address_and_its_domain_becomes_internal(
    ms: tuple[Workspace, Runtime], fake: Fake
) -> None:
    ws, runtime = ms
    fake.account("bob@acme-sales.com")  # not one of Bob's member addresses: unproven when registered
    created = start(ws, "bob@acme-sales.com")
    assert (
        "acme-sales.com"
        not in ws.client.get("/settings", headers=ws.admin.headers).json()["internal_domains"]
    )
    callback(ws, fake, created["authorization_url"])
    runtime.background.wait()
    settings = ws.client.get("/settings", headers=ws.admin.headers).json()
    assert "acme-sales.com" in settings["internal_domains"]  # as an IMAP login at outlook.office365.com would


def test_without_an_address_the_mailbox_takes_the_signed_in_account_s(
    ms: tuple[Workspace, Runtime], fake: Fake
) -> None:
    ws, runtime = ms
    fake.account("bob@acme.com")
    response = ws.client.post("/mailboxes", json={"provider": "microsoft365"}, headers=ws.admin.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "authorizing" and "login_hint" not in created["authorization_url"]
    callback(ws, fake, created["authorization_url"])
    runtime.background.wait()
    row = ws.client.get(f"/mailboxes/{created['id']}", headers=ws.admin.headers).json()
    assert (row["address"], row["status"]) == ("bob@acme.com", "active")
    assert_problem(ws.client.post("/mailboxes", json={"provider": "imap"}, headers=ws.admin.headers), 422)


def test_without_an_address_another_member_s_account_is_refused_at_the_callback(
    ms: tuple[Workspace, Runtime], fake: Fake
) -> None:
    ws, runtime = ms
    ws.add_member("Carol", "carol@acme.com")
    fake.account("carol@acme.com")
    response = ws.client.post("/mailboxes", json={"provider": "microsoft365"}, headers=ws.admin.headers)
    page = callback(ws, fake, response.json()["authorization_url"])
    assert "another member" in page.text
    assert status(ws, response.json()["id"])[0] == "error"
    with runtime.engine.connect() as conn:
        assert conn.execute(select(mailbox_secrets)).first() is None
