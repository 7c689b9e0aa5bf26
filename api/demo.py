"""A demo workspace: members, mailboxes and generated mail, ready to query."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from api.runtime import Runtime

DOMAIN = "acme.example"


Generate = Callable[..., Iterable[tuple[str, bytes]]]  # adapters/mailgen.py generate_messages


def create_demo(
    runtime: Runtime,
    messages: int,
    progress: Callable[[int], None],
    generate: Generate,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The demo's mail covers the two years up to `now` (default: the wall clock), never later."""
    services = runtime.services
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    workspace_id, alice, _ = services.workspaces.create_workspace(
        "Acme (demo)", DOMAIN, "Alice Admin", f"alice@{DOMAIN}", "pro"
    )
    bob = services.workspaces.add_member(workspace_id, "Bob Member", [f"bob@{DOMAIN}"], "member").id
    auditor = services.workspaces.add_member(workspace_id, "Ada Auditor", [f"ada@{DOMAIN}"], "auditor").id
    tokens = {name: runtime.tokens.issue(workspace_id, member) for name, member in
              (("alice (admin)", alice), ("bob (member)", bob), ("ada (auditor)", auditor))}  # fmt: skip
    alice_box = services.mailboxes.register(workspace_id, alice, "upload", f"alice@{DOMAIN}", []).id
    bob_box = services.mailboxes.register(workspace_id, bob, "upload", f"bob@{DOMAIN}", []).id
    position = services.mailboxes.change(workspace_id, alice_box, alice, sharing="subject")
    share = messages * 2 // 3
    for mailbox_id, owner, count, seed in (
        (alice_box, "alice", share, 7),
        (bob_box, "bob", messages - share, 11),
    ):
        mail = generate(count, seed=seed, owner=f"{owner}@{DOMAIN}", internal_domain=DOMAIN, end=end)
        raw = ((folder, f"demo-{owner}-{n}", data) for n, (folder, data) in enumerate(mail))
        position = services.ingest.import_raw(mailbox_id, raw, progress).position or position
    runtime.wait_for(position)
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
