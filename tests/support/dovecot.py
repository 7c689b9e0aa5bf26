"""A throw-away Dovecot IMAP server for integration tests.

Runs Debian's dovecot (``apt-get install dovecot-imapd``) in the foreground with
its own config, state and maildirs in a temporary directory, listening on
127.0.0.1 on a free port, plaintext (no TLS), passwd-file users. With ``tls`` (a
certificate and key, e.g. from ``tests.support.tls``) it also offers STARTTLS on that
port and implicit TLS on ``tls_port``.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Self

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from tests.support.postgres import free_port, log_tail, traversable_tmp_dir
from tests.support.tls import TlsFiles

log = logging.getLogger(__name__)

_INSTALL_HINT = (
    "dovecot is not installed: install Debian's `dovecot-imapd` package (`apt-get install -y dovecot-imapd`)."
)


def find_dovecot() -> str | None:
    """Path of the dovecot binary, or None when it is not installed."""
    found = shutil.which("dovecot")
    if found:
        return found
    return "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None


def dovecot_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    match = re.match(r"(\d+)\.(\d+)", out.strip())
    if not match:
        raise RuntimeError(f"cannot parse `{binary} --version` output {out!r}")
    return int(match.group(1)), int(match.group(2))


def _user_or_me(name: str) -> str:
    try:
        return pwd.getpwnam(name).pw_name
    except KeyError:
        return pwd.getpwuid(os.geteuid()).pw_name


class DovecotServer:
    """Dovecot on ``host``:``port``; ``users`` maps username -> password."""

    host = "127.0.0.1"

    def __init__(
        self,
        users: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        start_timeout: float = 20.0,
        tls: TlsFiles | None = None,
        oauth2_introspection_url: str | None = None,
    ) -> None:
        self.users: dict[str, str] = dict(users)
        self.oauth2_introspection_url = oauth2_introspection_url
        self.start_timeout = start_timeout
        self.tls = tls
        self.port = self.tls_port = 0
        self.tmpdir: Path | None = None
        self.binary: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._greeting = f"mailtrail-test-dovecot-{uuid.uuid4().hex[:12]} ready."
        # Dovecot refuses to access mail as root: use nobody/nogroup then.
        self.mail_user = _user_or_me("nobody" if os.geteuid() == 0 else "")
        self.mail_group = grp.getgrgid(pwd.getpwnam(self.mail_user).pw_gid).gr_name
        self.config_path = self.log_path = Path("/nonexistent")

    def maildir_path(self, user: str) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "mail" / user / "Maildir"

    def _write_users(self) -> None:
        assert self.tmpdir is not None
        pw = pwd.getpwnam(self.mail_user)
        lines = []
        for user, password in self.users.items():
            if any(c in f"{user}{password}" for c in ":\n") or not user:
                raise ValueError(f"user/password for {user!r} may not contain ':' or newlines")
            lines.append(
                f"{user}:{{PLAIN}}{password}:{pw.pw_uid}:{pw.pw_gid}::{self.tmpdir / 'mail' / user}::\n"
            )
        tmp = self.tmpdir / "users.tmp"
        tmp.write_text("".join(lines))
        tmp.chmod(0o644)
        tmp.replace(self.tmpdir / "users")  # atomic: dovecot re-reads it on change

    def _config(self, version: tuple[int, ...]) -> str:
        assert self.tmpdir is not None
        t, root = self.tmpdir, os.geteuid() == 0
        internal = _user_or_me("dovecot" if root else "")
        login = _user_or_me("dovenull" if root else "")
        common = f"""protocols = imap
listen = {self.host}
base_dir = {t}/run
state_dir = {t}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
{self._ssl(version)}
auth_mechanisms = plain login{" xoauth2 oauthbearer" if self.oauth2_introspection_url else ""}
default_internal_user = {internal}
default_login_user = {login}
mail_uid = {self.mail_user}
mail_gid = {self.mail_group}
first_valid_uid = {min(pwd.getpwnam(self.mail_user).pw_uid, 500)}
login_trusted_networks = 127.0.0.0/8
login_greeting = {self._greeting}
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = {self.tls_port}
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
}}
"""
        if self.oauth2_introspection_url:
            self._write_oauth2(version)
        if version >= (2, 4):
            return f"""dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
{common}auth_allow_cleartext = yes
mail_driver = maildir
mail_path = {t}/mail/%{{user}}/Maildir
{self._oauth2_24()}passdb passwd-file {{
  passwd_file_path = {t}/users
}}
userdb passwd-file {{
  passwd_file_path = {t}/users
}}
"""
        return f"""{common}disable_plaintext_auth = no
mail_location = maildir:{t}/mail/%u/Maildir
mail_plugins =
{self._oauth2_23()}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {t}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {t}/users
}}
"""

    # -- XOAUTH2: Dovecot's oauth2 passdb asks the token issuer's introspection endpoint ----
    def _oauth2_settings(self) -> dict[str, str]:
        """RFC 7662 introspection by POST (`token=`), the login name in `email`, `active: true`."""
        return {
            "introspection_mode": "post",
            "introspection_url": str(self.oauth2_introspection_url),
            "force_introspection": "yes",
            "username_attribute": "email",
            "active_attribute": "active",
            "active_value": "true",
            "scope": "https://mail.google.com/",
        }

    def _write_oauth2(self, version: tuple[int, ...]) -> None:
        assert self.tmpdir is not None
        if version < (2, 4):
            lines = "".join(f"{k} = {v}\n" for k, v in self._oauth2_settings().items())
            (self.tmpdir / "oauth2.conf.ext").write_text(lines)

    def _oauth2_23(self) -> str:
        if not self.oauth2_introspection_url:
            return ""
        assert self.tmpdir is not None
        return f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {self.tmpdir}/oauth2.conf.ext
}}
"""

    def _oauth2_24(self) -> str:
        """Dovecot 2.4: the mechanisms validate tokens through the `oauth2` filter (no passdb)."""
        if not self.oauth2_introspection_url:
            return ""
        settings = "".join(f"  {k} = {v}\n" for k, v in self._oauth2_settings().items())
        return f"oauth2 {{\n{settings}}}\n"

    def _ssl(self, version: tuple[int, ...]) -> str:
        if self.tls is None:
            return "ssl = no"
        if version >= (2, 4):
            return f"ssl = yes\nssl_server_cert_file = {self.tls.cert}\nssl_server_key_file = {self.tls.key}"
        return f"ssl = yes\nssl_cert = <{self.tls.cert}\nssl_key = <{self.tls.key}"

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self.binary = find_dovecot()
        if self.binary is None:
            raise RuntimeError(_INSTALL_HINT)
        version = dovecot_version(self.binary)
        t0 = time.monotonic()
        self.tmpdir = Path(tempfile.mkdtemp(prefix="mailtrail-dovecot-", dir=traversable_tmp_dir()))
        self.tmpdir.chmod(0o755)  # login/mail processes run as other users
        self.config_path, self.log_path = self.tmpdir / "dovecot.conf", self.tmpdir / "dovecot.log"
        mail_root = self.tmpdir / "mail"
        mail_root.mkdir()
        pw = pwd.getpwnam(self.mail_user)
        os.chown(mail_root, pw.pw_uid, pw.pw_gid)
        try:
            self._write_users()
            for attempt in range(3):
                self.port = free_port()
                self.tls_port = free_port() if self.tls is not None else 0
                self.config_path.write_text(self._config(version))
                if self._spawn_and_wait():
                    break
                tail = f"{log_tail(self.log_path)}\n{log_tail(self.tmpdir / 'stderr.log')}"
                if "in use" not in tail or attempt == 2:
                    raise RuntimeError(
                        f"dovecot did not greet on {self.host}:{self.port} within "
                        f"{self.start_timeout:.0f}s; log tail:\n{tail}"
                    )
                log.warning("dovecot port %s was taken, retrying", self.port)
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        log.info(
            "dovecot %s started on port %s in %.2fs",
            ".".join(map(str, version)),
            self.port,
            time.monotonic() - t0,
        )

    def _spawn_and_wait(self) -> bool:
        assert self.tmpdir is not None and self.binary is not None
        self._kill()
        with open(self.tmpdir / "stderr.log", "ab") as err:
            self._proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    greeting = sock.recv(4096)
                    # The unique greeting proves it's our dovecot, not another port holder.
                    if greeting.startswith(b"* OK") and self._greeting.encode() in greeting:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):  # our own session: master + children
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
                return

    def stop(self) -> None:
        self._kill()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests -----------------------------------------------------------
    def add_user(self, user: str, password: str) -> None:
        self.users[user] = password
        if self.tmpdir is not None:
            self._write_users()

    def connect(self, user: str) -> IMAPClient:
        """A logged-in IMAPClient (plaintext) for ``user``; close with ``logout()``."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(user, self.users[user])
        return client

    def append(
        self, user: str, folder: str, raw: bytes, flags: Sequence[str | bytes] = (), msg_time: object = None
    ) -> int:
        """APPEND ``raw`` to ``folder`` (created if missing); returns the new UID."""
        with self.connect(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            resp = client.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        match = re.search(rb"APPENDUID \d+ (\d+)", resp)
        if not match:
            raise RuntimeError(f"no APPENDUID in APPEND response {resp!r}")
        return int(match.group(1))

    def status(self, user: str, folder: str) -> dict[str, int]:
        """STATUS of ``folder``: MESSAGES, UIDNEXT, UIDVALIDITY, HIGHESTMODSEQ."""
        with self.connect(user) as client:
            st = client.folder_status(folder, ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ"])
        return {k.decode(): int(v) for k, v in st.items()}

    def expunge(self, user: str, folder: str, uids: Iterable[int]) -> None:
        with self.connect(user) as client:
            client.select_folder(folder)
            uid_list = list(uids)
            client.delete_messages(uid_list)
            client.expunge(uid_list)  # UID EXPUNGE (UIDPLUS)

    def recreate_folder(self, user: str, folder: str) -> int:
        """DELETE + CREATE ``folder``, re-APPENDing its messages; returns the new UIDVALIDITY."""
        if folder.upper() == "INBOX":
            raise ValueError("INBOX cannot be deleted; use set_uidvalidity() instead")
        with self.connect(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"]) if uids else {}
            client.unselect_folder()
            client.delete_folder(folder)
            try:
                client.create_folder(folder)
            except IMAPClientError:  # an auto= mailbox may already be back
                if not client.folder_exists(folder):
                    raise
            for uid in sorted(fetched):
                data = fetched[uid]
                flags = tuple(f for f in data[b"FLAGS"] if f != b"\\Recent")
                client.append(folder, data[b"BODY[]"], flags=flags, msg_time=data[b"INTERNALDATE"])
            return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def set_uidvalidity(self, user: str, folder: str, value: int) -> None:
        """Force ``folder``'s UIDVALIDITY (works for INBOX too) via ``doveadm mailbox update``."""
        assert self.binary is not None, "server not started"
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        proc = subprocess.run(
            [
                doveadm,
                "-c",
                str(self.config_path),
                "mailbox",
                "update",
                "-u",
                user,
                "--uid-validity",
                str(value),
                folder,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"doveadm mailbox update failed: {proc.stderr or proc.stdout}")
