"""A throw-away Radicale CalDAV server for integration tests (pip `radicale`, the test extra).

Runs `python -m radicale` with its own config, htpasswd users (plain) and filesystem storage
in a temporary directory, on 127.0.0.1 and a free port. `add_event` and friends write through
a plain `caldav` client, as another calendar application would."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import caldav

from tests.support.postgres import free_port


class RadicaleServer:
    host = "127.0.0.1"

    def __init__(self, users: Mapping[str, str], start_timeout: float = 20.0) -> None:
        self.users = dict(users)
        self.start_timeout = start_timeout
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="radicale-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        (self.dir / "users").write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        (self.dir / "config").write_text(
            f"""[server]
hosts = {self.host}:{self.port}
[auth]
type = htpasswd
htpasswd_filename = {self.dir / "users"}
htpasswd_encryption = plain
delay = 0
[rights]
type = owner_only
[storage]
filesystem_folder = {self.dir / "collections"}
[logging]
level = warning
"""
        )
        self.log = open(self.dir / "log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(self.dir / "config")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"radicale exited: {(self.dir / 'log').read_text()[-2000:]}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("radicale did not start in time")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # what another calendar application does ---------------------------------------------
    def client(self, user: str) -> caldav.DAVClient:
        return caldav.DAVClient(url=self.url, username=user, password=self.users[user], require_tls=False)

    def make_calendar(self, user: str, name: str) -> Any:
        with self.client(user) as client:
            calendar = client.principal().make_calendar(name=name, cal_id=name)
            return calendar.url

    def calendar(self, user: str, name: str) -> Any:
        client = self.client(user)
        return caldav.Calendar(client=client, url=f"{self.url}{user}/{name}/")

    def put(self, user: str, calendar: str, ics: str) -> None:
        """Add or replace the resource of the event's UID (one resource per UID)."""
        uid = next(line[4:].strip() for line in ics.splitlines() if line.startswith("UID:"))
        cal = self.calendar(user, calendar)
        cal.client.put(f"{self.url}{user}/{calendar}/{uid}.ics", ics.replace("\n", "\r\n"),
                       {"Content-Type": "text/calendar; charset=utf-8"})  # fmt: skip

    def delete(self, user: str, calendar: str, uid: str) -> None:
        cal = self.calendar(user, calendar)
        cal.client.delete(f"{self.url}{user}/{calendar}/{uid}.ics")


def event(
    uid: str,
    start: str,
    end: str,
    summary: str = "Meeting",
    organizer: str = "bob@acme.com",
    attendees: list[tuple[str, str]] | list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    extra: str = "",
    more: str = "",
) -> str:
    """A VCALENDAR with one VEVENT (`extra`: more of its lines; `more`: more components)."""
    lines = [
        f"ATTENDEE;{';'.join(a[2:])}{';' if len(a) > 2 else ''}PARTSTAT={a[1]}:mailto:{a[0]}"
        for a in attendees
    ]
    return "\n".join(
        [
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mailtrail tests//EN", "BEGIN:VEVENT", f"UID:{uid}",
            "DTSTAMP:20260101T000000Z", f"DTSTART:{start}", f"DTEND:{end}", f"SUMMARY:{summary}",
            f"ORGANIZER:mailto:{organizer}", *lines, *([extra] if extra else []), "END:VEVENT",
            *([more] if more else []), "END:VCALENDAR", "",
        ]
    )  # fmt: skip
