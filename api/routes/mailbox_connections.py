"""Connected (IMAP) mailboxes: connect with a login check, update credentials, sync now.

Secrets go to the KeyStore only; events and responses carry host, port, security,
username and folders. Syncs started here run in a background thread per mailbox."""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import APIRouter

from adapters.datakeys import load_or_create_master_key
from adapters.imap import ImapConnector
from adapters.keystore import SqlKeyStore
from adapters.mime import parse_message
from adapters.uid_ledger import SqlUidLedger
from api.deps import MemberDep, RuntimeDep
from api.errors import ForbiddenError
from api.runtime import Runtime
from api.schemas import ConnectionChange, NewMailbox
from application.errors import NotFoundError, RuleViolationError
from application.imap_sync import ImapSync, Progress
from application.ports import MailAuthError, MailServerError
from domain.mailbox import ACTIVE, ERROR, REMOVED, Mailbox
from domain.ownership import Login
from domain.visibility import Viewer
from projections.record_queries import mailbox_rows

log = logging.getLogger(__name__)
router = APIRouter(tags=["mailboxes"])
SYNCED_PROVIDERS = ("imap", "gmail")
SERVER_FIELDS = ("host", "port", "security", "username")  # a change of any: the password comes again
LOGIN_TIMEOUT = 20.0


def mail_sync_for(runtime: Runtime, *, process_threshold: int | None = None,
                  progress: Progress | None = None, timeout: float = 60.0) -> ImapSync:  # fmt: skip
    """The sync service wired to this runtime's stores (a composition root helper)."""
    master_key = runtime.settings.master_key or load_or_create_master_key(runtime.store.key_file)
    connector = ImapConnector(parse_message, timeout=timeout, allow_private=runtime.settings.allow_private_hosts,
                              process_threshold=process_threshold, resolver=runtime.resolver)  # fmt: skip
    return ImapSync(runtime.app, SqlKeyStore(runtime.engine, master_key), connector,
                    SqlUidLedger(runtime.engine), progress=progress)  # fmt: skip


class SyncScheduler:
    """At most one background sync per mailbox in this process; views caught up as it goes."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, mailbox_id: str) -> bool:
        with self._lock:
            running = self._threads.get(mailbox_id)
            if running is not None and running.is_alive():
                return False
            thread = threading.Thread(target=self._run, args=(mailbox_id,), name=f"sync-{mailbox_id[:8]}",
                                      daemon=True)  # fmt: skip
            self._threads[mailbox_id] = thread
            thread.start()
            return True

    def _run(self, mailbox_id: str) -> None:
        try:
            mail_sync_for(self.runtime, progress=lambda *_: self._catch_up()).sync(mailbox_id)
        except Exception:  # a background sync logs; the next one retries
            log.exception("background sync of mailbox %s failed", mailbox_id)
        finally:
            self._catch_up()

    def _catch_up(self) -> None:
        try:
            self.runtime.catch_up()
        except Exception:  # the next catch-up applies the same events
            log.exception("catching up the views failed")

    def wait(self, timeout: float = 60.0) -> None:
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)


def scheduler_for(runtime: Runtime) -> SyncScheduler:
    scheduler: SyncScheduler | None = runtime.__dict__.get("mail_scheduler")
    if scheduler is None:
        scheduler = runtime.__dict__.setdefault("mail_scheduler", SyncScheduler(runtime))
    return scheduler


def _row(runtime: Runtime, viewer: Viewer, mailbox_id: str) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        rows = mailbox_rows(conn, viewer, mailbox_id)
    if not rows:
        raise NotFoundError(f"mailbox {mailbox_id} not found")
    return rows[0]


def _check_login(runtime: Runtime, connection: dict[str, Any], password: str) -> None:
    """Connect and log in as the owner would; 422 when refused. The connector resolves and
    checks the host once; its messages are mailtrail's words, never what the server said."""
    where = f"{connection['host']}:{connection['port']}"
    try:
        server = mail_sync_for(runtime, timeout=LOGIN_TIMEOUT).connector.connect(
            connection, {"password": password}
        )
        try:
            server.folders(connection.get("folders"))
        finally:
            server.close()
    except MailAuthError as error:
        raise RuleViolationError(f"login to {where} failed: {error}") from None
    except MailServerError as error:
        raise RuleViolationError(str(error)) from None


def connect_other(body: NewMailbox, viewer: Viewer, runtime: Runtime) -> dict[str, Any]:
    """POST /mailboxes for every provider but `upload` (called from routes.mailboxes)."""
    if body.provider != "imap":
        raise RuleViolationError(f"provider {body.provider!r} is not available yet; use 'imap' or 'upload'")
    if not body.host or not body.password:
        raise RuleViolationError("an imap mailbox needs host and password")
    security = body.security or "tls"
    connection = {
        "host": body.host.strip().lower(),
        "port": body.port or (993 if security == "tls" else 143),
        "security": security,
        "username": body.username or body.address,
        "folders": body.folders or None,
        "auth": "password",
    }
    _check_login(runtime, connection, body.password)
    mailbox_id = runtime.app.connect_mailbox(
        viewer.workspace_id, viewer.member_id, body.provider, body.address, body.aliases, connection,
        login=Login(connection["host"], connection["username"]),  # accepted by _check_login just now
    )
    mail_sync_for(runtime).keystore.put(mailbox_id, {"password": body.password})
    runtime.catch_up()
    scheduler_for(runtime).start(mailbox_id)  # the full historical sync begins now
    return _row(runtime, viewer, mailbox_id)


def _owned_synced(runtime: Runtime, viewer: Viewer, mailbox_id: str) -> Mailbox:
    mailbox = runtime.app.load(Mailbox, mailbox_id, viewer.workspace_id)
    if mailbox.owner_id != viewer.member_id:
        raise ForbiddenError("only the mailbox's owner may do this")
    if mailbox.provider not in SYNCED_PROVIDERS:
        raise RuleViolationError(f"a {mailbox.provider} mailbox is not synced from a server")
    if mailbox.status == REMOVED:
        raise RuleViolationError("the mailbox was removed")
    return mailbox


@router.patch("/mailboxes/{mailbox_id}/connection")
def change_connection(mailbox_id: str, body: ConnectionChange, viewer: MemberDep,
                      runtime: RuntimeDep) -> dict[str, Any]:  # fmt: skip
    """New credentials or server details; checked by logging in, then syncing resumes from the cursors."""
    apply_connection_change(runtime, viewer, mailbox_id, body)
    return _row(runtime, viewer, mailbox_id)


def require_password_for_new_server(mailbox: Mailbox, body: ConnectionChange) -> None:
    """A change of host, port, security or username must carry the password again: the stored one
    is only ever sent to the server and account it was given for (a stolen token must not
    point the mailbox at an attacker's server and receive it). 422 otherwise."""
    given = body.model_dump(include=set(SERVER_FIELDS), exclude_none=True)
    if "host" in given:
        given["host"] = given["host"].strip().lower()
    changed = [name for name, value in given.items() if value != mailbox.connection.get(name)]
    if changed and not body.password:
        raise RuleViolationError(f"changing {', '.join(changed)} needs the password again")


def apply_connection_change(runtime: Runtime, viewer: Viewer, mailbox_id: str, body: ConnectionChange) -> None:
    """Also behind PATCH /mailboxes/{id} when the body carries connection fields."""
    mailbox = _owned_synced(runtime, viewer, mailbox_id)
    require_password_for_new_server(mailbox, body)
    changes = body.model_dump(exclude_none=True, exclude={"password"})
    connection = {**mailbox.connection, **changes}
    if "host" in changes:
        connection["host"] = connection["host"].strip().lower()
    service = mail_sync_for(runtime)
    # the stored password only for the same server and account (require_password_for_new_server)
    password = body.password or (service.keystore.get(mailbox_id) or {}).get("password", "")
    _check_login(runtime, connection, password)
    service.keystore.put(mailbox_id, {"password": password})
    mailbox.change_connection(connection)
    if mailbox.status == ERROR:
        mailbox.set_status(ACTIVE, "")
    runtime.app.save_all(mailbox)
    runtime.catch_up()
    scheduler_for(runtime).start(mailbox_id)


@router.post("/mailboxes/{mailbox_id}/sync", status_code=202)
def sync_now(mailbox_id: str, viewer: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Start a sync pass in the background; GET /mailboxes/{id} shows its progress."""
    _owned_synced(runtime, viewer, mailbox_id)
    started = scheduler_for(runtime).start(mailbox_id)
    return {**_row(runtime, viewer, mailbox_id), "sync": "started" if started else "already running"}
