"""Pairwise judging: Bradley-Terry against an independent fit, tau-b, pair drawing, checks."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import optimize, stats

from services.reporter.pairwise import (
    PRIOR,
    bradley_terry,
    kendall_tau_b,
    pairwise_section,
)
from shared.llm_judging import read_pair_verdict
from shared.pairing import MAX_PAIRS, default_pairs, draw_pairs

# wins[i][j]: times row i was preferred to row j (a tie already split as 0.5 each way);
# row 0 never loses, so only the prior keeps its strength finite.
WINS = np.array(
    [
        [0.0, 3.0, 4.0, 2.5],
        [0.0, 0.0, 2.0, 3.0],
        [0.0, 1.0, 0.0, 1.5],
        [0.0, 1.0, 2.5, 0.0],
    ]
)


def reference_fit(wins: np.ndarray, prior: float) -> np.ndarray:
    """The maximum of the Bradley-Terry log-likelihood (with each row's virtual win and loss
    against a reference of strength 1), found by a general-purpose optimiser."""

    def negative_log_likelihood(log_p: np.ndarray) -> float:
        total = 0.0
        for i in range(len(log_p)):
            for j in range(len(log_p)):
                if wins[i, j]:
                    total += wins[i, j] * (log_p[i] - np.logaddexp(log_p[i], log_p[j]))
            total += prior * (log_p[i] - np.logaddexp(log_p[i], 0.0))  # virtual win
            total += prior * (0.0 - np.logaddexp(log_p[i], 0.0))  # virtual loss
        return -total

    found = optimize.minimize(
        negative_log_likelihood, np.zeros(len(wins)), method="BFGS", options={"gtol": 1e-10}
    )
    # at the maximum: BFGS may stop there reporting a precision loss (its finite-difference
    # gradient cannot reach gtol), so the gradient itself is what is checked
    assert found.success or np.abs(found.jac).max() < 1e-6, found.message
    result: np.ndarray = found.x - found.x.mean()
    return result


def test_bradley_terry_on_a_hand_made_win_table_matches_a_reference_fit() -> None:
    fitted = bradley_terry(WINS)
    assert fitted == pytest.approx(reference_fit(WINS, PRIOR), abs=1e-5)
    assert fitted.mean() == pytest.approx(0.0, abs=1e-12)
    assert list(np.argsort(-fitted)) == [0, 1, 3, 2]
    assert math.isfinite(fitted[0])


def test_bradley_terry_fits_a_batch_like_each_table_alone() -> None:
    other = WINS.T.copy()
    batch = bradley_terry(np.stack([WINS, other]))
    assert batch[0] == pytest.approx(bradley_terry(WINS), abs=1e-9)
    assert batch[1] == pytest.approx(bradley_terry(other), abs=1e-9)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]),
        ([1.0, 1.0, 2.0, 3.0, 5.0], [2.0, 1.0, 1.0, 3.0, 3.0]),
        ([0.3, -0.1, 0.5], [9.0, 12.0, 4.0]),
    ],
)
def test_kendall_tau_b_matches_scipy(x: list[float], y: list[float]) -> None:
    assert kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y, variant="b").statistic)


def test_kendall_tau_b_is_none_for_a_constant_order() -> None:
    assert kendall_tau_b([1.0, 2.0], [3.0, 3.0]) is None
    assert kendall_tau_b([1.0], [2.0]) is None


def runs_of(rows: int, scenarios: int, repeats: int = 1) -> dict[str, tuple[str, str]]:
    return {
        f"r{row}-s{scenario}-{k}": (f"row{row}", f"s{scenario}")
        for row in range(rows)
        for scenario in range(scenarios)
        for k in range(repeats)
    }


def test_drawn_pairs_cover_every_row_evenly_on_shared_scenarios() -> None:
    runs = runs_of(rows=5, scenarios=6)
    drawn = draw_pairs(runs, default_pairs(5, 6), seed="abc")
    assert len(drawn) == 30 == len({frozenset(p) for p in drawn})
    for first, second in drawn:
        assert runs[first][1] == runs[second][1]  # same scenario
        assert runs[first][0] != runs[second][0]  # different rows
    shown = Counter(runs[run][0] for pair in drawn for run in pair)
    assert set(shown) == {f"row{i}" for i in range(5)}
    assert max(shown.values()) - min(shown.values()) <= 1
    scenarios = Counter(runs[first][1] for first, _ in drawn)
    assert max(scenarios.values()) - min(scenarios.values()) <= 2


def test_drawing_adds_pairs_between_rows_close_on_the_rubric() -> None:
    runs = runs_of(rows=4, scenarios=12)
    means = {"row0": 15.0, "row1": 14.8, "row2": 9.0, "row3": 4.0}
    even = draw_pairs(runs, 18, seed=1)  # what the even draws of a 24-pair budget are
    close = draw_pairs(runs, 24, seed=1, means=means)

    def between(drawn: list[tuple[str, str]]) -> int:
        return sum({runs[a][0], runs[b][0]} == {"row0", "row1"} for a, b in drawn)

    # one draw in four goes to the closest adjacent rows, row0 and row1
    assert close[:18] == even
    assert between(close) == between(even) + 24 // 4
    # close rows that run out of pairs leave their share to the even draws
    few = runs_of(rows=4, scenarios=3)
    assert len(draw_pairs(few, 12, seed=1, means=means)) == 12


def test_drawing_skips_judged_pairs_and_stops_when_none_are_left() -> None:
    runs = runs_of(rows=2, scenarios=3)
    first = draw_pairs(runs, 2, seed=7)
    rest = draw_pairs(runs, 10, seed=7, done={frozenset(p) for p in first})
    assert len(rest) == 1
    assert {frozenset(p) for p in rest}.isdisjoint({frozenset(p) for p in first})
    assert default_pairs(100, 100) == MAX_PAIRS


def test_the_pairwise_section_counts_verdicts_and_ranks_beside_the_rubric() -> None:
    rows = {"x1": ("m1", "v1"), "x2": ("m2", "v1"), "x3": ("m3", "v1"), "y1": ("m1", "v1")}
    verdicts = [
        {"judge_id": "ann", "run_a": "x1", "run_b": "x2", "winner": "a"},
        {"judge_id": "ann", "run_a": "x3", "run_b": "y1", "winner": "b"},
        {"judge_id": "bob", "run_a": "x2", "run_b": "x3", "winner": "tie"},
        {"judge_id": "bob", "run_a": "x2", "run_b": "x3", "winner": "a"},
        {"judge_id": "bob", "run_a": "x1", "run_b": "y1", "winner": "a"},  # same row: unused
        {"judge_id": "bob", "run_a": "gone", "run_b": "x1", "winner": "a"},  # unknown run
    ]
    means = {("m1", "v1"): 12.0, ("m2", "v1"): 10.0, ("m3", "v1"): 11.0}
    section = pairwise_section(verdicts, rows, means)
    assert section is not None
    assert section.n_judgments == 4 and section.judges == ["ann", "bob"]
    by_model = {r.model: r for r in section.rows}
    assert (by_model["m1"].wins, by_model["m1"].losses, by_model["m1"].n_pairs) == (2, 0, 2)
    assert (by_model["m2"].wins, by_model["m2"].ties, by_model["m2"].losses) == (1, 1, 1)
    assert (by_model["m3"].wins, by_model["m3"].ties, by_model["m3"].losses) == (0, 1, 2)
    assert [r.model for r in section.rows] == ["m1", "m2", "m3"]
    assert all(r.ci_low <= r.strength <= r.ci_high for r in section.rows)
    assert section.tau_n == 3
    assert section.kendall_tau == pytest.approx(1 / 3, abs=1e-4)
    assert pairwise_section(verdicts[4:], rows, means) is None


@pytest.mark.parametrize(
    "answer",
    [
        "the first one",
        '{"winner": "c", "rationale": "x"}',
        '{"winner": "a"}',
        '{"winner": "a", "rationale": "x", "score": 3}',
        '{"winner": "a", "rationale": 5}',
    ],
)
def test_a_pairwise_llm_answer_outside_the_schema_is_refused(answer: str) -> None:
    with pytest.raises((ValueError, ValidationError)):
        read_pair_verdict(answer)


def test_a_pairwise_llm_answer_in_the_schema_is_read() -> None:
    verdict = read_pair_verdict('{"winner": "tie", "rationale": "both fine"}')
    assert (verdict.winner, verdict.rationale) == ("tie", "both fine")


def test_a_pair_packet_cannot_be_unblinded_by_replaying_its_packet_id() -> None:
    # Given two rows on 20 scenarios, and a judge who knows how packets are drawn
    import random

    from shared.contracts.packets import Candidate, PacketScenario
    from shared.pair_judging import pair_packet_for_judge
    from shared.suite_files import builtin_suite

    rows = [("llama3.2:1b", "v1"), ("qwen2.5:1.5b", "v1")]
    pool: dict[str, Candidate] = {}
    meta: dict[str, tuple[str, str, str]] = {}
    for s in range(20):
        for model, prompt in rows:
            run = random.randbytes(16).hex()
            scenario = PacketScenario(id=f"s{s}", vars={"who": "x"}, n_tips=3, word_limit=20)
            pool[run] = Candidate(scenario=scenario, answer=f"answer by {model} on s{s}", tips=[])
            meta[run] = (model, prompt, f"s{s}")

    class Packets:  # the stores' read side, in memory (the unit under test draws, not stores)
        def candidates(self, experiment: str) -> dict[str, Candidate]:
            return pool

        def rows(self, experiment: str) -> dict[str, tuple[str, str, str]]:
            return meta

        def rubric(self, experiment: str) -> object:
            return builtin_suite("tip-v1").rubric

    class Pairs:
        def open_packet(self, experiment: str, judge: str) -> None:
            return None

        def judged_by(self, experiment: str, judge: str) -> set[frozenset[str]]:
            return set()

        def save(self, packet: object, runs: object) -> None:
            pass

    packet = pair_packet_for_judge(Packets(), Pairs(), "exp", "ann", n_pairs=40)  # type: ignore[arg-type]
    # When the judge replays a generator seeded with the packet id (sides, then order)
    replay = random.Random(packet.packet_id)
    flips = [replay.random() < 0.5 for _ in packet.pairs]
    order = list(range(len(packet.pairs)))
    replay.shuffle(order)
    guessed = sum(
        (rows[0][0] if flips[order[pos]] else rows[1][0]) == item.a.answer.split()[2]
        for pos, item in enumerate(packet.pairs)
    )
    # Then the guess is no better than chance: not every side (a seeded draw gave 20/20)
    assert len(packet.pairs) == 20 and guessed < len(packet.pairs)


def test_bootstrap_intervals_are_the_same_fitted_in_small_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Memory stays bounded for many rows by fitting the resamples in batches, each from the
    # full fit: the intervals must not depend on the batch size
    from services.reporter import pairwise

    rng = np.random.default_rng(3)
    first = rng.integers(0, 6, 80)
    second = (first + rng.integers(1, 6, 80)) % 6
    score = rng.choice([0.0, 0.5, 1.0], 80)
    whole = pairwise.bootstrap_intervals(first, second, score, 6, rounds=200)
    monkeypatch.setattr(pairwise, "BATCH_CELLS", 36 * 7)  # 7 resamples per batch
    batched = pairwise.bootstrap_intervals(first, second, score, 6, rounds=200)
    assert np.allclose(whole[0], batched[0], atol=1e-8)
    assert np.allclose(whole[1], batched[1], atol=1e-8)
