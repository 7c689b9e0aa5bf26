"""Stories of connection strength (domain/strength.py): what a grade means and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.strength import (
    FORMULA_VERSION,
    GRADE_THRESHOLDS,
    MASS_RECIPIENTS,
    ONE_WAY_SCORE_CAP,
    Grade,
    Interaction,
    assess,
    constants,
    grade_of,
    is_mass,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def exchanges(count: int, every_days: float, *, ago_days: float = 0, mass: bool = False) -> list[Interaction]:
    """`count` round trips (the member writes, the person answers two hours later), newest first."""
    found = []
    for k in range(count):
        answered = NOW - timedelta(days=ago_days + k * every_days)
        found += [
            Interaction(answered - timedelta(hours=2), "sent", mass),
            Interaction(answered, "received", mass),
        ]
    return found


def grade(found: list[Interaction], as_of: datetime = NOW) -> Grade:
    return assess(found, as_of).grade


def test_no_mail_is_no_connection() -> None:
    strength = assess([], NOW)

    assert (strength.score, strength.grade) == (0.0, Grade.NONE)
    assert strength.explanation["sent"] == strength.explanation["received"] == 0


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        (exchanges(1, 1), Grade.WEAK),
        (exchanges(3, 10), Grade.MODERATE),
        (exchanges(13, 7), Grade.STRONG),
        (exchanges(52, 7), Grade.STRONG),
        (exchanges(180, 1), Grade.VERY_STRONG),
    ],
    ids=[
        "one exchange today",
        "three in a month",
        "weekly for a quarter",
        "weekly for a year",
        "daily for half a year",
    ],
)
def test_more_frequent_and_regular_exchange_grades_higher(
    history: list[Interaction], expected: Grade
) -> None:
    assert grade(history) is expected


def test_a_relationship_that_went_silent_fades() -> None:
    weekly_for_a_year = exchanges(52, 7, ago_days=365)

    assert grade(exchanges(52, 7)) is Grade.STRONG
    assert grade(weekly_for_a_year) is Grade.VERY_WEAK
    assert assess(exchanges(1, 1, ago_days=1000), NOW).grade is Grade.NONE


def test_one_way_mail_alone_never_grades_above_very_weak() -> None:
    cold_outreach = [Interaction(NOW - timedelta(days=k), "sent") for k in range(60)]
    strength = assess(cold_outreach, NOW)

    assert strength.grade is Grade.VERY_WEAK
    assert strength.score == ONE_WAY_SCORE_CAP
    assert strength.explanation["one_way_capped"] is True
    assert strength.explanation["raw_score"] > ONE_WAY_SCORE_CAP


def test_a_single_answer_turns_one_way_mail_into_an_exchange() -> None:
    cold_outreach = [Interaction(NOW - timedelta(days=k), "sent") for k in range(10)]
    answered = [*cold_outreach, Interaction(NOW, "received")]

    assert grade(cold_outreach) is Grade.VERY_WEAK
    assert grade(answered).rank > Grade.VERY_WEAK.rank
    assert assess(answered, NOW).explanation["two_way"] is True


def test_a_newsletter_and_a_reply_to_it_are_not_an_exchange() -> None:
    newsletter = [Interaction(NOW - timedelta(days=k), "received", mass=True) for k in range(30)]
    strength = assess([*newsletter, Interaction(NOW, "sent")], NOW)

    assert strength.grade is Grade.VERY_WEAK
    assert strength.explanation["mass"] == 30 and strength.explanation["direct_received"] == 0


def test_mass_mail_counts_for_less_than_direct_mail() -> None:
    direct = assess(exchanges(5, 3), NOW)
    mass = assess(exchanges(5, 3, mass=True), NOW)

    assert mass.score < direct.score
    assert mass.explanation["volume"] < direct.explanation["volume"]


def test_mail_after_the_evaluation_time_does_not_count() -> None:
    earlier = NOW - timedelta(days=30)
    strength = assess(exchanges(10, 1), earlier)

    assert strength.grade is Grade.NONE
    assert strength.explanation["sent"] == 0
    before = exchanges(10, 1, ago_days=40)
    assert assess(before + exchanges(10, 1), earlier) == assess(before, earlier)


def test_the_same_mail_in_any_order_gives_the_same_result() -> None:
    history = exchanges(20, 2.5) + [Interaction(NOW - timedelta(days=3), "received", mass=True)]

    assert assess(history, NOW) == assess(list(reversed(history)), NOW)


def test_a_naive_evaluation_time_is_utc() -> None:
    history = exchanges(4, 2)

    assert assess(history, NOW.replace(tzinfo=None)) == assess(history, NOW)


def test_the_explanation_adds_up_to_the_score() -> None:
    explanation = assess(exchanges(6, 4) + [Interaction(NOW, "received", mass=True)], NOW).explanation

    assert explanation["formula"] == f"mailtrail-strength/{FORMULA_VERSION}"
    assert (explanation["sent"], explanation["received"], explanation["mass"]) == (6, 7, 1)
    assert (explanation["direct_sent"], explanation["direct_received"]) == (6, 6)
    assert explanation["exchange"] == min(explanation["decayed_sent"], explanation["decayed_received"])
    assert explanation["distinct_days"] == 6
    assert sum(explanation["points"].values()) == pytest.approx(explanation["raw_score"], abs=0.02)
    assert explanation["score"] == pytest.approx(explanation["raw_score"], abs=0.05)
    assert explanation["grade"] == grade_of(explanation["score"]).value


def test_grades_follow_the_documented_thresholds() -> None:
    for expected, low in GRADE_THRESHOLDS:
        assert grade_of(low) is expected
    assert grade_of(0.0) is Grade.NONE
    assert grade_of(100.0) is Grade.VERY_STRONG
    assert constants()["grade_thresholds"]["strong"] == dict(GRADE_THRESHOLDS)[Grade.STRONG]


def test_mass_mail_is_bulk_or_widely_addressed() -> None:
    assert is_mass(True, 1)
    assert is_mass(False, MASS_RECIPIENTS)
    assert not is_mass(False, MASS_RECIPIENTS - 1)
