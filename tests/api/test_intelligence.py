"""Stories of communication intelligence: who knows Globex best, since when, and why.

Acme: Bob (admin, bob@acme.com) and Karen (karen@gmail.com) each connect a mailbox.
Bob writes once to Dan (dan@globex.com), then exchanges mail with Carol
(carol@globex.com) twice; Karen only ever receives one message from Carol; at the
end Bob writes once to Erin (erin@initech.com)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from api.replay import fresh_views
from domain.visibility import Viewer
from projections.intelligence_queries import company_intelligence, person_intelligence
from tests.support.dsl import Member, Workspace
from tests.support.messages import message

BASE = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return BASE + timedelta(days=n)


class Story:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.bob = ws.admin
        self.karen = ws.add_member("Karen", "karen@gmail.com")
        self.bob_box = ws.connect_upload(self.bob, "bob@acme.com")
        self.karen_box = ws.connect_upload(self.karen, "karen@gmail.com")
        self.count = 0
        self.post(self.bob, self.bob_box, "Bob <bob@acme.com>", "Dan <dan@globex.com>", 0)
        self.post(self.bob, self.bob_box, "Bob <bob@acme.com>", "Carol <carol@globex.com>", 1)
        self.post(self.bob, self.bob_box, "Carol <carol@globex.com>", "bob@acme.com", 2)
        self.post(self.karen, self.karen_box, "Carol <carol@globex.com>", "karen@gmail.com", 4)
        self.post(self.bob, self.bob_box, "Bob <bob@acme.com>", "carol@globex.com", 8)
        self.post(self.bob, self.bob_box, "Carol <carol@globex.com>", "bob@acme.com", 9)
        self.post(self.bob, self.bob_box, "Bob <bob@acme.com>", "Erin <erin@initech.com>", 10)
        self.dan, self.carol, self.erin = (
            self.person(a) for a in ("dan@globex.com", "carol@globex.com", "erin@initech.com")
        )
        self.globex, self.initech = (self.company(d) for d in ("globex.com", "initech.com"))

    def post(
        self, member: Member, mailbox: str, sender: str, to: str | list[str], when: float, **options: Any
    ) -> None:
        self.count += 1
        raw = message(
            sender,
            to,
            message_id=f"<story{self.count}@example.com>",
            date=format_datetime(day(when)),
            **options,
        )
        response = self.ws.post_message(member, mailbox, raw)
        assert response.status_code == 201, response.text

    def listing(self, path: str, **params: str) -> list[dict[str, Any]]:
        response = self.ws.client.get(path, params=params, headers=self.bob.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def person(self, address: str) -> str:
        return next(p["id"] for p in self.listing("/people", limit="200") if address in p["emails"])

    def company(self, domain: str) -> str:
        return next(c["id"] for c in self.listing("/companies", limit="200") if c["domain"] == domain)

    def intelligence(
        self, kind: str, record_id: str, viewer: Member | None = None, **params: str
    ) -> dict[str, Any]:
        response = self.ws.client.get(
            f"/{kind}/{record_id}/intelligence", params=params, headers=(viewer or self.bob).headers
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def rows(self, found: dict[str, Any]) -> dict[str, dict[str, Any]]:
        names = {self.bob.id: "bob", self.karen.id: "karen"}
        return {names[row["member_id"]]: row for row in found["members"]}


@pytest.fixture
def story(acme: Workspace) -> Story:
    return Story(acme)


def moment(when: float, member: Member, direction: str) -> dict[str, str]:
    return {"at": day(when).isoformat(), "member_id": member.id, "direction": direction}


def test_the_member_who_exchanges_mail_is_the_strongest_connection(story: Story) -> None:
    carol = story.intelligence("people", story.carol)
    rows = story.rows(carol)

    assert carol["as_of"] == day(10).isoformat() and carol["as_of_source"] == "newest_email"
    assert [r["member_id"] for r in carol["members"]] == [story.bob.id, story.karen.id]
    assert (rows["bob"]["sent"], rows["bob"]["received"]) == (2, 2)
    assert (rows["karen"]["sent"], rows["karen"]["received"]) == (0, 1)
    assert rows["bob"]["grade"] in ("weak", "moderate") and rows["karen"]["grade"] == "very_weak"
    assert carol["strongest_member"] == {
        "member_id": story.bob.id,
        "name": "Bob",
        "score": rows["bob"]["score"],
        "grade": rows["bob"]["grade"],
    }
    assert (carol["grade"], carol["score"]) == (rows["bob"]["grade"], rows["bob"]["score"])
    assert carol["first_interaction"] == moment(1, story.bob, "sent")
    assert carol["last_interaction"] == moment(9, story.bob, "received")
    assert carol["next_interaction"] is None
    assert (
        rows["karen"]["first_interaction"]
        == rows["karen"]["last_interaction"]
        == moment(4, story.karen, "received")
    )


def test_the_grade_comes_with_the_figures_behind_it(story: Story) -> None:
    carol = story.intelligence("people", story.carol)
    explanation = story.rows(carol)["bob"]["explanation"]

    assert carol["formula"]["formula"] == explanation["formula"] == "mailtrail-strength/1"
    assert carol["formula"]["grade_thresholds"]["very_strong"] > carol["formula"]["grade_thresholds"]["weak"]
    assert explanation["as_of"] == carol["as_of"]
    assert explanation["two_way"] is True and explanation["one_way_capped"] is False
    assert (explanation["direct_sent"], explanation["direct_received"], explanation["mass"]) == (2, 2, 0)
    assert explanation["distinct_days"] == 4
    assert explanation["score"] == story.rows(carol)["bob"]["score"]
    assert sum(explanation["points"].values()) == pytest.approx(explanation["raw_score"], abs=0.02)


def test_one_way_mail_is_never_more_than_very_weak(story: Story) -> None:
    dan = story.intelligence("people", story.dan)

    assert dan["grade"] == "very_weak"
    assert story.rows(dan)["bob"]["explanation"]["two_way"] is False


def test_as_of_a_past_time_counts_only_earlier_mail_and_names_the_next_interaction(story: Story) -> None:
    carol = story.intelligence("people", story.carol, as_of=day(3).isoformat())

    assert carol["as_of"] == day(3).isoformat() and carol["as_of_source"] == "request"
    assert list(story.rows(carol)) == ["bob"]
    assert (story.rows(carol)["bob"]["sent"], story.rows(carol)["bob"]["received"]) == (1, 1)
    assert carol["last_interaction"] == moment(2, story.bob, "received")
    assert carol["next_interaction"] == moment(4, story.karen, "received")
    before = story.intelligence("people", story.carol, as_of="2025-01-01T00:00:00")
    assert (before["grade"], before["members"], before["strongest_member"]) == ("none", [], None)
    assert before["next_interaction"] == moment(1, story.bob, "sent")


def test_time_alone_never_raises_a_grade(story: Story) -> None:
    scores = [
        story.intelligence("people", story.carol, as_of=day(n).isoformat())["score"]
        for n in (10, 40, 200, 900)
    ]

    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[-1]


def test_the_company_grade_is_the_best_of_its_people(story: Story) -> None:
    globex = story.intelligence("companies", story.globex)
    carol = story.intelligence("people", story.carol)
    rows = story.rows(globex)

    assert (globex["grade"], globex["score"]) == (carol["grade"], carol["score"])
    assert globex["strongest_member"] == carol["strongest_member"]
    assert rows["bob"]["person_id"] == story.carol
    assert (rows["bob"]["sent"], rows["bob"]["received"]) == (3, 2)
    assert rows["karen"]["person_id"] == story.carol
    assert [p["person_id"] for p in globex["people"]] == [story.carol, story.dan]
    assert globex["people"][1]["grade"] == "very_weak"
    assert globex["first_interaction"] == moment(0, story.bob, "sent")
    assert globex["last_interaction"] == moment(9, story.bob, "received")


def test_removing_a_mailbox_takes_away_its_share_and_nothing_else(story: Story) -> None:
    before = story.rows(story.intelligence("people", story.carol))
    response = story.ws.client.delete(f"/mailboxes/{story.karen_box}", headers=story.karen.headers)
    assert response.status_code == 204, response.text

    after = story.intelligence("people", story.carol)
    assert story.rows(after) == {"bob": before["bob"]}

    story.ws.client.delete(f"/mailboxes/{story.bob_box}", headers=story.bob.headers)
    gone = story.intelligence("people", story.carol, as_of=day(10).isoformat())
    assert (gone["grade"], gone["members"], gone["strongest_member"], gone["last_interaction"]) == (
        "none",
        [],
        None,
        None,
    )
    assert story.intelligence("people", story.carol)["as_of_source"] == "no_email"
    assert story.intelligence("companies", story.globex)["grade"] == "none"


def test_a_blocklisted_copy_counts_nothing_until_it_is_unblocked(story: Story) -> None:
    before = story.intelligence("people", story.carol)

    blocked = story.ws.client.post(
        f"/mailboxes/{story.bob_box}/blocklist", json={"entry": "carol@globex.com"}, headers=story.bob.headers
    )
    assert blocked.status_code == 200, blocked.text
    during = story.intelligence("people", story.carol, as_of=before["as_of"])
    assert list(story.rows(during)) == ["karen"]
    assert during["strongest_member"]["member_id"] == story.karen.id

    story.ws.client.request(
        "DELETE",
        f"/mailboxes/{story.bob_box}/blocklist",
        json={"entry": "carol@globex.com"},
        headers=story.bob.headers,
    )
    assert story.intelligence("people", story.carol) == before


def test_excluded_and_internal_only_mail_counts_nothing(story: Story) -> None:
    def change(settings: dict[str, Any]) -> None:
        response = story.ws.client.patch("/settings", json=settings, headers=story.bob.headers)
        assert response.status_code == 200, response.text

    change({"exclusions": ["initech.com"]})
    assert story.intelligence("people", story.erin, as_of=day(10).isoformat())["grade"] == "none"
    change({"internal_domains": ["acme.com", "globex.com"]})
    assert story.intelligence("companies", story.globex, as_of=day(10).isoformat())["members"] == []


def test_mass_mail_is_counted_as_mass(story: Story) -> None:
    story.post(
        story.bob,
        story.bob_box,
        "Carol <carol@globex.com>",
        "bob@acme.com",
        11,
        headers={"List-Unsubscribe": "<mailto:u@globex.com>", "Precedence": "bulk"},
    )
    crowd = [f"guest{n}@example.org" for n in range(12)]
    story.post(story.bob, story.bob_box, "Bob <bob@acme.com>", ["carol@globex.com", *crowd], 11)

    explanation = story.rows(story.intelligence("people", story.carol))["bob"]["explanation"]
    assert (explanation["sent"], explanation["received"], explanation["mass"]) == (3, 3, 2)
    assert (explanation["direct_sent"], explanation["direct_received"]) == (2, 2)


def test_a_bcc_counts_only_for_the_member_who_sent_it(story: Story) -> None:
    story.post(
        story.bob,
        story.bob_box,
        "Bob <bob@acme.com>",
        "erin@initech.com",
        11,
        headers={"Bcc": "dan@globex.com"},
    )

    assert story.rows(story.intelligence("people", story.dan))["bob"]["sent"] == 2
    assert story.rows(story.intelligence("people", story.dan, viewer=story.karen))["bob"]["sent"] == 1


def test_lists_sort_by_strength_or_last_interaction(story: Story) -> None:
    def ids(path: str, **params: str) -> list[str]:
        return [item["id"] for item in story.listing(path, **params)]

    assert ids("/people") == [story.dan, story.carol, story.erin]
    assert ids("/people", sort="strength") == [story.carol, story.erin, story.dan]
    assert ids("/people", sort="last_interaction") == [story.erin, story.carol, story.dan]
    first = story.ws.client.get(
        "/people", params={"sort": "strength", "limit": 1}, headers=story.bob.headers
    ).json()
    assert ids("/people", sort="strength", limit="1", cursor=first["next"]) == [story.erin]
    assert ids("/companies") == [story.globex, story.initech]
    assert ids("/companies", sort="strength") == [story.globex, story.initech]
    assert ids("/companies", sort="last_interaction") == [story.initech, story.globex]
    bad = story.ws.client.get("/people", params={"sort": "loudest"}, headers=story.bob.headers)
    assert bad.status_code == 422


def test_unknown_records_and_bad_times_are_refused(story: Story) -> None:
    headers = story.bob.headers
    assert story.ws.client.get("/people/nobody/intelligence", headers=headers).status_code == 404
    assert story.ws.client.get("/companies/nothing/intelligence", headers=headers).status_code == 404
    bad = story.ws.client.get(
        f"/people/{story.carol}/intelligence", params={"as_of": "yesterday"}, headers=headers
    )
    assert bad.status_code == 422


def test_a_replay_from_zero_gives_the_same_grades_and_a_replay_to_a_point_the_grades_of_that_point(
    story: Story,
) -> None:
    runtime = story.ws.runtime
    viewer = Viewer(story.ws.id, story.bob.id, "admin")
    middle = runtime.catch_up()
    then = story.intelligence("people", story.carol)
    story.post(story.bob, story.bob_box, "Bob <bob@acme.com>", "carol@globex.com", 12)
    story.post(story.karen, story.karen_box, "Karen <karen@gmail.com>", "carol@globex.com", 13)
    now = (story.intelligence("people", story.carol), story.intelligence("companies", story.globex))
    assert now[0] != then

    with fresh_views(runtime) as (engine, _), engine.connect() as conn:
        replayed = (
            person_intelligence(conn, viewer, story.carol),
            company_intelligence(conn, viewer, story.globex),
        )
    with fresh_views(runtime, middle) as (engine, _), engine.connect() as conn:
        at_middle = person_intelligence(conn, viewer, story.carol)

    assert replayed == now
    assert at_middle == then
