"""What bench/bench_api.py and bench/compare_import.py conclude from their figures."""

from __future__ import annotations

from typing import Any

from bench.bench_api import summarise, table
from bench.compare_import import compare, rate_verdict


def _wrk(rate: float, p50: float, p99: float) -> dict[str, Any]:
    return {
        "requests_per_s": rate,
        "p50_ms": p50,
        "p99_ms": p99,
        "requests": int(rate * 5),
        "non_2xx": 0,
        "timeouts": 0,
    }


def _run(bare: float, rows: dict[str, tuple[float, float]]) -> dict[str, Any]:
    return {
        "load_average": [1.0, 1.0],
        "bare": {8: _wrk(bare, 10, 20)},
        "endpoints": {
            name: {"path": f"/{name}", "one_request_s": 0.01, "load": {8: _wrk(rate, p50, 30)}}
            for name, (rate, p50) in rows.items()
        },
    }


def test_rows_are_judged_by_their_class_and_by_growth_from_the_smallest_to_the_largest_store() -> None:
    result: dict[str, Any] = {
        "backends": {
            "sqlite": {
                20_000: _run(100, {"people": (80, 10), "person": (40, 10), "people_by_strength": (20, 10)}),
                1_000_000: _run(
                    100, {"people": (60, 14), "person": (35, 20), "people_by_strength": (20, 12)}
                ),
            }
        }
    }

    summarise(result)

    rows = result["targets"]["sqlite"]["rows"]
    assert result["targets"]["sqlite"]["final"] is True
    assert rows["people"]["ratio_ok"] and rows["people"]["growth_ok"]  # 0.6x of the bare app, p50 1.4x
    assert rows["person"]["ratio_ok"] and not rows["person"]["growth_ok"]  # 0.35 >= 0.3, but p50 2x
    assert not rows["people_by_strength"]["ratio_ok"]  # 0.2 < 0.3
    assert result["backends"]["sqlite"][1_000_000]["endpoints"]["people"]["load"][8]["verdict"] == "ok"
    assert "1 of 3 rows meet" in table(result)


def test_a_run_short_of_a_million_messages_is_provisional() -> None:
    result: dict[str, Any] = {
        "backends": {
            "sqlite": {20_000: _run(100, {"people": (80, 10)}), 200_000: _run(100, {"people": (80, 10)})}
        }
    }
    summarise(result)
    assert result["targets"]["sqlite"]["final"] is False
    assert "provisional" in table(result)


def test_the_import_comparison_gives_ratios_and_says_when_the_noise_cannot_tell() -> None:
    def side(rates: list[float]) -> list[dict[str, Any]]:
        return [
            {
                "backends": {
                    "sqlite": {
                        "events": 10,
                        "import": {"msg_per_s": r, "cpu_seconds": 10.0},
                        "replay_cli": {"events_per_s": r, "cpu_seconds": 1.0},
                        "replay_in_process": {"events_per_s": r, "cpu_seconds": 1.0},
                    }
                }
            }
            for r in rates
        ]

    rows = compare({"baseline": side([100, 100, 100]), "candidate": side([80, 85, 82])})["sqlite"]["rates"]

    assert rows["import msg/s"]["ratio_median"] == 0.82
    assert rows["import msg/s"]["cpu_seconds_ratio"] == 1.0
    assert rate_verdict(0.82, 1.06, 1.0).startswith("10%: FAIL")  # quiet machine: a real 18% loss
    assert rate_verdict(0.82, 1.5, 1.0).startswith("10%: undecided (noise)")  # the machine varies by 50%
    assert rate_verdict(0.95, 1.5, 1.2) == "10%: ok, CPU FAIL; noise: ok"
