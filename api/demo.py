"""A demo workspace: members, mailboxes and generated mail, ready to query."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from adapters.mailgen import generate_messages
from adapters.mime import parse_message
from adapters.tokens import issue_token
from api.runtime import Runtime
from application.ingest import batches, import_batches
from application.batch_recorder import BatchRecorder

DOMAIN = "acme.example"


def create_demo(
    runtime: Runtime, messages: int, progress: Callable[[int], None], now: datetime | None = None
) -> dict[str, Any]:
    """The demo's mail covers the two years up to `now` (default: the wall clock), never later."""
    app = runtime.app
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    workspace_id, alice = app.create_workspace("Acme (demo)", DOMAIN, "Alice Admin", f"alice@{DOMAIN}", "pro")
    bob = app.add_member(workspace_id, "Bob Member", [f"bob@{DOMAIN}"], "member")
    auditor = app.add_member(workspace_id, "Ada Auditor", [f"ada@{DOMAIN}"], "auditor")
    tokens = {name: issue_token(runtime.engine, workspace_id, member) for name, member in
              (("alice (admin)", alice), ("bob (member)", bob), ("ada (auditor)", auditor))}
    alice_box = app.connect_mailbox(workspace_id, alice, "upload", f"alice@{DOMAIN}", [])
    bob_box = app.connect_mailbox(workspace_id, bob, "upload", f"bob@{DOMAIN}", [])
    app.change_sharing(workspace_id, alice_box, "subject")
    share = messages * 2 // 3
    for mailbox_id, owner, count, seed in ((alice_box, "alice", share, 7), (bob_box, "bob", messages - share, 11)):
        mail = generate_messages(count, seed=seed, owner=f"{owner}@{DOMAIN}", internal_domain=DOMAIN, end=end)
        raw = ((folder, f"demo-{owner}-{n}", data) for n, (folder, data) in enumerate(mail))
        import_batches(BatchRecorder(app, mailbox_id), batches(raw, parse_message), progress)
    runtime.catch_up()
    token = tokens["alice (admin)"]
    return {
        "workspace_id": workspace_id,
        "mailboxes": {"alice": alice_box, "bob": bob_box},
        "tokens": tokens,
        "try": [
            f'curl -H "Authorization: Bearer {token}" http://127.0.0.1:8000/people',
            f'curl -H "Authorization: Bearer {token}" http://127.0.0.1:8000/companies',
            f'curl -H "Authorization: Bearer {token}" http://127.0.0.1:8000/emails?limit=5',
        ],
    }
