"""One process applies events to the views; every other one waits for it to read its own writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from adapters.tokens import issue_token
from api.main import create_app
from api.runtime import Runtime
from tests.conftest import TEST_MASTER_KEY
from tests.support.dsl import assert_problem


@pytest.fixture
def servers(database_url: str) -> Iterator[tuple[Runtime, Runtime]]:
    """Two API processes' runtimes on one store, as `serve --workers 2` opens them."""
    settings = Settings(database_url=database_url, master_key=TEST_MASTER_KEY, projection_poll_seconds=0.1)
    first = Runtime.open(settings, hold_views_lock=True)
    second = Runtime.open(settings, hold_views_lock=True)
    try:
        yield first, second
    finally:
        second.close()
        first.close()


def test_of_two_servers_on_one_store_only_the_first_to_lock_applies(servers: tuple[Runtime, Runtime]) -> None:
    applier, follower = servers
    assert applier.views.try_apply() is not None
    assert follower.views.try_apply() is None  # the lock is taken: it never applies
    applier.start_background_projection()
    follower.start_background_projection()

    workspace_id, _, _ = follower.services.workspaces.create_workspace(
        "Acme", "acme.com", "Bob", "bob@acme.com"
    )
    person_id = follower.services.records.create_person(workspace_id, "Carol", ["carol@client.com"]).id
    position = follower.catch_up()  # waits until the applier's views show the write

    assert position == follower.app.recorder.max_notification_id()
    assert follower.runner.position() >= position
    assert applier.views.is_applier and not follower.views.is_applier
    assert follower.wait_for(position) >= position
    assert person_id


def test_when_the_applier_stops_another_server_takes_over(servers: tuple[Runtime, Runtime]) -> None:
    applier, follower = servers
    assert applier.views.try_apply() is not None
    applier.start_background_projection()
    follower.start_background_projection()
    applier.close()

    follower.services.workspaces.create_workspace("Acme", "acme.com", "Bob", "bob@acme.com")
    assert follower.catch_up() == follower.app.recorder.max_notification_id()
    assert follower.views.is_applier


def test_a_command_answers_503_when_the_views_do_not_reach_its_write_in_time(
    servers: tuple[Runtime, Runtime],
) -> None:
    stalled, follower = servers
    workspace_id, member_id, _ = stalled.services.workspaces.create_workspace(
        "Acme", "acme.com", "Bob", "bob@acme.com"
    )
    stalled.catch_up()  # it holds the lock from now on, and (no background runner) applies nothing more
    token = issue_token(follower.engine, workspace_id, member_id)
    follower.views.wait_seconds = 0.3
    with TestClient(create_app(runtime=follower)) as client:
        response = client.post(
            "/people",
            json={"name": "Carol", "emails": ["carol@client.com"]},
            headers={"Authorization": f"Bearer {token}"},
        )
    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert "retry" in body["detail"]
    assert not follower.views.is_applier
