"""Server flavours Dovecot cannot play (Gmail, odd folder names) and the host checks.

A scripted stand-in for imapclient's IMAPClient replays what those servers answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from imapclient.exceptions import IMAPClientError
from sqlalchemy import func, select

from adapters.imap import ImapConnector
from adapters.mime import parse_message
from adapters.netcheck import HostRefusedError, check_host
from adapters.settings import Settings
from api.runtime import Runtime
from application.imap_sync import ImapSync
from projections.email_queries import VISIBLE_COPY
from projections.tables import email_copies, mailboxes
from tests.support.imap import external

GMAIL_FOLDERS = [
    ((b"\\HasNoChildren",), b"/", "INBOX"),
    ((b"\\HasNoChildren", b"\\All"), b"/", "[Gmail]/All Mail"),
    ((b"\\HasNoChildren", b"\\Sent"), b"/", "[Gmail]/Sent Mail"),
    ((b"\\HasNoChildren", b"\\Trash"), b"/", "[Gmail]/Trash"),
    ((b"\\HasNoChildren", b"\\Junk"), b"/", "[Gmail]/Spam"),
]
PLAIN_FOLDERS = [((), b".", "INBOX"), ((), b".", "Sent Items"), ((), b".", "Trash"), ((), b".", "Archive")]


class ScriptedServer:
    """Folders of (uid -> raw message); records the commands a sync sends."""

    def __init__(
        self, capabilities: tuple[bytes, ...], listing: list[Any], mail: dict[str, dict[int, bytes]]
    ):
        self.caps, self.listing, self.mail = capabilities, listing, mail
        self.logins: list[tuple[str, str, str]] = []
        self.fetched: dict[str, list[int]] = {}
        self.fetch_items: set[bytes] = set()
        self.readonly: list[bool] = []
        self.deleted: dict[str, str] = {}  # folder -> what STATUS answers for it (NO ...)

    def client(self, host: str, **_: Any) -> ScriptedClient:
        return ScriptedClient(self)


class ScriptedClient:
    def __init__(self, server: ScriptedServer) -> None:
        self.server, self.folder = server, ""

    def login(self, user: str, password: str) -> None:
        self.server.logins.append(("LOGIN", user, password))

    def oauth2_login(self, user: str, token: str) -> None:
        self.server.logins.append(("XOAUTH2", user, token))

    def capabilities(self) -> tuple[bytes, ...]:
        return self.server.caps

    def list_folders(self) -> list[Any]:
        return self.server.listing

    def folder_status(self, folder: str, names: Any) -> dict[bytes, int]:
        if folder in self.server.deleted:
            raise IMAPClientError(f"folder_status failed: {self.server.deleted[folder]}")
        uids = self.server.mail.get(folder, {})
        return {b"MESSAGES": len(uids), b"UIDNEXT": max(uids, default=0) + 1, b"UIDVALIDITY": 7}

    def select_folder(self, folder: str, readonly: bool = False) -> dict[bytes, Any]:
        self.folder = folder
        self.server.readonly.append(readonly)
        return {**self.folder_status(folder, ()), b"EXISTS": len(self.server.mail.get(folder, {}))}

    def search(self, criteria: Any) -> list[int]:
        return [] if criteria != "ALL" else sorted(self.server.mail[self.folder])

    def fetch(self, uids: list[int], items: list[bytes]) -> dict[int, dict[bytes, Any]]:
        self.server.fetch_items.update(items)
        self.server.fetched.setdefault(self.folder, []).extend(uids)
        return {u: {b"BODY[]": self.server.mail[self.folder][u], b"X-GM-MSGID": 1000 + u, b"X-GM-THRID": 7}
                for u in uids}  # fmt: skip

    def logout(self) -> None: ...

    def shutdown(self) -> None: ...


class Tokens:
    def access_token(self, mailbox_id: str, force: bool = False) -> str:
        return "ya29.fresh-token"


@pytest.fixture
def runtime(tmp_path: Any) -> Iterator[Runtime]:
    rt = Runtime.open(Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}", allow_private_hosts=True))
    yield rt
    rt.close()


def _service(runtime: Runtime, server: ScriptedServer, connection: dict[str, Any]) -> tuple[ImapSync, str]:
    workspace_id, member_id, _ = runtime.services.workspaces.create_workspace(
        "Acme", "acme.com", "Bob", "bob@acme.com"
    )
    base = {"host": "127.0.0.1", "port": 993, "security": "tls", "username": "bob@acme.com", "folders": None}
    mailbox_id = runtime.services.mailboxes.register(workspace_id, member_id, "imap", "bob@acme.com", [],
                                             {**base, **connection}).id  # fmt: skip
    service = runtime.imap_sync()
    service.connector = ImapConnector(parse_message, allow_private=True, client_factory=server.client)
    service.tokens = Tokens()
    service.keystore.put(mailbox_id, {"password": "app-password"})
    return service, mailbox_id


def test_a_gmail_account_syncs_all_mail_only_and_logs_in_with_xoauth2(runtime: Runtime) -> None:
    mail = {"[Gmail]/All Mail": {1: external(1)[1], 2: external(2)[1]}, "[Gmail]/Trash": {1: external(3)[1]},
            "[Gmail]/Spam": {1: external(4)[1]}, "INBOX": {1: external(1)[1]}}  # fmt: skip
    server = ScriptedServer((b"IMAP4REV1", b"X-GM-EXT-1", b"IDLE"), GMAIL_FOLDERS, mail)
    service, mailbox_id = _service(runtime, server, {"auth": "xoauth2"})

    report = service.sync(mailbox_id)

    assert report.status == "active" and list(report.folders) == ["[Gmail]/All Mail"]
    assert server.fetched == {"[Gmail]/All Mail": [1, 2]}  # not Trash, not Spam, not INBOX again
    assert server.logins == [("XOAUTH2", "bob@acme.com", "ya29.fresh-token")]
    assert {b"BODY.PEEK[]", b"X-GM-MSGID", b"X-GM-THRID"} <= server.fetch_items
    assert all(server.readonly)
    assert report.folders["[Gmail]/All Mail"].synced == 2


def test_without_special_use_the_sent_folder_is_found_by_its_usual_name(runtime: Runtime) -> None:
    mail = {"INBOX": {1: external(1)[1]}, "Sent Items": {5: external(2, folder="Sent")[1]},
            "Trash": {1: external(3)[1]}, "Archive": {1: external(4)[1]}}  # fmt: skip
    server = ScriptedServer((b"IMAP4REV1",), PLAIN_FOLDERS, mail)
    service, mailbox_id = _service(runtime, server, {"auth": "password"})

    report = service.sync(mailbox_id)

    assert list(report.folders) == ["INBOX", "Sent Items"]
    assert server.logins == [("LOGIN", "bob@acme.com", "app-password")]
    assert report.fetched == 2


def test_the_owner_chooses_the_folders_and_a_missing_one_is_an_error_with_its_name(runtime: Runtime) -> None:
    mail = {"INBOX": {1: external(1)[1]}, "Archive": {1: external(4)[1]}, "Sent Items": {}, "Trash": {}}
    server = ScriptedServer((b"IMAP4REV1",), PLAIN_FOLDERS, mail)
    service, mailbox_id = _service(runtime, server, {"auth": "password", "folders": ["Archive"]})
    assert list(service.sync(mailbox_id).folders) == ["Archive"]

    service2, other = _service(runtime, server, {"auth": "password", "folders": ["Projects"]})
    report = service2.sync(other)
    assert (report.status, report.reason) == ("error", "folder not found: Projects")


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "169.254.169.254", "::1", "localhost",
                                  "100.64.0.1", "0.0.0.0"])  # fmt: skip
def test_hosts_on_private_or_loopback_addresses_are_refused(host: str) -> None:
    with pytest.raises(HostRefusedError, match="MAILTRAIL_ALLOW_PRIVATE_HOSTS"):
        check_host(host, 993, allow_private=False, plaintext=False)
    check_host(host, 993, allow_private=True, plaintext=host in ("127.0.0.1", "::1", "localhost"))


def test_plaintext_is_only_allowed_to_a_loopback_host() -> None:
    with pytest.raises(HostRefusedError, match="only allowed for a loopback host"):
        check_host("10.1.2.3", 143, allow_private=True, plaintext=True)
    assert [str(a) for a in check_host("8.8.8.8", 993, allow_private=False, plaintext=False)] == ["8.8.8.8"]


def _shown(runtime: Runtime, mailbox_id: str) -> tuple[int, list[str]]:
    """How many of the mailbox's copies the views show, and the folders it keeps cursors for."""
    runtime.catch_up()
    with runtime.engine.connect() as conn:
        copies = email_copies.join(mailboxes, mailboxes.c.id == email_copies.c.mailbox_id)
        visible = conn.execute(select(func.count()).select_from(copies).where(
            email_copies.c.mailbox_id == mailbox_id, VISIBLE_COPY)).scalar_one()  # fmt: skip
        cursors = conn.execute(select(mailboxes.c.cursors).where(mailboxes.c.id == mailbox_id)).scalar_one()
    return visible, sorted(cursors)


def test_a_chosen_folder_missing_from_one_listing_stops_the_pass_and_retracts_nothing(
    runtime: Runtime,
) -> None:
    mail = {"INBOX": {1: external(1)[1]}, "Archive": {2: external(4)[1], 3: external(5)[1]}}
    server = ScriptedServer((b"IMAP4REV1",), PLAIN_FOLDERS, mail)
    service, mailbox_id = _service(runtime, server, {"auth": "password", "folders": ["INBOX", "Archive"]})
    service.sync(mailbox_id)
    assert _shown(runtime, mailbox_id) == (3, ["Archive", "INBOX"])

    server.listing = [f for f in PLAIN_FOLDERS if f[2] != "Archive"]  # a glitch: STATUS still answers
    report = service.sync(mailbox_id)
    assert (report.status, report.reason) == ("error", "folder not found: Archive")
    assert _shown(runtime, mailbox_id) == (3, ["Archive", "INBOX"])

    server.listing = PLAIN_FOLDERS
    assert service.sync(mailbox_id).status == "active"
    assert _shown(runtime, mailbox_id) == (3, ["Archive", "INBOX"])


@pytest.mark.parametrize("answer", ["[NONEXISTENT] Unknown Mailbox: Sent Items",
                                    "Mailbox does not exist, or must be subscribed to."])  # fmt: skip
def test_a_default_sent_folder_the_server_deleted_takes_its_messages_along(
    runtime: Runtime, answer: str
) -> None:
    mail = {
        "INBOX": {1: external(1)[1]},
        "Sent Items": {5: external(2, folder="Sent")[1], 1: external(1)[1]},
        "Trash": {},
        "Archive": {},
    }  # fmt: skip (scripted X-GM-MSGID = 1000 + UID: UID 1 is one copy)
    server = ScriptedServer((b"IMAP4REV1",), PLAIN_FOLDERS, mail)
    service, mailbox_id = _service(runtime, server, {"auth": "password"})
    service.sync(mailbox_id)
    assert _shown(runtime, mailbox_id) == (2, ["INBOX", "Sent Items"])

    server.listing = [f for f in PLAIN_FOLDERS if f[2] != "Sent Items"]  # not found by name: kept
    assert service.sync(mailbox_id).status == "active"
    assert _shown(runtime, mailbox_id) == (2, ["INBOX", "Sent Items"])

    del server.mail["Sent Items"]
    server.deleted["Sent Items"] = answer  # now the server says it is gone
    report = service.sync(mailbox_id)

    assert report.status == "active" and report.folders["Sent Items"].retired
    assert report.folders["Sent Items"].expunged == 1  # Deal 1 is still in INBOX
    assert _shown(runtime, mailbox_id) == (1, ["INBOX"])
