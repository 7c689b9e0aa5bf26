from __future__ import annotations

from tests.support.dsl import Workspace
from tests.support.messages import message


def test_a_sent_message_shows_up_as_an_email_and_creates_the_recipient(acme: Workspace) -> None:
    mailbox = acme.connect_upload(acme.admin, "bob@acme.com")
    response = acme.post_message(acme.admin, mailbox, message("bob@acme.com", "sue@gmail.com"))
    assert response.status_code == 201, response.text
    emails = acme.client.get("/emails", headers=acme.admin.headers).json()["items"]
    assert [e["subject"] for e in emails] == ["Hello"]
    people = acme.client.get("/people", headers=acme.admin.headers).json()["items"]
    assert [p["emails"] for p in people] == [["sue@gmail.com"]]
