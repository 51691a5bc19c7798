"""The second ranking: Bradley-Terry strengths from pairwise verdicts (docs/statistics.md).

Bradley & Terry (1952): row i is preferred to row j with probability p_i / (p_i + p_j).
The strengths are fitted by Hunter's (2004) MM algorithm. A tie counts as half a win to
each side. Each row also plays one virtual win and one virtual loss (PRIOR each) against a
fixed opponent of strength 1: a row that never lost keeps a finite strength, and the fit
exists even when the verdicts leave rows unconnected. Intervals come from resampling the
verdicts (the pairs) with replacement.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shared import stats
from shared.contracts import Leaderboard, Pairwise, PairwiseRow

Row = tuple[str, str]  # (model, prompt version)

PRIOR = 0.5  # virtual wins and losses per row against a fixed opponent of strength 1
PAIRWISE_BOOTSTRAP_ROUNDS = 1000
PAIRWISE_SEED = stats.BOOTSTRAP_SEED
_TOLERANCE = 1e-10  # largest change of a log strength at convergence
_MAX_ITERATIONS = 10_000
# Win-table cells fitted at once in the bootstrap: a batch's arrays stay ~10 MB each.
BATCH_CELLS = 1_250_000
METHOD = (
    "Bradley-Terry strengths (Bradley & Terry 1952) fitted by the MM algorithm (Hunter 2004);"
    f" a tie counts as half a win to each side; each row has {PRIOR:g} virtual win and"
    f" {PRIOR:g} virtual loss against a fixed reference, so an unbeaten row stays finite;"
    " strengths on a log scale with the rows' mean at 0; 95% percentile intervals from"
    f" {PAIRWISE_BOOTSTRAP_ROUNDS} bootstrap resamples of the verdicts; Kendall's tau-b"
    " against the rubric's mean composites."
)


def bradley_terry(
    wins: stats.FloatArray, prior: float = PRIOR, start: stats.FloatArray | None = None
) -> stats.FloatArray:
    """Log strengths, mean 0, from wins[..., i, j] = times i beat j (a batch if 3-D);
    `start`, log strengths to begin from (the same fit, reached in fewer steps)."""
    games = wins + np.swapaxes(wins, -1, -2)
    won = wins.sum(axis=-1) + prior
    strength = (
        np.ones(wins.shape[:-1])
        if start is None
        else np.broadcast_to(np.exp(start), wins.shape[:-1]).copy()
    )
    for _ in range(_MAX_ITERATIONS):
        pairs = strength[..., :, None] + strength[..., None, :]
        spent = (games / pairs).sum(axis=-1) + 2 * prior / (strength + 1)
        fitted = won / spent
        change = np.abs(np.log(fitted) - np.log(strength)).max()
        strength = fitted
        if change < _TOLERANCE:
            break
    logs = np.log(strength)
    centred: stats.FloatArray = logs - logs.mean(axis=-1, keepdims=True)
    return centred


def win_table(
    first: stats.IntArray, second: stats.IntArray, score: stats.FloatArray, k: int
) -> stats.FloatArray:
    """wins[i, j] from verdicts: `first` beat `second` by `score` (1 win, 0.5 tie, 0 loss)."""
    wins = np.zeros((k, k))
    np.add.at(wins, (first, second), score)
    np.add.at(wins, (second, first), 1 - score)
    return wins


def bootstrap_intervals(
    first: stats.IntArray,
    second: stats.IntArray,
    score: stats.FloatArray,
    k: int,
    rounds: int = PAIRWISE_BOOTSTRAP_ROUNDS,
    seed: int = PAIRWISE_SEED,
) -> tuple[stats.FloatArray, stats.FloatArray]:
    """95% percentile intervals of the log strengths, resampling the verdicts.

    The resamples are fitted in batches of at most BATCH_CELLS table cells (memory stays
    bounded however many rows), each from the full data's fit (few MM steps each)."""
    rng = np.random.default_rng(seed)
    n = len(score)
    picks = rng.integers(0, n, size=(rounds, n))
    start = bradley_terry(win_table(first, second, score, k))
    size = max(1, BATCH_CELLS // (k * k))
    fits = np.concatenate(
        [
            _resampled_fits(first, second, score, k, picks[at : at + size], start)
            for at in range(0, rounds, size)
        ]
    )
    alpha = (1 - stats.CI_LEVEL) / 2
    low: stats.FloatArray = np.quantile(fits, alpha, axis=0)
    high: stats.FloatArray = np.quantile(fits, 1 - alpha, axis=0)
    return low, high


def _resampled_fits(
    first: stats.IntArray,
    second: stats.IntArray,
    score: stats.FloatArray,
    k: int,
    picks: stats.IntArray,
    start: stats.FloatArray,
) -> stats.FloatArray:
    rounds, n = picks.shape
    wins = np.zeros((rounds, k, k))
    batch = np.repeat(np.arange(rounds), n)
    chosen = picks.ravel()
    np.add.at(wins, (batch, first[chosen], second[chosen]), score[chosen])
    np.add.at(wins, (batch, second[chosen], first[chosen]), 1 - score[chosen])
    return bradley_terry(wins, start=start)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of two paired sequences; None when either is constant or too short."""
    concordant = discordant = tied_x = tied_y = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            tied_x += dx == 0
            tied_y += dy == 0
            concordant += dx * dy > 0
            discordant += dx * dy < 0
    total = n * (n - 1) // 2
    denominator = math.sqrt((total - tied_x) * (total - tied_y))
    return None if denominator == 0 else (concordant - discordant) / denominator


def pairwise_section(
    verdicts: list[dict[str, Any]],
    run_rows: Mapping[str, Row],
    rubric_means: Mapping[Row, float | None],
) -> Pairwise | None:
    """The board's pairwise section from every judge's verdicts; None without any usable.

    A verdict counts when both its runs are finished runs of two different rows.
    """
    used = [
        v
        for v in verdicts
        if v["run_a"] in run_rows
        and v["run_b"] in run_rows
        and run_rows[v["run_a"]] != run_rows[v["run_b"]]
    ]
    if not used:
        return None
    rows = sorted({run_rows[v[side]] for v in used for side in ("run_a", "run_b")})
    index = {row: i for i, row in enumerate(rows)}
    first = np.array([index[run_rows[v["run_a"]]] for v in used], dtype=np.int64)
    second = np.array([index[run_rows[v["run_b"]]] for v in used], dtype=np.int64)
    score = np.array([{"a": 1.0, "b": 0.0, "tie": 0.5}[v["winner"]] for v in used])
    strength = bradley_terry(win_table(first, second, score, len(rows)))
    low, high = bootstrap_intervals(first, second, score, len(rows))
    wins, losses, ties, n_pairs = Counter[Row](), Counter[Row](), Counter[Row](), Counter[Row]()
    for v in used:
        a, b = run_rows[v["run_a"]], run_rows[v["run_b"]]
        n_pairs.update((a, b))
        if v["winner"] == "tie":
            ties.update((a, b))
        else:
            winner, loser = (a, b) if v["winner"] == "a" else (b, a)
            wins[winner] += 1
            losses[loser] += 1
    both = [row for row in rows if rubric_means.get(row) is not None]
    tau = kendall_tau_b(
        [float(strength[index[row]]) for row in both],
        [float(rubric_means[row] or 0.0) for row in both],
    )
    return Pairwise(
        rows=[
            PairwiseRow(
                model=row[0],
                prompt_version=row[1],
                strength=_r(strength[index[row]]),
                ci_low=_r(low[index[row]]),
                ci_high=_r(high[index[row]]),
                wins=wins[row],
                losses=losses[row],
                ties=ties[row],
                n_pairs=n_pairs[row],
            )
            for row in sorted(rows, key=lambda r: (-strength[index[r]], r))
        ],
        n_judgments=len(used),
        judges=sorted({v["judge_id"] for v in used}),
        kendall_tau=None if tau is None else _r(tau),
        tau_n=len(both),
        method=METHOD,
    )


def _r(value: float) -> float:
    return round(float(value), 4) + 0.0  # + 0.0: no -0.0


def with_pairwise(
    board: Leaderboard, run_rows: Mapping[str, Row], verdicts: list[dict[str, Any]]
) -> Leaderboard:
    """The board with its pairwise section, ranked beside the board's rubric means."""
    means = {(r.model, r.prompt_version): r.mean_composite for r in board.rows}
    return board.model_copy(update={"pairwise": pairwise_section(verdicts, run_rows, means)})
