"""Specs of the leaderboard statistics, on small tables computed by hand."""

from __future__ import annotations

import pytest

from services.reporter import stats
from services.reporter.leaderboard import Cell, aggregate

CLEAR = {"A": {"s1": 15.0, "s2": 16.0, "s3": 14.0}, "B": {"s1": 8.0, "s2": 9.0, "s3": 7.0}}
TIE = {"A": {"s1": 10.0, "s2": 12.0}, "B": {"s1": 12.0, "s2": 10.0}}


def test_a_constant_row_has_a_point_interval_and_others_bracket_their_mean() -> None:
    intervals = stats.paired_bootstrap_ci(CLEAR | {"C": {"s1": 9.0, "s2": 9.0, "s3": 9.0}})
    assert intervals["C"] == (9.0, 9.0)
    low, high = intervals["A"]
    assert 14.0 <= low < 15.0 < high <= 16.0
    assert stats.paired_bootstrap_ci(CLEAR) == stats.paired_bootstrap_ci(CLEAR)  # seeded


def test_a_clear_winner_ranks_alone_and_a_tie_shares_the_rank() -> None:
    assert stats.tie_ranks(stats.paired_bootstrap_ci(CLEAR)) == {"A": 1, "B": 2}
    assert stats.tie_ranks(stats.paired_bootstrap_ci(TIE)) == {"A": 1, "B": 1}


def test_tie_ranks_count_the_rows_wholly_above() -> None:
    intervals = {"A": (14.0, 16.0), "B": (7.0, 9.0), "C": (8.0, 15.0), "D": (1.0, 2.0)}
    assert stats.tie_ranks(intervals) == {"A": 1, "B": 2, "C": 1, "D": 4}


@pytest.mark.parametrize(
    ("a", "b", "p", "n"),
    [
        (CLEAR["A"], CLEAR["B"], 2 / 8, 3),  # diffs 7,7,7: only +++ and --- reach |21|
        (TIE["A"], TIE["B"], 1.0, 2),  # diffs -2,+2: every assignment is as extreme as 0
        ({"s1": 4, "s2": 3, "s3": 2, "s4": 1}, {"s1": 0, "s2": 0, "s3": 0, "s4": 0}, 2 / 16, 4),
        ({"s1": 15.0}, {"s1": 9.0}, 1.0, 1),  # one shared scenario proves nothing
        ({"s1": 15.0}, {"s2": 9.0}, None, 0),
    ],
)
def test_sign_flip_p_values_match_hand_counts(
    a: dict[str, float], b: dict[str, float], p: float | None, n: int
) -> None:
    assert stats.sign_flip_p_value(a, b) == (pytest.approx(p) if p is not None else None, n)


def test_holm_adjusts_step_down_and_stays_monotone() -> None:
    adjusted = stats.holm({"a": 0.01, "b": 0.04, "c": 0.03})
    # sorted a .01, c .03, b .04 -> 3*.01=.03, 2*.03=.06, max(.06, 1*.04)=.06
    assert adjusted == {
        "a": pytest.approx(0.03),
        "c": pytest.approx(0.06),
        "b": pytest.approx(0.06),
    }
    assert stats.holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}


def cell(model: str, prompt: str, scenario: str, composite: float | None, **metrics: float) -> Cell:
    persona, slot = scenario.split("@")
    values = dict(metrics) | ({"composite": composite} if composite is not None else {})
    return Cell(f"{model}{prompt}{scenario}", (model, prompt), scenario, persona, slot, values)


def test_aggregate_ranks_rows_with_breakdowns_and_keeps_unscored_rows_last() -> None:
    cells = [
        cell("m1", "v1", "student@morning", 15, auto_format_ok=1, latency_s=1.0),
        cell("m1", "v1", "nurse@evening", 13, auto_format_ok=1, latency_s=3.0),
        cell("m1", "v2", "student@morning", 9, auto_format_ok=0, latency_s=2.0),
        cell("m1", "v2", "nurse@evening", 11, auto_format_ok=1, latency_s=2.0),
        cell("m2", "v1", "student@morning", None, auto_overlong=1, latency_s=5.0),
    ]
    board = aggregate("t", cells, version=3)
    first, second, waiting = board.rows
    assert (first.model, first.prompt_version, first.mean_composite, first.rank) == (
        "m1",
        "v1",
        14.0,
        1,
    )
    assert (second.prompt_version, second.mean_composite, second.n_scenarios) == ("v2", 10.0, 2)
    assert second.p_vs_leader == 0.5 and first.p_vs_leader is None  # diffs 6, 2: ++ and -- of 4
    assert second.rank == 2  # CIs [13, 15] and [9, 11] do not overlap
    assert (first.format_ok_rate, second.format_ok_rate, first.mean_latency_s) == (1.0, 0.5, 2.0)
    assert waiting.awaiting_judge and waiting.rank is None and waiting.overlong_rate == 1.0
    assert (board.version, board.n_runs, len(board.run_ids)) == (3, 5, 5)
    assert [(m.name, m.mean_composite) for m in board.by_prompt] == [("v1", 14.0), ("v2", 10.0)]
    assert [(m.name, m.mean_composite) for m in board.by_model] == [("m1", 12.0)]
    assert {w.group: (w.prompt_version, w.mean_composite) for w in board.by_persona} == {
        "nurse": ("v1", 13.0),
        "student": ("v1", 15.0),
    }
    assert {w.group for w in board.by_time_slot} == {"morning", "evening"}
