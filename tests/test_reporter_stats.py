"""Specs of the leaderboard statistics, on small tables computed by hand."""

from __future__ import annotations

from xml.etree import ElementTree

import krippendorff
import numpy as np
import pytest

from services.reporter.agreement import (
    _alpha_of_coincidences,
    _kappa_of_tables,
    agreement_rates,
    alpha_interval,
    kappa_interval,
    krippendorff_alpha_ordinal,
    pair_agreement,
    weighted_kappa,
)
from services.reporter.leaderboard import Cell, aggregate
from shared import stats
from shared.charts import leaderboard_svg
from shared.suite_files import builtin_suite


def cell(model: str, prompt: str, scenario: str, composite: float | None, **metrics: float) -> Cell:
    persona, slot = scenario.split("@")
    values = dict(metrics) | ({"composite": composite} if composite is not None else {})
    facets = {"persona": persona, "time_slot": slot}
    return Cell(f"{model}{prompt}{scenario}", (model, prompt), scenario, facets, "", values)


SCENARIOS = ("student@morning", "nurse@evening", "retiree@morning")


def test_aggregate_ranks_rows_with_breakdowns_and_keeps_unscored_rows_last() -> None:
    # v1 beats v2 by 4 on each of 3 scenarios; m2 is unscored; m3 has one scenario only
    cells = [
        *(
            cell("m1", "v1", s, c, auto_format_ok=1, latency_s=1.0)
            for s, c in zip(SCENARIOS, (15, 13, 14), strict=True)
        ),
        *(
            cell("m1", "v2", s, c, auto_format_ok=0, latency_s=3.0)
            for s, c in zip(SCENARIOS, (11, 9, 10), strict=True)
        ),
        cell("m2", "v1", "student@morning", None, auto_overlong=1, latency_s=5.0),
        cell("m3", "v1", "student@morning", 17, auto_format_ok=1, latency_s=1.0),
    ]
    board = aggregate("t", cells, version=3, suite=builtin_suite("tip-v1"))
    first, second, thin, waiting = board.rows
    assert (first.model, first.prompt_version, first.mean_composite, first.rank) == (
        "m1",
        "v1",
        14.0,
        1,
    )
    assert first.tied_with_best and first.ci_low is not None and first.ci_low < 14.0
    # With 3 scenarios and 2 ranked rows the smallest possible p is 2/2^3 = 0.25: tied
    assert (second.mean_composite, second.n_scenarios, second.rank) == (10.0, 3, 1)
    assert (second.diff_to_best, second.n_shared_with_best, second.p_adjusted) == (-4.0, 3, 0.25)
    assert board.power_note is not None and "smallest possible p is 0.25" in board.power_note
    # A row scored on one scenario gets no interval and no rank, and says why
    assert (thin.model, thin.mean_composite, thin.rank, thin.ci_low) == ("m3", 17.0, None, None)
    assert thin.insufficient_data == "1 scored scenario; an interval and a rank need at least 3"
    assert waiting.awaiting_judge and waiting.rank is None and waiting.overlong_rate == 1.0
    assert (first.format_ok_rate, second.format_ok_rate, first.mean_latency_s) == (1.0, 0.0, 1.0)
    assert (board.version, board.n_runs, len(board.run_ids)) == (3, 8, 8)
    # Marginals: means of row means over the scenarios all taking rows share
    assert [(m.name, m.mean_composite) for m in board.by_prompt] == [("v1", 14.0), ("v2", 10.0)]
    assert [(m.name, m.mean_composite, m.rows) for m in board.by_model] == [("m1", 12.0, 2)]
    # Facet winners: one scenario per persona cannot separate rows
    nurse = next(w for w in board.by_facet["persona"] if w.group == "nurse")
    assert (nurse.model, nurse.leader, nurse.mean_composite) == (None, "m1 | v1", 13.0)
    assert nurse.note is not None
    assert {w.group for w in board.by_facet["time_slot"]} == {"morning", "evening"}


def test_b_equal_to_a_minus_one_on_8_scenarios_is_ranked_below_a() -> None:
    scenarios = [f"s{i}@x" for i in range(8)]
    a = [12, 14, 9, 15, 11, 13, 10, 16]
    cells = [cell("a", "v1", s, v) for s, v in zip(scenarios, a, strict=True)]
    cells += [cell("b", "v1", s, v - 1) for s, v in zip(scenarios, a, strict=True)]
    board = aggregate("t", cells, version=1, suite=builtin_suite("tip-v1"))
    best, below = board.rows
    assert (best.model, best.rank, below.model, below.rank) == ("a", 1, "b", 2)
    assert below.p_adjusted == pytest.approx(2 / 2**8) and below.p_shown == "0.0078"
    assert below.tied_with_best is False and below.diff_high is not None and below.diff_high < 0
    assert board.power_note is None


# --- the primitives behind ranking.py, and agreement with its uncertainty -------------


def test_bca_interval_of_a_mean_brackets_it_and_is_none_without_replicates() -> None:
    rng = np.random.default_rng(1)
    sample = rng.normal(10.0, 2.0, 60)
    draws = rng.multinomial(60, np.full(60, 1 / 60), size=2000) @ sample / 60
    jackknife = (sample.sum() - sample) / 59
    interval = stats.bca_interval(float(sample.mean()), draws, jackknife)
    assert interval is not None
    t_low, t_high = stats.t_interval(sample)
    assert interval[0] == pytest.approx(t_low, abs=0.15)
    assert interval[1] == pytest.approx(t_high, abs=0.15)
    assert stats.bca_interval(1.0, np.array([np.nan]), np.array([1.0])) is None


def test_the_permutation_test_is_exact_for_small_designs_and_sampled_beyond() -> None:
    small = stats.max_t_permutation(np.array([[1.0, 2, 3, 5], [0, 2, 1, 3]]), min_shared=3)
    assert small.exact and small.null_max.size == 2**4
    large = stats.max_t_permutation(
        np.arange(36.0).reshape(3, 12) % 7, min_shared=3, permutations=99
    )
    assert not large.exact and large.null_max.size == 99
    assert np.all(large.p_values(np.array([1e9])) >= 1 / 100)


def test_pairs_sharing_too_few_scenarios_are_not_compared() -> None:
    values = np.array([[1.0, 2, 3, np.nan, np.nan], [0, 1, np.nan, 5, 6]])
    test = stats.max_t_permutation(values, min_shared=3)
    assert test.n_shared[0, 1] == 2 and np.isneginf(test.t[0, 1])
    assert np.isnan(test.mean_diff[0, 1])


@pytest.mark.parametrize(
    ("a", "b", "exact", "adjacent"),
    [
        ([1, 2, 3, 4], [1, 3, 5, 4], 0.5, 0.75),  # gaps 0, 1, 2, 0
        ([5, 5], [1, 5], 0.5, 0.5),
        ([], [], None, None),
    ],
)
def test_exact_and_adjacent_agreement_count_category_steps(
    a: list[int], b: list[int], exact: float | None, adjacent: float | None
) -> None:
    assert agreement_rates(a, b, range(1, 6)) == (exact, adjacent)


def test_kappa_interval_brackets_the_kappa_and_shows_n() -> None:
    rng = np.random.default_rng(7)
    a = [int(v) for v in rng.integers(1, 6, 80)]
    b = [min(5, max(1, v + int(rng.integers(-1, 2)))) for v in a]
    found = pair_agreement(a, b, range(1, 6))
    assert found.kappa.value == pytest.approx(weighted_kappa(a, b, range(1, 6)))
    assert found.kappa.value is not None
    assert found.kappa.ci_low is not None and found.kappa.ci_high is not None
    assert found.kappa.ci_low < found.kappa.value < found.kappa.ci_high <= 1.0
    assert (found.n, found.kappa.n, found.adjacent) == (80, 80, 1.0)
    assert pair_agreement(a, b, range(1, 6)) == found  # seeded
    undefined = kappa_interval([3, 3], [3, 3], range(1, 6))
    assert (undefined.value, undefined.ci_low, undefined.n) == (None, None, 2)


def test_alpha_interval_matches_the_reference_package_and_brackets_it() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(1, 6, 40)
    table = np.clip(truth + rng.integers(-1, 2, (3, 40)), 1, 5).astype(float)
    table[2, :5] = np.nan  # the third judge skipped five runs
    units = [[int(v) for v in table[:, u] if not np.isnan(v)] for u in range(40)]
    reference = krippendorff.alpha(reliability_data=table, level_of_measurement="ordinal")
    found = alpha_interval(units, range(1, 6))
    assert found.value == pytest.approx(reference)
    assert found.value is not None
    assert found.ci_low is not None and found.ci_high is not None
    assert found.ci_low < found.value < found.ci_high and found.n == 40


def test_vectorised_agreement_matches_the_plain_functions() -> None:
    rng = np.random.default_rng(11)
    for _ in range(5):
        a = [int(v) for v in rng.integers(1, 6, 30)]
        b = [int(v) for v in rng.integers(1, 6, 30)]
        counts = np.zeros((5, 5))
        np.add.at(counts, (np.array(a) - 1, np.array(b) - 1), 1)
        assert _kappa_of_tables(counts) == pytest.approx(weighted_kappa(a, b, range(1, 6)))
        units = [[x, y] for x, y in zip(a, b, strict=True)]
        pairs = np.zeros((5, 5))
        for x, y in units:
            pairs[x - 1, y - 1] += 1
            pairs[y - 1, x - 1] += 1
        assert _alpha_of_coincidences(pairs) == pytest.approx(krippendorff_alpha_ordinal(units))


def test_the_chart_is_self_contained_svg_on_the_rubrics_range() -> None:
    cells = [
        cell(m, "v1", s, c)
        for m, base in (("a", 14), ("b", 9))
        for s, c in zip(SCENARIOS, (base, base + 1, base - 1), strict=True)
    ]
    board = aggregate("t", cells, version=1, suite=builtin_suite("tip-v1"))
    svg = leaderboard_svg(board)
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "href" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
    ticks = [
        t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "tick"
    ]
    assert (ticks[0], ticks[-1]) == ("2", "16")  # ticks every 2 over tip-v1 range, 2..17
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == 2


def test_intervals_stay_within_the_rubrics_range() -> None:
    # Three scattered scenarios give a wide t interval: it is cut at the rubric's 2..17
    cells = [cell("a", "v1", s, c) for s, c in zip(SCENARIOS, (3, 16, 4), strict=True)]
    cells += [cell("b", "v1", s, c) for s, c in zip(SCENARIOS, (2, 3, 17), strict=True)]
    board = aggregate("t", cells, version=1, suite=builtin_suite("tip-v1"))
    for row in board.rows:
        assert row.ci_low is not None and row.ci_high is not None
        assert 2.0 <= row.ci_low <= row.ci_high <= 17.0
        assert row.diff_low is None or row.diff_low >= -15.0
    assert all(m.ci_low is None or m.ci_low >= 2.0 for m in board.by_model)
