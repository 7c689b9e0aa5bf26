"""The project files whose code one request runs, for docs/architecture.md's counts.

    .venv/bin/python bench/request_paths.py

Opens a runtime on a scratch SQLite store, makes a workspace and an upload mailbox, posts one
message (so the second one runs the steady path), then traces POST /mailboxes/{id}/messages,
GET /people and DELETE /mailboxes/{id} with a profile hook on every thread and prints, per
request, each project file (tests, libraries and this script left out) with the functions of it
that ran."""

from __future__ import annotations

import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient

from adapters.datakeys import new_master_key
from adapters.settings import Settings
from api.main import create_app
from api.runtime import Runtime
from tests.support.dsl import make_workspace
from tests.support.messages import message

PREFIX = f"{ROOT}/"
files: dict[str, set[str]] = {}
tracing = threading.Event()


def _profile(frame: FrameType, event: str, arg: Any) -> None:
    if event == "call" and tracing.is_set():
        name = frame.f_code.co_filename
        if name.startswith(PREFIX) and "/.venv/" not in name and "/tests/" not in name and name != __file__:
            files.setdefault(name[len(PREFIX) :], set()).add(frame.f_code.co_name)


def traced(label: str, request: Callable[[], Any]) -> None:
    files.clear()
    tracing.set()
    response = request()
    tracing.clear()
    print(f"{label}: {response.status_code}, {len(files)} files")
    for name, functions in files.items():
        print(f"  {name}: {', '.join(sorted(functions))}")


def main() -> None:
    sys.setprofile(_profile)
    threading.setprofile(_profile)  # the app's event loop and worker threads start after this
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/paths.db", master_key=new_master_key())
        runtime = Runtime.open(settings)
        try:
            with TestClient(create_app(runtime=runtime)) as client:
                ws = make_workspace(client, runtime)
                box = ws.connect_upload(ws.admin, "bob@acme.com")
                ws.post_message(
                    ws.admin, box, message("carol@globex.com", "bob@acme.com", message_id="<a@x>")
                )
                raw = message("dave@hooli.com", ["bob@acme.com", "erin@initech.com"], message_id="<b@x>")
                traced("POST /mailboxes/{id}/messages", lambda: ws.post_message(ws.admin, box, raw))
                traced("GET /people", lambda: client.get("/people", headers=ws.admin.headers))
                traced(
                    "DELETE /mailboxes/{id}",
                    lambda: client.delete(f"/mailboxes/{box}", headers=ws.admin.headers),
                )
        finally:
            runtime.close()
    sys.setprofile(None)


if __name__ == "__main__":
    main()
