"""Issue 14.5 and 14.9: a replay is of the caller's workspace only, one at a time, and an as-of
view never shows content that a current exclusion or blocklist hides, nor an erased mailbox."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from api.replay import fresh_views
from projections.digest import view_digest, workspace_column
from projections.tables import VIEW_TABLES, audit_log, workspaces
from tests.support.dsl import Member, Workspace, assert_problem, make_workspace
from tests.support.messages import message


def replay(ws: Workspace, viewer: Member, until: int | str) -> dict[str, Any]:
    response = ws.client.post("/audit/replay", json={"until": until}, headers=viewer.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def emails_by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in result["emails"]}


def post(ws: Workspace, member: Member, mailbox: str, raw: bytes) -> str:
    response = ws.post_message(member, mailbox, raw)
    assert response.status_code == 201, response.text
    return str(response.json()["email_id"])


def last_position(ws: Workspace) -> int:
    with ws.runtime.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.max(audit_log.c.position)).where(audit_log.c.workspace_id == ws.id)
            ).scalar()
            or 0
        )


# 14.5: as-of views under today's exclusions, blocklists and erasure ------------------------------


def test_an_as_of_view_redacts_what_a_current_exclusion_hides(acme: Workspace) -> None:
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    excluded = post(
        acme,
        acme.admin,
        box,
        message(
            "Vic <vic@vendor.example>", "bob@acme.com", "EXCL-CANARY deal", message_id="<v1@vendor.example>"
        ),
    )
    kept = post(
        acme, acme.admin, box, message("sue@initech.com", "bob@acme.com", "Lunch", message_id="<k1@i>")
    )
    before = acme.runtime.catch_up()
    assert emails_by_id(replay(acme, acme.admin, before))[excluded]["subject"] == "EXCL-CANARY deal"

    changed = acme.client.patch(
        "/settings", json={"exclusions": ["vendor.example"]}, headers=acme.admin.headers
    )
    assert changed.status_code == 200, changed.text

    result = replay(acme, acme.admin, before)
    shown = emails_by_id(result)
    assert shown[excluded]["level"] == "full"  # what was visible then ...
    assert {p["address"] for p in shown[excluded]["participants"]} == {"vic@vendor.example", "bob@acme.com"}
    assert shown[excluded]["redacted"] == "excluded"  # ... without the content hidden now
    assert "subject" not in shown[excluded] and "has_body" not in shown[excluded]
    assert "EXCL-CANARY" not in str(result)
    assert shown[kept]["subject"] == "Lunch" and shown[kept]["has_body"] is True
    assert "redacted" not in shown[kept]


def test_an_as_of_view_redacts_a_copy_its_mailbox_now_blocklists_and_keeps_what_other_copies_give(
    acme: Workspace,
) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    bob_box = acme.connect_upload(acme.admin, "bob@acme.com")
    alice_box = acme.connect_upload(alice, "alice@acme.com")
    acme.client.patch(f"/mailboxes/{alice_box}", json={"sharing": "subject"}, headers=alice.headers)
    only_bob = post(
        acme,
        acme.admin,
        bob_box,
        message("lee@spam.com", "bob@acme.com", "BLOCK-CANARY offer", message_id="<s1@spam.com>"),
    )
    both = message(
        "lee@spam.com", ["bob@acme.com", "alice@acme.com"], "Team offer", message_id="<s2@spam.com>"
    )
    shared = post(acme, acme.admin, bob_box, both)
    assert post(acme, alice, alice_box, both) == shared
    before = acme.runtime.catch_up()

    blocked = acme.client.post(
        f"/mailboxes/{bob_box}/blocklist", json={"entry": "spam.com"}, headers=acme.admin.headers
    )
    assert blocked.status_code in (200, 201), blocked.text

    result = replay(acme, acme.admin, before)
    shown = emails_by_id(result)
    assert shown[only_bob]["redacted"] == "blocklisted" and shown[only_bob]["level"] == "full"
    assert "subject" not in shown[only_bob] and "has_body" not in shown[only_bob]
    assert "BLOCK-CANARY" not in str(result)
    # Alice's copy is not blocklisted: it still gives Bob its subject, but no longer a body
    assert shown[shared]["subject"] == "Team offer" and "has_body" not in shown[shared]
    assert shown[shared]["redacted"] == "blocklisted"

    acme.client.request(
        "DELETE", f"/mailboxes/{bob_box}/blocklist", json={"entry": "spam.com"}, headers=acme.admin.headers
    )
    assert emails_by_id(replay(acme, acme.admin, before))[only_bob]["subject"] == "BLOCK-CANARY offer"


def test_an_erased_mailbox_stays_erased_in_an_as_of_view(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    alice_box = acme.connect_upload(alice, "alice@acme.com")
    acme.client.patch(f"/mailboxes/{alice_box}", json={"sharing": "full"}, headers=alice.headers)
    hers = post(
        acme,
        alice,
        alice_box,
        message("pat@initech.com", "alice@acme.com", "ERASE-CANARY", message_id="<e1@initech.com>"),
    )
    before = acme.runtime.catch_up()
    assert emails_by_id(replay(acme, acme.admin, before))[hers]["subject"] == "ERASE-CANARY"

    assert acme.client.delete(f"/mailboxes/{alice_box}", headers=alice.headers).status_code == 204
    acme.client.patch("/settings", json={"exclusions": ["initech.com"]}, headers=acme.admin.headers)

    result = replay(acme, acme.admin, before)
    assert hers not in emails_by_id(result) and "ERASE-CANARY" not in str(result)


# 14.9: one workspace's replay and report ---------------------------------------------------------


def two_workspaces(acme: Workspace) -> tuple[Workspace, dict[str, str]]:
    """Acme with mail, then Globex with mail written after Acme's last event."""
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    post(acme, acme.admin, box, message("sue@initech.com", "bob@acme.com", "Acme mail", message_id="<a@i>"))
    globex = make_workspace(acme.client, acme.runtime, "Globex", "globex.com", ("Gus", "gus@globex.com"))
    gbox = globex.connect_upload(globex.admin, "gus@globex.com")
    ids = {"workspace": globex.id, "mailbox": gbox, "admin": globex.admin.id}
    for n in range(3):
        ids[f"email{n}"] = post(
            globex,
            globex.admin,
            gbox,
            message(
                f"c{n}@hooli.com", "gus@globex.com", f"GLOBEX-CANARY {n}", message_id=f"<g{n}@hooli.com>"
            ),
        )
    return globex, ids


def test_a_workspace_report_rebuilds_and_digests_that_workspace_only(acme: Workspace) -> None:
    globex, globex_ids = two_workspaces(acme)
    acme_last, globex_last = last_position(acme), last_position(globex)
    assert globex_last > acme_last

    response = acme.client.get("/compliance/report", headers=acme.admin.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    digests = report["digests"]
    assert digests["position"] == digests["live_position"] == acme_last
    assert digests["replay_digest"] == digests["live_digest"] == view_digest(acme.runtime.engine, acme.id)
    assert digests["live_digest"] != view_digest(acme.runtime.engine)  # not the all-tenant digest
    assert report["violations"] == [] and report["checked"]["visible_copies"] == 1
    for value in globex_ids.values():
        assert value not in response.text
    other = globex.client.get("/compliance/report", headers=globex.admin.headers).json()
    assert other["digests"]["position"] == globex_last and other["checked"]["visible_copies"] == 3
    assert other["digests"]["live_digest"] != digests["live_digest"]

    as_of = replay(acme, acme.admin, globex_last)
    assert as_of["position"] == acme_last and as_of["digest"] == digests["live_digest"]
    assert "GLOBEX-CANARY" not in str(as_of)
    # a time after everything: still Acme's last position, never the log's
    assert replay(acme, acme.admin, "2100-01-01T00:00:00+00:00")["position"] == acme_last


def test_every_view_table_says_which_workspace_a_row_belongs_to() -> None:
    """A workspace's digest covers every view table (a new table needs a workspace_id)."""
    assert {workspace_column(table) for table in VIEW_TABLES} == {"id", "workspace_id"}


def test_a_workspace_replay_applies_no_event_of_another_workspace(acme: Workspace) -> None:
    two_workspaces(acme)
    with acme.runtime.engine.connect() as conn:
        acme_events = conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.workspace_id == acme.id)
        ).scalar()
    with fresh_views(acme.runtime, workspace_id=acme.id) as (engine, position), engine.connect() as conn:
        filed = conn.execute(
            select(audit_log.c.workspace_id, func.count()).group_by(audit_log.c.workspace_id)
        ).all()
        tenants = conn.execute(select(workspaces.c.id)).scalars().all()
    assert position == last_position(acme)
    assert [tuple(row) for row in filed] == [(acme.id, acme_events)]
    assert tenants == [acme.id]


def test_concurrent_replays_answer_200_or_429_with_retry_after_never_500(acme: Workspace) -> None:
    two_workspaces(acme)
    auditor = acme.add_member("Ada", "ada@acme.com", role="auditor")
    start = threading.Barrier(6)

    def one(n: int) -> Any:
        start.wait()
        if n % 3 == 2:
            return acme.client.get("/compliance/report", headers=auditor.headers)
        return acme.client.post("/audit/replay", json={"until": 10_000}, headers=auditor.headers)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(one, range(6)))

    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 429}, [r.text for r in responses]
    assert 200 in statuses and 429 in statuses, statuses
    for busy in (r for r in responses if r.status_code == 429):
        assert_problem(busy, 429)
        assert int(busy.headers["Retry-After"]) >= 1
    again = acme.client.post("/audit/replay", json={"until": 10_000}, headers=auditor.headers)
    assert again.status_code == 200
