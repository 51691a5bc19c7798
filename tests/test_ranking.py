"""Specs of the leaderboard's ranking, on small tables computed by hand."""

from __future__ import annotations

import math

import pytest
import scipy.stats

from services.reporter.ranking import (
    balanced_marginals,
    facet_winners,
    rank_rows,
    scenario_mean,
)
from shared import stats
from shared.suite_files import builtin_suite


def scores(*values: float, prefix: str = "s") -> dict[str, list[float]]:
    """One score per scenario s1, s2, ..."""
    return {f"{prefix}{i}": [v] for i, v in enumerate(values, start=1)}


A8 = scores(10, 12, 9, 14, 11, 13, 8, 15)
A8_MINUS_1 = scores(9, 11, 8, 13, 10, 12, 7, 14)


def test_a_row_one_point_below_on_all_8_scenarios_ranks_below_not_tied() -> None:
    # Given B = A - 1 on every one of 8 scenarios
    result = rank_rows({"A": A8, "B": A8_MINUS_1})
    # Then only the 2 of 2^8 sign assignments with all signs alike are as extreme
    a, b = result["A"], result["B"]
    assert (a.rank, a.tied_with_best, a.is_best) == (1, True, True)
    assert (b.rank, b.tied_with_best, b.beaten_by) == (2, False, ("A",))
    assert b.p_adjusted == pytest.approx(2 / 2**8)
    assert b.diff_to_best is not None and b.diff_to_best.mean == pytest.approx(-1.0)
    assert b.diff_to_best.high < 0 and b.n_shared_with_best == 8
    assert (a.rank_ci, b.rank_ci) == ((1, 1), (2, 2))
    assert (a.bootstrap_rank_ci, b.bootstrap_rank_ci) == ((1, 1), (2, 2))


def test_rank_intervals_run_from_the_rows_above_to_the_rows_below() -> None:
    # A - C is 20 on all 4 scenarios: only the 6 of 6^4 permutations handing those values
    # to one ordered pair are as extreme. B is too noisy to be placed against either.
    result = rank_rows(
        {"A": scores(20, 21, 22, 23), "B": scores(2, 19, 5, 18), "C": scores(0, 1, 2, 3)}
    )
    a, b, c = result["A"], result["B"], result["C"]
    assert c.beaten_by == ("A",) and c.p_adjusted == pytest.approx(6 / 6**4)
    assert (a.rank, a.rank_ci) == (1, (1, 2))
    assert (b.rank, b.rank_ci, b.tied_with_best) == (1, (1, 3), True)
    assert (c.rank, c.rank_ci) == (2, (2, 3))
    assert c.bootstrap_rank_ci == (3, 3)  # by means alone, as if the noise did not exist


def test_a_one_scenario_row_is_unranked_with_insufficient_data() -> None:
    result = rank_rows({"A": A8, "B": A8_MINUS_1, "lucky": scores(17)})
    lucky = result["lucky"]
    assert lucky.rank is None and lucky.rank_ci is None and lucky.tied_with_best is None
    assert lucky.bootstrap_rank_ci is None
    assert (lucky.ci_low, lucky.ci_high, lucky.mean) == (None, None, 17.0)
    assert lucky.insufficient_data == ("1 scored scenario; an interval and a rank need at least 3")
    assert result["A"].is_best and result["A"].rank == 1  # 17 on one scenario does not lead


def test_the_minimum_number_of_scenarios_is_a_parameter() -> None:
    result = rank_rows({"A": A8, "B": scores(1, 2, 3, 4)}, min_scenarios=5)
    assert result["B"].insufficient_data == (
        "4 scored scenarios; an interval and a rank need at least 5"
    )
    assert result["A"].rank == 1 and result["A"].rank_ci == (1, 1)
    with pytest.raises(ValueError, match="min_scenarios"):
        rank_rows({"A": A8}, min_scenarios=1)


def test_rows_that_are_not_separated_are_tied_at_rank_1() -> None:
    # diffs -2, +2, ...: every sign assignment is as far from 0 as the data
    result = rank_rows({"A": scores(10, 12, 10, 12, 10, 12), "B": scores(12, 10, 12, 10, 12, 10)})
    for row in result.values():
        assert (row.rank, row.tied_with_best, row.beaten_by) == (1, True, ())
    assert result["B"].p_adjusted == pytest.approx(1.0)
    diff = result["B"].diff_to_best
    assert diff is not None and diff.low < 0 < diff.high


def test_five_scenarios_cannot_separate_two_rows_and_the_power_note_says_so() -> None:
    result = rank_rows({"A": scores(10, 12, 9, 14, 11), "B": scores(9, 11, 8, 13, 10)})
    assert result["B"].tied_with_best and result["B"].p_adjusted == pytest.approx(2 / 2**5)
    assert stats.power_note(5, 2) == (
        "With 5 scenarios and 2 rows no difference can be significant at 5%; the smallest "
        "possible p is 0.0625."
    )
    assert stats.power_note(2, 2) is not None and "smallest possible p is 0.5" in str(
        stats.power_note(2, 2)
    )
    assert stats.power_note(6, 2) is None  # 2/64 < 0.05
    assert stats.power_note(3, 10) is None  # (10*9)^-2: ten rows carry more information
    assert stats.smallest_p(8, 2) == pytest.approx(2 / 2**8)


def test_a_row_missing_scenarios_is_compared_on_what_it_shares() -> None:
    # B lacks s7 and s8; on s1..s6 it is A - 1: 2 of 2^6 assignments are as extreme
    b = {s: v for s, v in A8_MINUS_1.items() if s not in ("s7", "s8")}
    result = rank_rows({"A": A8, "B": b})
    assert result["B"].n_shared_with_best == 6 and result["B"].n_scenarios == 6
    assert result["B"].p_adjusted == pytest.approx(2 / 2**6)
    assert result["B"].rank == 2


def test_monte_carlo_p_values_count_the_data_and_are_never_0() -> None:
    # 3 rows x 12 scenarios: 6^12 permutations, so they are sampled
    top = scores(*[20 + i % 3 for i in range(12)])
    middle = scores(*[10 + i % 2 for i in range(12)])
    bottom = scores(*[0 + i % 4 for i in range(12)])
    result = rank_rows({"top": top, "middle": middle, "bottom": bottom}, permutations=999)
    assert result["bottom"].p_adjusted == pytest.approx(1 / 1000)
    assert result["bottom"].rank == 3 and result["middle"].rank == 2
    assert stats.monte_carlo_p(0, 999) == pytest.approx(0.001)


@pytest.mark.parametrize(
    ("p", "shown"),
    [(None, ""), (0.31, "0.31"), (0.05, "0.05"), (2 / 256, "0.0078"), (3e-7, "<1e-4")],
)
def test_format_p_shows_tiny_p_values_as_a_bound(p: float | None, shown: str) -> None:
    assert stats.format_p(p) == shown


def test_the_t_interval_matches_scipy_on_a_hand_table() -> None:
    # deviations -1, 1, 0, 2, -2: no skewness, so Hall's correction leaves the t interval
    values = [9.0, 11.0, 10.0, 12.0, 8.0]
    expected = scipy.stats.t.interval(0.95, df=4, loc=10.0, scale=scipy.stats.sem(values))
    assert stats.t_interval(values) == pytest.approx(expected)
    assert stats.skew_corrected_t_interval(values) == pytest.approx(expected)
    row = rank_rows({"A": scores(*values)})["A"]
    assert (row.ci_low, row.ci_high) == pytest.approx(expected)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 23, 120, 999, 1001, 50_000])
@pytest.mark.parametrize("p", [0.975, 0.995, 0.6, 0.025])
def test_t_quantiles_match_scipy(df: int, p: float) -> None:
    assert stats.t_quantile(p, df) == pytest.approx(scipy.stats.t.ppf(p, df), rel=1e-9)


def test_hall_interval_reaches_further_towards_the_long_tail() -> None:
    # near the ceiling with one hard scenario: skewed left
    values = [17.0, 16.0, 17.0, 15.0, 9.0, 16.0]
    low, high = stats.skew_corrected_t_interval(values)
    mean = sum(values) / len(values)
    t_low, t_high = stats.t_interval(values)
    assert mean - low > high - mean
    assert low < t_low and high < t_high
    # by hand: the inverse of g(w) = w + s w^2/3 + s^2 w^3/27 + s/(6n) at +-q
    n, sd = len(values), scipy.stats.tstd(values)
    skew = float(scipy.stats.skew(values))
    q = scipy.stats.t.ppf(0.975, n - 1) / math.sqrt(n)

    def inverse(y: float) -> float:
        return 3 / skew * (math.cbrt(1 + skew * (y - skew / (6 * n))) - 1)

    assert (low, high) == pytest.approx((mean - sd * inverse(q), mean - sd * inverse(-q)))


def test_repeats_are_averaged_within_their_scenario_and_their_spread_reported() -> None:
    row = {"s1": [10.0, 12.0], "s2": [8.0, 8.0, 11.0], "s3": [7.0]}
    result = rank_rows({"A": row})["A"]
    # scenario means 11, 9, 7; within: squares 2 + 6 over 1 + 2 degrees of freedom
    assert (result.mean, result.n_scenarios, result.n_values) == (9.0, 3, 6)
    assert result.within_sd == pytest.approx(math.sqrt(8 / 3))
    assert result.between_sd == pytest.approx(2.0)
    assert scenario_mean(row) == 9.0
    assert rank_rows({"B": scores(1, 2, 3)})["B"].within_sd is None


def test_ranking_is_seeded_and_does_not_depend_on_the_order_of_rows() -> None:
    rows = {
        "x": scores(*[10 + i % 3 for i in range(12)]),
        "y": scores(*[10 + i % 4 for i in range(12)]),
        "z": scores(*[9 + i % 2 for i in range(12)]),
    }
    assert rank_rows(rows) == rank_rows(dict(reversed(rows.items())))


def test_marginals_are_means_of_row_means_over_the_common_scenarios() -> None:
    rows = {
        ("m1", "v1"): scores(10, 12, 14, 16),
        ("m1", "v2"): scores(8, 10, 12),  # no s4: s4 is not common
        ("m2", "v1"): {"s1": [6.0], "s2": [6.0, 8.0], "s3": [9.0], "s4": [20.0]},
        ("m2", "v2"): scores(4, 5, 6, 1),
        ("m3", "v1"): scores(30),  # too few scenarios: left out, not shrinking the set
    }
    by_model = balanced_marginals(rows, lambda row: row[0])
    by_prompt = balanced_marginals(rows, lambda row: row[1])
    # row means over s1..s3: m1v1 12, m1v2 10, m2v1 (6 + 7 + 9)/3, m2v2 5
    assert by_model.groups["m1"].mean == pytest.approx(11.0)
    assert by_model.groups["m2"].mean == pytest.approx((22 / 3 + 5) / 2)
    assert by_prompt.groups["v1"].mean == pytest.approx((12 + 22 / 3) / 2)
    assert by_prompt.groups["v2"].mean == pytest.approx(7.5)
    assert by_model.scenarios == ("s1", "s2", "s3")
    assert by_model.rows_per_group == {"m1": 2, "m2": 2}
    assert by_model.left_out == (("m3", "v1"),)
    m1 = by_model.groups["m1"]
    assert m1.n_scenarios == 3 and m1.ci_low is not None and m1.ci_high is not None
    assert m1.ci_low < 11 < m1.ci_high
    assert by_model.groups["m2"].n_shared_with_best == 3


def test_marginals_without_enough_common_scenarios_say_why() -> None:
    rows = {("m1", "v1"): scores(1, 2, 3, 4), ("m2", "v1"): scores(5, 6, 7, prefix="t")}
    marginal = balanced_marginals(rows, lambda row: row[0])
    assert marginal.scenarios == ()
    assert marginal.groups["m1"].insufficient_data == (
        "the rows share 0 scenarios; a balanced comparison needs at least 3"
    )


def test_facet_winners_weigh_scenarios_and_say_when_no_row_is_separated() -> None:
    morning_a = [10, 12, 9, 14, 11, 13]
    a = {f"p{i}@morning": [float(v)] for i, v in enumerate(morning_a)}
    b = {f"p{i}@morning": [float(v - 2)] for i, v in enumerate(morning_a)}
    a |= {f"p{i}@evening": [float(10 + i % 2 * 2)] for i in range(6)}
    b |= {f"p{i}@evening": [float(12 - i % 2 * 2)] for i in range(6)}
    b["p0@evening"] = [12.0, 20.0, 20.0, 20.0]  # many runs in one scenario: weighs as one
    found = facet_winners({"A": a, "B": b}, lambda s: s.split("@")[1])
    morning, evening = found["morning"], found["evening"]
    assert (morning.winner, morning.leader, morning.tied, morning.note) == ("A", "A", ("A",), None)
    assert morning.means == {"A": pytest.approx(11.5), "B": pytest.approx(9.5)}
    assert evening.winner is None and set(evening.tied) == {"A", "B"}
    assert evening.means["B"] == pytest.approx((18 + 10 + 12 + 10 + 12 + 10) / 6)
    assert evening.note is not None and evening.note.startswith("no clear winner: 2 rows")


def test_facets_with_too_few_scenarios_have_no_winner_and_the_reason() -> None:
    rows = {"A": {"p1@morning": [15.0], "p1@evening": [14.0]}, "B": {"p1@morning": [5.0]}}
    found = facet_winners(rows, lambda s: s.split("@")[0])
    assert found["p1"].winner is None and found["p1"].leader == "A"
    assert found["p1"].note == (
        "no clear winner: 2 scenarios here; comparing rows needs at least 3"
    )


def test_a_default_tip_v2_run_separates_rows_one_composite_point_apart() -> None:
    # Given the default run of tip-v2: every scenario of the suite, one repeat
    scenario_ids = [s.id for s in builtin_suite("tip-v2").scenarios]
    assert len(scenario_ids) == 24
    # and scenarios of very different difficulty (composite 6 to 15), on which B is one
    # point below A on average, the per-scenario differences scattering by 1.4 points
    # (some scenarios B wins, some it ties)
    levels = [6 + (7 * i) % 10 for i in range(24)]
    differences = [-1, 0, 1, 1, 2, 3] * 4
    a = {s: [float(level)] for s, level in zip(scenario_ids, levels, strict=True)}
    b = {
        s: [float(level - d)] for s, level, d in zip(scenario_ids, levels, differences, strict=True)
    }
    # When the rows are ranked with the defaults
    result = rank_rows({"A": a, "B": b})
    # Then B is separated from A: ranked second, its paired difference's interval below 0
    assert (result["A"].rank, result["B"].rank) == (1, 2)
    assert not result["B"].tied_with_best
    difference = result["B"].diff_to_best
    assert difference is not None and difference.mean == pytest.approx(-1.0)
    assert difference.high < 0
    assert result["B"].p_adjusted is not None and result["B"].p_adjusted < 0.05
    # while the same scatter over the first 8 scenarios alone cannot separate them
    first8 = scenario_ids[:8]
    few = rank_rows({"A": {s: a[s] for s in first8}, "B": {s: b[s] for s in first8}})
    assert few["B"].tied_with_best
