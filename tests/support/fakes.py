"""Stand-ins for the application's ports (application/ports.py) for the fast unit tier: what the
real adapters do, kept in memory. The real ones are exercised by tests/api and tests/integration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from application.ports import FolderState, MailAuthError

FREE_MAIL = {"gmail.com", "yahoo.com", "outlook.com"}


class Catalog:
    """The DomainCatalog port: a few free-mail domains; company names from the domain."""

    def __init__(self, verifying_hosts: Sequence[str] = ("imap.gmail.com",)) -> None:
        self.verifying_hosts = set(verifying_hosts)

    def is_free_mail(self, domain: str) -> bool:
        return domain in FREE_MAIL

    def company_name(self, host: str) -> str:
        return host.split(".")[0].capitalize()

    def verifies_domain_owners(self, host: str) -> bool:
        return host in self.verifying_hosts


class MemoryKeyStore:
    """The KeyStore port in a dict."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, str]] = {}

    def put(self, owner_id: str, secret: Mapping[str, str]) -> None:
        self.secrets[owner_id] = dict(secret)

    def get(self, owner_id: str) -> dict[str, str] | None:
        return self.secrets.get(owner_id)

    def delete(self, owner_id: str) -> None:
        self.secrets.pop(owner_id, None)

    def owners(self) -> list[str]:
        return sorted(self.secrets)


class EmptyServer:
    """A logged-in session with a server that has an empty INBOX."""

    is_gmail = False

    def folders(self, wanted: Sequence[str] | None = None) -> list[str]:
        return ["INBOX"]

    def status(self, folder: str) -> FolderState:
        return FolderState(folder, 1, 1, 0)

    def close(self) -> None:
        pass


class Connector:
    """The MailConnector port: logins succeed with `password` only; each login is remembered."""

    def __init__(self, password: str = "right") -> None:
        self.password = password
        self.logins: list[tuple[str, str]] = []

    def connect(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> EmptyServer:
        self.logins.append((connection["host"], connection["username"]))
        if secret.get("password") != self.password:
            raise MailAuthError("the server refused the username or password")
        return EmptyServer()


class RecordingSealer:
    """The Sealer port's destroy, remembered (content is left unsealed)."""

    def __init__(self) -> None:
        self.destroyed: list[str] = []

    def seal(self, mailbox_id: str, plaintext: bytes) -> bytes:
        return plaintext

    def unseal(self, mailbox_id: str, sealed: bytes) -> bytes | None:
        return None if mailbox_id in self.destroyed else sealed

    def destroy(self, mailbox_id: str) -> None:
        self.destroyed.append(mailbox_id)
