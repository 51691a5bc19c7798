"""Specs of comparing two experiments' rows and of the CI gate, on boards built by the
reporter's own aggregation from cells with known composites."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from services.reporter.leaderboard import Cell, aggregate
from shared.compare import compare_boards, parse_row
from shared.contracts import Leaderboard
from shared.errors import InvalidRequest, RowNotFound, RubricMismatch
from shared.gate import Gate, evaluate
from shared.suite_files import builtin_suite
from tipbench.cli.client import EXIT_USAGE, CliError
from tipbench.cli.request import read_run_file, run_file_sample

SUITE = builtin_suite("tip-v1")
SCENARIOS = [f"{p}@{t}" for p in ("student", "nurse", "retiree") for t in ("morning", "evening")]


def board(
    name: str, rows: dict[tuple[str, str], dict[str, list[float]]], **metrics: float
) -> Leaderboard:
    """The reporter's leaderboard of cells with these composites (one cell per value)."""
    cells = [
        Cell(
            f"{name}-{row}-{scenario}-{i}",
            row,
            scenario,
            dict(zip(("persona", "time_slot"), scenario.split("@"), strict=True)),
            "",
            {"composite": value, **metrics},
        )
        for row, per in rows.items()
        for scenario, values in per.items()
        for i, value in enumerate(values)
    ]
    return aggregate(name, cells, version=1, suite=SUITE)


def sign_flip_p(differences: list[float]) -> float:
    """Two-sided p of the paired t over every sign flip, by brute force."""
    d = np.array(differences)

    def t(x: np.ndarray) -> float:
        sd = float(np.std(x, ddof=1))
        return abs(float(np.mean(x))) / (sd / math.sqrt(x.size)) if sd else math.inf

    observed = t(d)
    flips = [t(d * np.array(s)) for s in itertools.product((1, -1), repeat=d.size)]
    return sum(f >= observed - 1e-9 for f in flips) / len(flips)


def test_compare_pairs_rows_on_shared_scenarios_with_repeats_averaged_first() -> None:
    # Given v4 in experiment a and v3 in experiment b; a has one extra scenario, and repeats
    # of one scenario that average to 13
    base = [12.0, 9.0, 14.0, 10.0, 11.0]
    ahead = [2.0, 1.0, 3.0, 1.0, 2.0]
    a_scores = {s: [b + d] for s, b, d in zip(SCENARIOS, base, ahead, strict=False)}
    a_scores[SCENARIOS[0]] = [12.0, 16.0, 14.0]  # mean 14 = 12 + 2
    a_scores[SCENARIOS[5]] = [17.0]  # b never ran it
    b_scores = {s: [value] for s, value in zip(SCENARIOS, base, strict=False)}
    a = board("study-v4", {("qwen", "v4"): a_scores})
    b = board("study-v3", {("qwen", "v3"): b_scores})

    # When the chosen rows are compared
    found = compare_boards(a, b, parse_row("qwen|v4", "row_a"), parse_row("qwen|v3", "row_b"))

    # Then the difference is paired on the 5 shared scenarios, with the sign-flip p
    (row,) = found.rows
    assert (row.row_a, row.row_b, row.n_shared) == ("qwen|v4", "qwen|v3", 5)
    assert row.mean_diff == pytest.approx(np.mean(ahead))
    assert row.mean_a == pytest.approx(np.mean(base) + np.mean(ahead))
    assert row.ci_low is not None and row.ci_high is not None and row.mean_diff is not None
    assert 0 < row.ci_low < row.mean_diff < row.ci_high
    assert row.p == pytest.approx(sign_flip_p(ahead))  # every difference positive: 2/2^5
    assert row.significant is False  # 0.0625: five pairs cannot reach 5%
    assert row.note is not None and "the smallest possible p is 0.0625" in row.note
    assert "no width" not in row.note
    assert found.only_in_a == [] and found.note is None
    # Differences all alike give an interval of no width: the note says what it is not
    same = board(
        "s", {("qwen", "v3"): {s: [v + 1.0] for s, v in zip(SCENARIOS, base, strict=False)}}
    )
    (flat,) = compare_boards(same, b, ("qwen", "v3"), ("qwen", "v3")).rows
    assert flat.ci_low == flat.ci_high == 1.0
    assert flat.note is not None and "differs by exactly +1: the interval has no width" in flat.note


def test_compare_matches_rows_by_model_and_prompt_and_lists_the_rest() -> None:
    same = {s: [10.0] for s in SCENARIOS}
    a = board("a", {("m", "v1"): same, ("m", "v2"): same})
    b = board("b", {("m", "v1"): {s: [10.0] for s in SCENARIOS[:2]}, ("n", "v1"): same})
    found = compare_boards(a, b)
    assert [(r.row_a, r.row_b) for r in found.rows] == [("m|v1", "m|v1")]
    assert found.only_in_a == ["m|v2"] and found.only_in_b == ["n|v1"]
    # two shared scenarios are fewer than the 3 a comparison needs: no interval, no p
    (row,) = found.rows
    assert row.n_shared == 2 and row.ci_low is None and row.p is None
    assert row.note == "2 shared scenarios; a comparison needs 3"


def test_compare_refuses_what_it_cannot_compare() -> None:
    a = board("a", {("m", "v1"): {s: [10.0] for s in SCENARIOS}})
    b = board("b", {("n", "v2"): {s: [10.0] for s in SCENARIOS}})
    with pytest.raises(InvalidRequest, match="no \\(model, prompt\\) row is in both"):
        compare_boards(a, b)
    with pytest.raises(RowNotFound, match="row_b: no row 'm\\|v1' in experiment 'b'; its rows"):
        compare_boards(a, b, ("m", "v1"))
    with pytest.raises(InvalidRequest, match="row_a: 'm-v1' is not a row; write it as"):
        parse_row("m-v1", "row_a")
    other = b.model_copy(update={"rubric_id": "another-rubric"})
    with pytest.raises(RubricMismatch, match="cannot be compared"):
        compare_boards(a, other, ("m", "v1"), ("n", "v2"))
    # a suite may reuse a rubric's id with other items: the same id is not the same rubric
    same_id = b.model_copy(
        update={"score_names": ["relevance"], "composite_min": 1.0, "composite_max": 5.0}
    )
    with pytest.raises(RubricMismatch, match=r"composite 1..5\): their composites cannot"):
        compare_boards(a, same_id, ("m", "v1"), ("n", "v2"))


def test_gate_checks_each_condition_and_says_value_threshold_and_verdict() -> None:
    tidy = {s: [14.0] for s in SCENARIOS}
    rambling = {s: [5.0] for s in SCENARIOS}
    a = board("g", {("tidy", "v1"): tidy, ("ramble", "v1"): rambling}, auto_format_ok=1.0)
    beats = {"tidy|v1": compare_boards(a, a, ("tidy", "v1"), ("ramble", "v1")).rows[0]}
    gate = Gate.model_validate(
        {
            "row": "tidy|v1",
            "min_composite": {"value": 12, "on": "ci_low"},
            "min_format_ok_rate": 0.9,
            "must_beat": {"row": "ramble|v1", "by": 0.5},
            "max_failed_cells": 0,
        }
    )
    lines = [check.line() for check in evaluate(gate, a, 0, beats)]
    assert lines[0] == "PASS  min_composite (ci_low) tidy|v1: 14.00 >= 12.00"
    assert lines[1] == "PASS  min_format_ok_rate tidy|v1: 1.00 >= 0.90"
    assert lines[2].startswith("PASS  must_beat tidy|v1 - ramble|v1: +9.00 >= 0.50")
    assert "95% CI 9.00..9.00, p 0.03, 6 shared scenarios" in lines[2]
    assert lines[3] == "PASS  max_failed_cells job: 0 <= 0"

    strict = gate.model_copy(update={"must_beat": None, "max_failed_cells": 0, "row": None})
    checks = evaluate(strict, a, 2, {})
    failed = [c.line() for c in checks if not c.passed]
    assert failed == [
        "FAIL  min_composite (ci_low) ramble|v1: 5.00 >= 12.00",
        "FAIL  max_failed_cells job: 2 <= 0",
    ]


RUN_FILE = """\
models: [tidy:1b]
prompts: [v1]
judge: llm:judge:8b
gate:
  row: tidy:1b|v2
  min_composite: {value: -1, on: median}
  must_beat: {row: "tidy:1b", by: 0.5}
  max_overlong_rate: 1.5
  bogus: 1
"""


def test_a_run_file_gate_is_checked_strictly_with_every_problem_on_its_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(RUN_FILE)
    with pytest.raises(CliError) as refused:
        read_run_file(path)
    assert refused.value.code == EXIT_USAGE
    lines = refused.value.lines
    assert (
        f"{path}:6: gate.min_composite.value: Input should be greater than or equal to 0" in lines
    )
    assert f"{path}:6: gate.min_composite.on: Input should be 'ci_low' or 'mean'" in lines
    assert any(
        line.startswith(f"{path}:7: gate.must_beat.row: 'tidy:1b' is not a row") for line in lines
    )
    assert f"{path}:8: gate.max_overlong_rate: Input should be less than or equal to 1" in lines
    assert any(line.startswith(f"{path}:9: gate.bogus: unknown key; known: row,") for line in lines)


def test_a_gate_row_outside_the_run_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(RUN_FILE.split("  min_composite")[0])
    with pytest.raises(CliError) as refused:
        read_run_file(path)
    assert refused.value.lines == [f"{path}:4: gate: row tidy:1b|v2: 'v2' is not in prompts (v1)"]


def test_a_gate_names_rows_once_and_never_asks_a_row_to_beat_itself() -> None:
    gate = Gate.model_validate({"row": " m | v2 ", "must_beat": {"row": "m|v1"}})
    assert gate.row == "m|v2"  # written as the leaderboard and the compare API write it
    with pytest.raises(ValueError, match="a row cannot beat itself"):
        Gate.model_validate({"row": "m|v1", "must_beat": {"row": "m | v1"}})
    a = board("a", {("m", "v1"): {s: [10.0] for s in SCENARIOS}})
    with pytest.raises(RowNotFound, match="gate.row: no row 'm\\|v2' in experiment 'a'"):
        evaluate(gate, a, 0, {})


def test_a_board_from_before_per_scenario_means_says_so() -> None:
    a = board("a", {("m", "v1"): {s: [10.0] for s in SCENARIOS}})
    rows = [r.model_copy(update={"scenario_means": {}}) for r in a.rows]
    old = a.model_copy(update={"rows": rows})
    (row,) = compare_boards(a, old).rows
    assert row.n_shared == 0 and row.mean_diff is None
    assert row.note is not None and "built before rows kept their per-scenario means" in row.note


def test_the_run_file_sample_of_run_help_is_a_valid_run_file_with_a_gate(tmp_path: Path) -> None:
    sample = run_file_sample().split("# bench.yaml\n", 1)[1].split("\n\n", 1)[0]
    path = tmp_path / "bench.yaml"
    path.write_text("\n".join(line.removeprefix("  ") for line in sample.splitlines()))
    gate = read_run_file(path).gate
    assert gate is not None and gate.must_beat is not None
    assert (gate.row, gate.must_beat.row) == ("tidy:1b|coach", "tidy:1b|plain")
