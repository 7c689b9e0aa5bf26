"""The audit surface: the log, point-in-time replay and the compliance report."""

from __future__ import annotations

from sqlalchemy import update

from projections.tables import email_copies
from tests.support.dsl import Workspace
from tests.support.messages import message

SECRET = "Quarterly numbers SECRET-42"


def setup_mail(acme: Workspace) -> tuple[str, str]:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    first = acme.post_message(
        acme.admin, mailbox, message("bob@acme.com", "ann@corp.com", SECRET, message_id="<a1@x>")
    )
    acme.post_message(
        acme.admin, mailbox, message("lee@spam.com", "bob@acme.com", "Offer", message_id="<a2@x>")
    )
    return mailbox, first.json()["email_id"]


def test_the_log_pages_through_events_with_metadata_only(acme: Workspace) -> None:
    auditor = acme.add_member("Ada", "ada@acme.com", role="auditor")
    setup_mail(acme)
    seen: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = acme.client.get("/audit/events", params=params, headers=auditor.headers).json()
        seen += page["items"]
        cursor = page["next"]
        if cursor is None:
            break
    positions = [e["position"] for e in seen]
    assert positions == sorted(set(positions)) and len(positions) >= 6
    assert {"Workspace.Created", "Mailbox.Created", "SyncedMessage.Recorded"} <= {
        e["event_type"] for e in seen
    }
    text = acme.client.get("/audit/events", params={"limit": 200}, headers=auditor.headers).text
    assert "SECRET-42" not in text and "ann@corp.com" not in text


def test_the_log_filters_by_event_type_and_aggregate(acme: Workspace) -> None:
    mailbox, _ = setup_mail(acme)
    by_type = acme.client.get(
        "/audit/events", params={"event_type": "SyncedMessage.Recorded"}, headers=acme.admin.headers
    )
    assert [e["event_type"] for e in by_type.json()["items"]] == ["SyncedMessage.Recorded"] * 2
    by_mailbox = acme.client.get(
        "/audit/events", params={"aggregate_id": mailbox}, headers=acme.admin.headers
    )
    assert {e["aggregate_id"] for e in by_mailbox.json()["items"]} == {mailbox}


def test_members_cannot_read_the_audit_surface(acme: Workspace) -> None:
    member = acme.add_member("Carol", "carol@acme.com")
    for method, path in (("get", "/audit/events"), ("get", "/compliance/report"), ("post", "/audit/replay")):
        response = acme.client.request(method, path, json={"until": 1}, headers=member.headers)
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"


def subjects_as_of(acme: Workspace, until: int) -> set[str]:
    response = acme.client.post("/audit/replay", json={"until": until}, headers=acme.admin.headers)
    assert response.status_code == 200, response.text
    return {e.get("subject", "") for e in response.json()["emails"]}


def test_replay_shows_the_views_as_they_were_before_a_blocklist_change_and_a_removal(acme: Workspace) -> None:
    acme.client.patch("/settings", json={"legal_hold": True}, headers=acme.admin.headers)
    mailbox, _ = setup_mail(acme)
    before_block = acme.runtime.catch_up()
    acme.client.post(
        f"/mailboxes/{mailbox}/blocklist", json={"entry": "spam.com"}, headers=acme.admin.headers
    )
    after_block = acme.runtime.catch_up()
    acme.client.delete(f"/mailboxes/{mailbox}", headers=acme.admin.headers)
    after_removal = acme.runtime.catch_up()

    # what was visible before the block, but the copy the blocklist hides now is redacted (14.5)
    before = acme.client.post(
        "/audit/replay", json={"until": before_block}, headers=acme.admin.headers
    ).json()
    assert {e.get("subject"): e.get("redacted") for e in before["emails"]} == {
        SECRET: None,
        None: "blocklisted",
    }
    assert subjects_as_of(acme, after_block) == {SECRET}
    assert subjects_as_of(acme, after_removal) == set()
    assert acme.client.get("/emails", headers=acme.admin.headers).json()["items"] == []


def test_after_erasure_even_a_replay_of_the_past_holds_no_content_of_the_mailbox(acme: Workspace) -> None:
    mailbox, _ = setup_mail(acme)
    before_removal = acme.runtime.catch_up()
    assert subjects_as_of(acme, before_removal) == {SECRET, "Offer"}

    acme.client.delete(f"/mailboxes/{mailbox}", headers=acme.admin.headers)

    assert subjects_as_of(acme, before_removal) == set()


def test_replay_until_a_time_before_any_mail_shows_no_email(acme: Workspace) -> None:
    setup_mail(acme)
    response = acme.client.post(
        "/audit/replay", json={"until": "2000-01-01T00:00:00+00:00"}, headers=acme.admin.headers
    )
    assert response.status_code == 200
    assert response.json()["emails"] == [] and response.json()["position"] == 0
    bad = acme.client.post("/audit/replay", json={"until": "yesterday"}, headers=acme.admin.headers)
    assert bad.status_code == 422


def test_the_report_is_clean_when_the_rules_hold(acme: Workspace) -> None:
    mailbox, _ = setup_mail(acme)
    acme.client.post(
        f"/mailboxes/{mailbox}/blocklist", json={"entry": "spam.com"}, headers=acme.admin.headers
    )
    report = acme.client.get("/compliance/report", headers=acme.admin.headers).json()
    assert report["violations"] == []
    assert report["checked"]["visible_copies"] == 1
    assert report["digests"]["equal"] is True


def test_the_report_finds_a_violation_planted_in_a_view_table(acme: Workspace) -> None:
    mailbox, _ = setup_mail(acme)
    acme.client.post(
        f"/mailboxes/{mailbox}/blocklist", json={"entry": "spam.com"}, headers=acme.admin.headers
    )
    with acme.runtime.engine.begin() as conn:  # unhide the blocked copy behind the projection's back
        conn.execute(update(email_copies).values(blocklisted_at=None, blocklisted_entry=None))

    report = acme.client.get("/compliance/report", headers=acme.admin.headers).json()

    rules = {v["rule"] for v in report["violations"]}
    assert "visible_blocklisted_copy" in rules
    assert "replay_digest_differs" in rules


def test_the_log_filtered_by_a_member_or_a_mailbox_holds_that_mailbox_and_its_mail(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    carol = acme.add_member("Carol", "carol@acme.com")
    alice_box = acme.connect_upload(alice, "alice@acme.com")
    carol_box = acme.connect_upload(carol, "carol@acme.com")
    copy = acme.post_message(alice, alice_box, message("alice@acme.com", "sue@initech.com")).json()["copy_id"]
    acme.post_message(
        carol, carol_box, message("carol@acme.com", "joe@globex.com", message_id="<c@acme.com>")
    )
    for params in ({"member_id": alice.id}, {"mailbox_id": alice_box}):
        events = acme.client.get("/audit/events", params=params, headers=acme.admin.headers).json()["items"]
        assert {e["aggregate_id"] for e in events} == {alice_box, copy}, params
