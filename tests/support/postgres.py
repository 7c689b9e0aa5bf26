"""Throw-away PostgreSQL servers for the test suite.

Runs Debian's PostgreSQL binaries (``apt-get install postgresql``) from
``/usr/lib/postgresql/<newest>/bin`` in a fresh temporary directory, listening
only on 127.0.0.1 on a free port, tuned for speed (no fsync) and with trust auth.
When running as root the server runs as the ``postgres`` OS user, since initdb
refuses to run as root.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import logging
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

ENV_URL = "MAILTRAIL_TEST_DATABASE_URL"
_INSTALL_HINT = (
    "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; "
    "install Debian's `postgresql` package (`apt-get install -y postgresql`, "
    "which the Makefile does)."
)


def find_postgres_bindir() -> Path | None:
    """The ``bin`` dir of the newest installed Debian PostgreSQL, or None."""
    candidates = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        bindir = Path(initdb).parent
        version = tuple(int(p) for p in re.findall(r"\d+", bindir.parent.name))
        if (bindir / "pg_ctl").exists() and (bindir / "postgres").exists():
            candidates.append((version, bindir))
    return max(candidates)[1] if candidates else None


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def traversable_tmp_dir() -> str:
    """A temp base whose every ancestor is world-searchable (for the postgres user)."""
    base = Path(tempfile.gettempdir()).resolve()
    for part in [base, *base.parents]:
        if not os.stat(part).st_mode & stat.S_IXOTH:
            return "/tmp"
    return str(base)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log: {exc}>"


class PostgresServer:
    """A private PostgreSQL cluster: ``start()``, use ``url``, ``stop()``."""

    def __init__(
        self, dbname: str = "mailtrail_test", user: str = "postgres", start_timeout: float = 30.0
    ) -> None:
        self.dbname = dbname
        self.user = user
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.tmpdir: Path | None = None
        self.bindir: Path | None = None
        self._attempt = 0

    @property
    def datadir(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "data"

    @property
    def logfile(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / f"server-{self._attempt}.log"  # one per start attempt

    def url_for(self, dbname: str) -> str:
        assert self.port is not None, "server not started"
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        return self.url_for(self.dbname)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.bindir is not None and self.tmpdir is not None
        cmd = [str(self.bindir / args[0]), *args[1:]]
        kwargs: dict[str, Any] = {}
        if os.geteuid() == 0:  # initdb/postgres refuse to run as root
            kwargs = {"user": "postgres", "group": "postgres", "extra_groups": []}
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": str(self.tmpdir),
        }
        proc = subprocess.run(
            cmd, cwd=self.tmpdir, env=env, capture_output=True, text=True, timeout=120, check=False, **kwargs
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def start(self) -> None:
        bindir = find_postgres_bindir()
        if bindir is None:
            raise RuntimeError(_INSTALL_HINT)
        self.bindir = bindir
        t0 = time.monotonic()
        self.tmpdir = Path(tempfile.mkdtemp(prefix="mailtrail-pg-", dir=traversable_tmp_dir()))
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmpdir, pw.pw_uid, pw.pw_gid)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            )
            with open(self.datadir / "postgresql.conf", "a") as conf:
                conf.write(
                    "\n# mailtrail test settings\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.tmpdir}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 100\nshared_buffers = 64MB\n"
                    "log_min_messages = warning\n"
                )
            for attempt in range(3):
                self._attempt, self.port = attempt, free_port()
                self._run(
                    "pg_ctl",
                    "start",
                    "-W",
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-o",
                    f"-p {self.port}",
                )
                if self._wait_ready():
                    break
                if "could not bind" not in log_tail(self.logfile) or attempt == 2:
                    raise RuntimeError(
                        f"PostgreSQL did not accept connections on port {self.port} within "
                        f"{self.start_timeout:.0f}s; server log tail:\n{log_tail(self.logfile)}"
                    )
                log.warning("port %s was taken, retrying with another", self.port)
            with self._unix_connect(autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        log.info(
            "PostgreSQL %s started on port %s in %.2fs", bindir.parent.name, self.port, time.monotonic() - t0
        )

    def _unix_connect(self, autocommit: bool = False) -> psycopg.Connection[Any]:
        """Connect via our private unix socket: it can only reach *this* server.

        (Polling over TCP could reach another server that holds the port, while ours
        failed to bind; once our socket answers, ours also owns 127.0.0.1:port, since
        postgres exits when it cannot bind its only listen address.)"""
        return psycopg.connect(
            host=str(self.tmpdir),
            port=self.port,
            user=self.user,
            dbname="postgres",
            connect_timeout=1,
            autocommit=autocommit,
        )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            try:
                with self._unix_connect():
                    return True
            except psycopg.OperationalError:
                tail = log_tail(self.logfile)
                if not (self.datadir / "postmaster.pid").exists() and ("FATAL" in tail or "PANIC" in tail):
                    return False  # the postmaster died
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.tmpdir is None:
            return
        if self.bindir is not None and (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate", "-w", check=False)
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        atexit.unregister(self.stop)
        self.tmpdir = None
        self.port = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _check_connects(url: str) -> None:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise RuntimeError(f"cannot connect to {ENV_URL}={url!r}: {exc}") from exc


@contextlib.contextmanager
def postgres_url_for_tests() -> Iterator[str]:
    """Yield a PostgreSQL URL: $MAILTRAIL_TEST_DATABASE_URL or a private server."""
    env_url = os.environ.get(ENV_URL)
    if env_url:
        _check_connects(env_url)
        yield env_url
        return
    if find_postgres_bindir() is None:
        raise RuntimeError(_INSTALL_HINT)
    server = PostgresServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def fresh_database(server_url: str, name_prefix: str, template: str | None = None) -> str:
    """Create a new uniquely named database on ``server_url``'s server (a copy of the
    database ``template`` names, else empty); return its URL."""
    prefix = re.sub(r"[^a-z0-9_]", "_", name_prefix.lower())[:40] or "db"
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(urlsplit(template).path.lstrip("/")))
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)
    return _with_dbname(server_url, name)


def drop_database(url: str) -> None:
    """Drop the database ``url`` points at (terminating its sessions); missing is fine."""
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise ValueError(f"no database name in {url!r}")
    stmt = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    last_exc: Exception | None = None
    for maintenance_db in ("postgres", "template1"):
        try:
            with psycopg.connect(
                _with_dbname(url, maintenance_db), autocommit=True, connect_timeout=5
            ) as conn:
                conn.execute(stmt)
                return
        except psycopg.OperationalError as exc:
            last_exc = exc
    raise RuntimeError(f"could not drop database {name!r}: {last_exc}")
