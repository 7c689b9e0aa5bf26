"""Properties of connection strength over random mail histories (domain/strength.py).

- more recent two-way mail never lowers a grade (nor any mail, anywhere before as_of);
- time alone never raises one;
- mass mail counts less than the same mail sent directly;
- one-way mail alone never grades above very_weak;
- the result does not depend on the order the interactions come in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.strength import Grade, Interaction, assess

START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN = 3 * 365 * 86400  # three years, in seconds


def at(seconds: int) -> datetime:
    return START + timedelta(seconds=seconds)


def interactions(
    directions: st.SearchStrategy[str] | None = None, mass: st.SearchStrategy[bool] | None = None
) -> st.SearchStrategy[Interaction]:
    return st.builds(
        lambda s, d, m: Interaction(at(s), d, m),  # type: ignore[arg-type]
        st.integers(0, SPAN),
        directions if directions is not None else st.sampled_from(["sent", "received"]),
        mass if mass is not None else st.booleans(),
    )


histories = st.lists(interactions(), max_size=40)
AS_OF = at(SPAN)


def rank(found: list[Interaction], as_of: datetime = AS_OF) -> int:
    return assess(found, as_of).grade.rank


@settings(max_examples=300)
@given(histories, st.integers(0, SPAN), st.integers(0, SPAN))
def test_more_recent_two_way_mail_never_lowers_a_grade(history: list[Interaction], a: int, b: int) -> None:
    latest = max((i.at for i in history), default=START)
    first, second = sorted((a, b))
    span = (AS_OF - latest).total_seconds()
    sent_at = latest + timedelta(seconds=span * first / SPAN)
    answered_at = latest + timedelta(seconds=span * second / SPAN)
    more = [*history, Interaction(sent_at, "sent"), Interaction(answered_at, "received")]

    assert assess(more, AS_OF).score >= assess(history, AS_OF).score
    assert rank(more) >= rank(history)


@settings(max_examples=300)
@given(histories, interactions())
def test_any_added_mail_never_lowers_a_score(history: list[Interaction], extra: Interaction) -> None:
    assert assess([*history, extra], AS_OF).score >= assess(history, AS_OF).score


@settings(max_examples=300)
@given(histories, st.integers(0, 5 * 365 * 86400), st.integers(0, 5 * 365 * 86400))
def test_time_alone_never_raises_a_grade(history: list[Interaction], later: int, later_still: int) -> None:
    first, second = sorted((later, later_still))
    earlier_view = assess(history, AS_OF + timedelta(seconds=first))
    later_view = assess(history, AS_OF + timedelta(seconds=second))

    assert later_view.score <= earlier_view.score
    assert later_view.grade.rank <= earlier_view.grade.rank


@settings(max_examples=300)
@given(histories, interactions(mass=st.just(False)))
def test_mass_mail_counts_less_than_direct_mail(history: list[Interaction], direct: Interaction) -> None:
    mass = Interaction(direct.at, direct.direction, True)
    with_direct = assess([*history, direct], AS_OF)
    with_mass = assess([*history, mass], AS_OF)

    assert with_mass.score <= with_direct.score
    assert with_mass.grade.rank <= with_direct.grade.rank
    assert with_mass.explanation["volume"] <= with_direct.explanation["volume"]


@settings(max_examples=300)
@given(histories, st.integers(SPAN - 90 * 86400, SPAN), st.sampled_from(["sent", "received"]))
def test_recent_mass_mail_adds_visibly_less_than_direct_mail(
    history: list[Interaction], when: int, d: str
) -> None:
    with_direct = assess([*history, Interaction(at(when), d)], AS_OF)  # type: ignore[arg-type]
    with_mass = assess([*history, Interaction(at(when), d, True)], AS_OF)  # type: ignore[arg-type]

    assert with_mass.explanation["volume"] < with_direct.explanation["volume"]


@settings(max_examples=200)
@given(st.lists(interactions(mass=st.just(False)), max_size=30))
def test_a_history_sent_as_mass_mail_scores_no_more_than_sent_directly(history: list[Interaction]) -> None:
    as_mass = [Interaction(i.at, i.direction, True) for i in history]

    assert assess(as_mass, AS_OF).score <= assess(history, AS_OF).score


@settings(max_examples=300)
@given(
    st.sampled_from(["sent", "received"]).flatmap(
        lambda d: st.lists(interactions(directions=st.just(d)), max_size=60)
    )
)
def test_one_way_mail_is_capped_at_very_weak(history: list[Interaction]) -> None:
    assert assess(history, AS_OF).grade.rank <= Grade.VERY_WEAK.rank


@settings(max_examples=200)
@given(
    histories,
    st.lists(interactions(directions=st.just("received"), mass=st.just(True)), max_size=30),
    st.sampled_from(["sent", "received"]),
)
def test_mass_mail_never_makes_one_way_mail_two_way(
    history: list[Interaction], mass: list[Interaction], direction: str
) -> None:
    one_way = [i for i in history if i.direction == direction and not i.mass]

    assert assess([*one_way, *mass], AS_OF).grade.rank <= Grade.VERY_WEAK.rank


@settings(max_examples=200)
@given(histories, st.randoms(use_true_random=False))
def test_the_order_of_the_mail_does_not_matter(history: list[Interaction], rnd: object) -> None:
    shuffled = list(history)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]

    assert assess(shuffled, AS_OF) == assess(history, AS_OF)
