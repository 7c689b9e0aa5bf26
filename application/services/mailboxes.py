"""Mailboxes and their credentials: connect (uploads, or a server checked by logging in),
sharing, blocklist, disconnect and reconnect, new connection details.

Secrets go to the KeyStore only; events carry host, port, security, username and folders.
A connected mailbox's full sync starts in the background (`start_sync`) once it is saved."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from application.app import Created, MailTrail
from application.errors import RuleViolationError
from application.ports import KeyStore, MailAuthError, MailConnector, MailServerError, Transports
from domain.authority import require_owner
from domain.inputs import address, host_name, list_entry
from domain.mailbox import ACTIVE, ERROR, REMOVED, Mailbox, check_provider
from domain.ownership import Login, proven_by_login
from domain.workspace import Workspace

SYNCED_PROVIDERS = ("imap", "gmail")
SERVER_FIELDS = ("host", "port", "security", "username")  # a change of any: the password comes again
SMTP_FIELDS = ("smtp_host", "smtp_port", "smtp_security", "smtp_username")  # likewise a password
CONNECTION_FIELDS = (*SERVER_FIELDS, "folders", "password", *SMTP_FIELDS, "smtp_password")


class Mailboxes:
    def __init__(
        self,
        app: MailTrail,
        keystore: KeyStore,
        login_connector: MailConnector,
        start_sync: Callable[[str], object] = lambda mailbox_id: None,
        transports: Transports | None = None,
    ) -> None:
        self.app = app
        self.keystore = keystore
        self.login_connector = login_connector  # short timeouts: a person waits for the answer
        self.start_sync = start_sync
        self.transports = transports  # SMTP submission, checked by logging in when given

    # connecting -------------------------------------------------------------------
    def connect(
        self,
        workspace_id: str,
        owner_id: str,
        provider: str,
        address_: str,
        aliases: list[str],
        server: Mapping[str, Any] | None = None,
    ) -> Created:
        """An `upload` mailbox, or one synced from the server in `server` (host, port, security,
        username, folders, password) once a login there succeeds."""
        if provider == "upload":
            return self.register(workspace_id, owner_id, provider, address_, aliases)
        if provider != "imap":
            raise RuleViolationError(f"provider {provider!r} is not available yet; use 'imap' or 'upload'")
        server = server or {}
        if not server.get("host") or not server.get("password"):
            raise RuleViolationError("an imap mailbox needs host and password")
        security = server.get("security") or "tls"
        connection: dict[str, Any] = {
            "host": host_name(server["host"]),
            "port": server.get("port") or (993 if security == "tls" else 143),
            "security": security,
            "username": server.get("username") or address_,
            "folders": server.get("folders") or None,
            "auth": "password",
        }
        self.check_login(connection, server["password"])
        secret = {"password": server["password"]}
        if server.get("smtp_host"):
            connection.update(smtp_connection(server))
            if server.get("smtp_password"):
                secret["smtp_password"] = server["smtp_password"]
            self.check_smtp(connection, secret)
        login = Login(str(connection["host"]), str(connection["username"]))  # accepted just now
        created = self.register(workspace_id, owner_id, provider, address_, aliases, connection, login)
        self.keystore.put(created.id, secret)
        self.start_sync(created.id)  # the full historical sync begins now
        return created

    def register(
        self,
        workspace_id: str,
        owner_id: str,
        provider: str,
        address_: str,
        aliases: list[str],
        connection: dict[str, Any] | None = None,
        login: Login | None = None,
        status: str = ACTIVE,
    ) -> Created:
        """Record a mailbox: an upload one, or one whose server login the caller checked just now
        (`login`: the login the server accepted, if any)."""
        workspace = self.app.load(Workspace, workspace_id)
        workspace.member(owner_id)
        check_provider(provider)
        addresses = list(dict.fromkeys([address(address_), *(address(a) for a in aliases)]))
        mailbox = Mailbox(
            workspace_id=workspace_id,
            owner_id=owner_id,
            provider=provider,
            address=addresses[0],
            aliases=addresses[1:],
            connection=connection or {},
            status=status,
        )
        hosted = login is not None and self.app.catalog.verifies_domain_owners(login.host)
        proven = [a for a in addresses if proven_by_login(a, login, hosted)]
        domain = addresses[0].rpartition("@")[2]
        workspace.register_mailbox(
            str(mailbox.id), owner_id, provider, addresses, proven, self.app.catalog.is_free_mail(domain)
        )
        return Created(str(mailbox.id), self.app.save_all(workspace, mailbox))

    def check_login(self, connection: Mapping[str, Any], password: str) -> None:
        """Connect and log in as the owner would; 422 when refused. The connector resolves and
        checks the host once; its messages are mailtrail's words, never what the server said."""
        where = f"{connection['host']}:{connection['port']}"
        try:
            server = self.login_connector.connect(connection, {"password": password})
            try:
                server.folders(connection.get("folders"))
            finally:
                server.close()
        except MailAuthError as error:
            raise RuleViolationError(f"login to {where} failed: {error}") from None
        except MailServerError as error:
            raise RuleViolationError(str(error)) from None

    def check_smtp(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> None:
        """Log in to the submission server (its host under the private-address rule); 422 when refused."""
        if self.transports is None:
            raise RuleViolationError("sending is not available in this deployment")
        where = f"{connection['smtp_host']}:{connection['smtp_port']}"
        try:
            self.transports.check(connection, secret)
        except MailAuthError as error:
            raise RuleViolationError(f"SMTP login to {where} failed: {error}") from None
        except MailServerError as error:
            raise RuleViolationError(str(error)) from None

    # changes by the owner ------------------------------------------------------------
    def owned(self, workspace_id: str, mailbox_id: str, actor_id: str) -> Mailbox:
        mailbox = self.app.load(Mailbox, mailbox_id, workspace_id)
        require_owner(mailbox.owner_id, actor_id)
        return mailbox

    def change(
        self,
        workspace_id: str,
        mailbox_id: str,
        actor_id: str,
        sharing: str | None = None,
        status: str | None = None,
        connection: Mapping[str, Any] | None = None,
    ) -> int:
        """PATCH /mailboxes/{id}: sharing, disconnect/reconnect, and new connection details."""
        mailbox = self.owned(workspace_id, mailbox_id, actor_id)
        if connection:
            require_password_for_new_server(mailbox, connection)  # before anything else changes
        position = self.app.position()
        if sharing is not None:
            mailbox.change_sharing(sharing)
            position = self.app.save_all(mailbox)
        if status is not None:
            mailbox = self.app.load(Mailbox, mailbox_id, workspace_id)
            mailbox.reconnect() if status == ACTIVE else mailbox.disconnect()
            position = self.app.save_all(mailbox)
        if connection:
            position = self.change_connection(workspace_id, mailbox_id, actor_id, connection)
        return position

    def change_connection(
        self, workspace_id: str, mailbox_id: str, actor_id: str, change: Mapping[str, Any]
    ) -> int:
        """New credentials or server details; checked by logging in, then syncing resumes from the cursors."""
        mailbox = self.owned(workspace_id, mailbox_id, actor_id)
        if mailbox.provider not in SYNCED_PROVIDERS:
            raise RuleViolationError(f"a {mailbox.provider} mailbox is not synced from a server")
        if mailbox.status == REMOVED:
            raise RuleViolationError("the mailbox was removed")
        if mailbox.connection.get("auth") == "oauth":
            raise RuleViolationError("an OAuth mailbox connects again with POST /mailboxes/{id}/reconnect")
        require_password_for_new_server(mailbox, change)
        secrets = ("password", "smtp_password")
        changes = {
            k: v for k, v in change.items() if k not in secrets and k not in SMTP_FIELDS and v is not None
        }
        connection = {**mailbox.connection, **changes}
        if "host" in changes:
            connection["host"] = host_name(connection["host"])
        # the stored password only for the same server and account (require_password_for_new_server)
        stored = self.keystore.get(mailbox_id) or {}
        password = change.get("password") or stored.get("password", "")
        self.check_login(connection, password)
        secret = {"password": password}
        kept = None if smtp_moved(mailbox, change) else stored.get("smtp_password")  # never to a new server
        smtp_password = change.get("smtp_password") or kept
        if smtp_password:
            secret["smtp_password"] = smtp_password
        if any(change.get(name) is not None for name in (*SMTP_FIELDS, "smtp_password")):
            connection.update(smtp_connection({**mailbox.connection, **change}))
            self.check_smtp(connection, secret)
        self.keystore.put(mailbox_id, secret)
        mailbox.change_connection(connection)
        if mailbox.status == ERROR:
            mailbox.set_status(ACTIVE, "")
        position = self.app.save_all(mailbox)
        self.start_sync(mailbox_id)
        return position

    def sync_now(self, workspace_id: str, mailbox_id: str, actor_id: str) -> bool:
        """Start a pass in the background; False when one is running already."""
        mailbox = self.owned(workspace_id, mailbox_id, actor_id)
        if mailbox.provider not in (*SYNCED_PROVIDERS, "microsoft365"):
            raise RuleViolationError(f"a {mailbox.provider} mailbox is not synced from a server")
        if mailbox.status == REMOVED:
            raise RuleViolationError("the mailbox was removed")
        return bool(self.start_sync(mailbox_id))

    def block(self, workspace_id: str, mailbox_id: str, actor_id: str, entry: str) -> int:
        mailbox = self.owned(workspace_id, mailbox_id, actor_id)
        mailbox.block(list_entry(entry))
        return self.app.save_all(mailbox)

    def unblock(self, workspace_id: str, mailbox_id: str, actor_id: str, entry: str) -> int:
        mailbox = self.owned(workspace_id, mailbox_id, actor_id)
        mailbox.unblock(list_entry(entry))
        return self.app.save_all(mailbox)


def require_password_for_new_server(mailbox: Mailbox, change: Mapping[str, Any]) -> None:
    """A change of host, port, security or username must carry the password again: the stored one
    is only ever sent to the server and account it was given for (a stolen token must not
    point the mailbox at an attacker's server and receive it). 422 otherwise."""
    given = {name: change[name] for name in SERVER_FIELDS if change.get(name) is not None}
    if "host" in given:
        given["host"] = host_name(given["host"])
    changed = [name for name, value in given.items() if value != mailbox.connection.get(name)]
    if changed and not change.get("password"):
        raise RuleViolationError(f"changing {', '.join(changed)} needs the password again")
    moved = smtp_moved(mailbox, change)
    if moved and not (change.get("smtp_password") or change.get("password")):
        raise RuleViolationError(f"changing {', '.join(moved)} needs smtp_password (or the password) again")


def smtp_moved(mailbox: Mailbox, change: Mapping[str, Any]) -> list[str]:
    """The SMTP server fields this change gives new values."""
    smtp = {name: change[name] for name in SMTP_FIELDS if change.get(name) is not None}
    if "smtp_host" in smtp:
        smtp["smtp_host"] = host_name(smtp["smtp_host"])
    return [name for name, value in smtp.items() if value != mailbox.connection.get(name)]


def smtp_connection(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The non-secret SMTP submission details: host, port, security (tls, starttls, none), username."""
    if not fields.get("smtp_host"):
        raise RuleViolationError("SMTP sending needs smtp_host")
    port = fields.get("smtp_port")
    security = fields.get("smtp_security") or ("tls" if port == 465 else "starttls")
    return {
        "smtp_host": host_name(str(fields["smtp_host"])),
        "smtp_port": port or {"tls": 465, "starttls": 587, "none": 25}[security],
        "smtp_security": security,
        "smtp_username": fields.get("smtp_username") or None,
    }
