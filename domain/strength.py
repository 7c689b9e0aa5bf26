"""Connection strength between a member and a person: a pure, versioned, explained formula.

Given the interactions of one member with one person (time, direction, mass or not)
and an explicit evaluation time `as_of` (never the wall clock), `assess` answers a
score in [0, 100], one of six grades and the figures behind them. The formula and
why each constant has its value are in docs/connection-strength.md; changing any
constant or term means a new FORMULA_VERSION.

Properties the tests hold it to (tests/property/test_strength_property.py):
- adding an interaction never lowers the score (every term is monotone in the mail);
- time alone never raises it (every term decays or drops out of its window);
- mass mail counts less than the same mail sent directly;
- one-way mail alone never grades above very_weak.

Decayed sums are sums of 2**((t - EPOCH)/H) (two-level math.fsum: per UTC day, then over
the days; correctly rounded, independent of order) times 2**((EPOCH - as_of)/H), so the
projections keep the sums and re-score by the factor alone (projections/strength_views.py)
and get the very floats `assess` computes. Saturation is computed as 1 - h/(x+h), so
monotonicity also holds in floating point."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal

FORMULA_VERSION = "1"
FORMULA = f"mailtrail-strength/{FORMULA_VERSION}"

# Recency: an interaction's weight halves every HALF_LIFE_DAYS (a business quarter).
HALF_LIFE_DAYS = 90.0
# Mass mail (bulk headers, or MASS_RECIPIENTS or more To/Cc addresses) weighs this much
# of a direct message in the volume term, and nothing in the exchange and regularity terms.
MASS_WEIGHT = 0.1
MASS_RECIPIENTS = 10
# Regularity: distinct UTC days with direct mail within the last REGULARITY_WINDOW_DAYS.
REGULARITY_WINDOW_DAYS = 90.0
# Each term saturates: x / (x + HALF) is 0 at 0, 0.5 at HALF, and tends to 1.
EXCHANGE_HALF = 4.0  # decayed two-way messages: min(decayed sent, decayed received)
VOLUME_HALF = 10.0  # decayed messages, mass weighted down
REGULARITY_HALF = 8.0  # distinct days
# Points out of 100 for each term at saturation (they sum to 100).
EXCHANGE_POINTS = 50.0
VOLUME_POINTS = 20.0
REGULARITY_POINTS = 30.0
# Without direct mail both ways the score is capped below the `weak` threshold.
ONE_WAY_SCORE_CAP = 10.0
SCORE_DECIMALS = 1

SECONDS_PER_DAY = 86400.0
# Decayed sums are kept against this fixed time (see epoch_weight); not a formula constant:
# it changes no score beyond floating-point rounding.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MAX_EXPONENT = 1000.0  # half-lives from EPOCH beyond which a date is taken as that far (year ~2246)

Direction = Literal["sent", "received"]


class Grade(str, Enum):
    """Connection strength grades, weakest first."""

    NONE = "none"
    VERY_WEAK = "very_weak"
    WEAK = "weak"
    MODERATE = "moderate"
    STRONG = "strong"
    VERY_STRONG = "very_strong"

    @property
    def rank(self) -> int:
        return _GRADES.index(self)


_GRADES = list(Grade)

# Lowest (rounded) score of each grade, strongest first; below the last one: none.
GRADE_THRESHOLDS: tuple[tuple[Grade, float], ...] = (
    (Grade.VERY_STRONG, 80.0),
    (Grade.STRONG, 55.0),
    (Grade.MODERATE, 35.0),
    (Grade.WEAK, 15.0),
    (Grade.VERY_WEAK, 0.1),
)


def constants() -> dict[str, Any]:
    """Every constant of this formula version, as the API and the docs show them."""
    return {
        "formula": FORMULA,
        "half_life_days": HALF_LIFE_DAYS,
        "mass_weight": MASS_WEIGHT,
        "mass_recipients": MASS_RECIPIENTS,
        "regularity_window_days": REGULARITY_WINDOW_DAYS,
        "exchange_half": EXCHANGE_HALF,
        "volume_half": VOLUME_HALF,
        "regularity_half": REGULARITY_HALF,
        "points": {"exchange": EXCHANGE_POINTS, "volume": VOLUME_POINTS, "regularity": REGULARITY_POINTS},
        "one_way_score_cap": ONE_WAY_SCORE_CAP,
        "grade_thresholds": {grade.value: low for grade, low in GRADE_THRESHOLDS},
    }


@dataclass(frozen=True, order=True)
class Interaction:
    """One message between a member and a person, from the member's side."""

    at: datetime  # timezone-aware
    direction: Direction
    mass: bool = False


@dataclass(frozen=True)
class Strength:
    score: float
    grade: Grade
    explanation: dict[str, Any]


def is_mass(bulk: bool, recipients: int) -> bool:
    """Mass mail: list or bulk headers, or addressed to MASS_RECIPIENTS or more To/Cc."""
    return bulk or recipients >= MASS_RECIPIENTS


def grade_of(score: float) -> Grade:
    for grade, low in GRADE_THRESHOLDS:
        if score >= low:
            return grade
    return Grade.NONE


def utc(moment: datetime) -> datetime:
    """Naive times are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def decay(age_days: float) -> float:
    """Weight of an interaction `age_days` old: 1 now, 1/2 after HALF_LIFE_DAYS."""
    return float(2.0 ** (-age_days / HALF_LIFE_DAYS))


def saturate(x: float, half: float) -> float:
    """x / (x + half), written so that it is monotone in floating point too."""
    return 1.0 - half / (x + half)


@dataclass(frozen=True)
class Totals:
    """What a connection's score needs besides `as_of` and its distinct days: sums of epoch
    weights (epoch_weight) of direct sent, direct received and mass mail, and the counts."""

    sent: float = 0.0
    received: float = 0.0
    mass: float = 0.0
    n_sent: int = 0
    n_received: int = 0
    n_mass: int = 0
    n_direct_sent: int = 0
    n_direct_received: int = 0


def _exponent(moment: datetime) -> float:
    """(moment - EPOCH) in half-lives, bounded so that 2**x stays finite for absurd dates."""
    x = (moment - EPOCH).total_seconds() / SECONDS_PER_DAY / HALF_LIFE_DAYS
    return max(-MAX_EXPONENT, min(MAX_EXPONENT, x))


def epoch_weight(moment: datetime) -> float:
    """An interaction's weight against the fixed EPOCH: its weight as of any time `as_of` is
    this times epoch_scale(as_of), so a kept sum of these never changes when as_of moves."""
    return float(2.0 ** _exponent(moment))


def epoch_scale(as_of: datetime) -> float:
    return float(2.0 ** -_exponent(as_of))


def figures(interactions: Iterable[Interaction], as_of: datetime) -> tuple[Totals, dict[date, datetime]]:
    """The totals of the interactions up to `as_of`, and per UTC day with direct mail its latest
    direct moment. Each sum is a two-level math.fsum: per UTC day, then over the days (so a
    projection that keeps one connection's days gets exactly the same floats)."""
    as_of = utc(as_of)
    days: dict[date, list[tuple[datetime, Interaction]]] = {}
    for i in interactions:
        moment = utc(i.at)
        if moment <= as_of:
            days.setdefault(moment.date(), []).append((moment, i))
    sums: dict[str, list[float]] = {"sent": [], "received": [], "mass": []}
    counts = {"n_sent": 0, "n_received": 0, "n_mass": 0, "n_direct_sent": 0, "n_direct_received": 0}
    latest: dict[date, datetime] = {}
    for day in sorted(days):  # fsum is independent of order; sorted only for a stable reading
        parts: dict[str, list[float]] = {"sent": [], "received": [], "mass": []}
        for moment, interaction in days[day]:
            weight = epoch_weight(moment)
            counts["n_" + interaction.direction] += 1
            if interaction.mass:
                counts["n_mass"] += 1
                parts["mass"].append(weight)
                continue
            counts["n_direct_" + interaction.direction] += 1
            parts[interaction.direction].append(weight)
            if day not in latest or moment > latest[day]:
                latest[day] = moment
        for name, values in parts.items():
            if values:
                sums[name].append(math.fsum(values))
    totals = Totals(math.fsum(sums["sent"]), math.fsum(sums["received"]), math.fsum(sums["mass"]), **counts)
    return totals, latest


def in_window(moment: datetime, as_of: datetime) -> bool:
    """Direct mail at `moment` counts for regularity as of `as_of`."""
    age = (utc(as_of) - utc(moment)).total_seconds() / SECONDS_PER_DAY
    return 0.0 <= age <= REGULARITY_WINDOW_DAYS


def assess(interactions: Iterable[Interaction], as_of: datetime) -> Strength:
    """Score, grade and explanation of a connection as of `as_of` (later mail is ignored)."""
    totals, latest = figures(interactions, as_of)
    return judge(totals, sum(1 for moment in latest.values() if in_window(moment, as_of)), as_of)


def judge(totals: Totals, distinct_days: int, as_of: datetime) -> Strength:
    """The score of a connection from its totals and its distinct direct days in the window."""
    as_of = utc(as_of)
    scale = epoch_scale(as_of)
    decayed_sent, decayed_received = totals.sent * scale, totals.received * scale
    exchange = min(decayed_sent, decayed_received)
    total_volume = math.fsum([decayed_sent, decayed_received, MASS_WEIGHT * (totals.mass * scale)])
    points = {
        "exchange": EXCHANGE_POINTS * saturate(exchange, EXCHANGE_HALF),
        "volume": VOLUME_POINTS * saturate(total_volume, VOLUME_HALF),
        "regularity": REGULARITY_POINTS * saturate(float(distinct_days), REGULARITY_HALF),
    }
    raw = math.fsum(points.values())
    two_way = totals.n_direct_sent > 0 and totals.n_direct_received > 0
    capped = not two_way and raw > ONE_WAY_SCORE_CAP
    score = round(min(raw, ONE_WAY_SCORE_CAP) if capped else raw, SCORE_DECIMALS)
    grade = grade_of(score)
    explanation = {
        "formula": FORMULA,
        "as_of": as_of.isoformat(),
        "sent": totals.n_sent,
        "received": totals.n_received,
        "mass": totals.n_mass,
        "direct_sent": totals.n_direct_sent,
        "direct_received": totals.n_direct_received,
        "two_way": two_way,
        "decayed_sent": round(decayed_sent, 3),
        "decayed_received": round(decayed_received, 3),
        "exchange": round(exchange, 3),
        "volume": round(total_volume, 3),
        "distinct_days": distinct_days,
        "points": {name: round(value, 2) for name, value in points.items()},
        "raw_score": round(raw, 2),
        "one_way_capped": capped,
        "score": score,
        "grade": grade.value,
    }
    return Strength(score, grade, explanation)
