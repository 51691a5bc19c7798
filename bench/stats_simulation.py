"""Simulation of the leaderboard statistics (see docs/statistics.md).

    .venv/bin/python -m bench.stats_simulation

Draws composite scores from a model of the judge's rubric and checks, at 5, 8 and 24
scenarios with 1 and 3 repeats per scenario:

1. coverage of the per-row 95% intervals: the shipped one (Student-t with Hall's
   skewness correction), the plain t, BCa, and the old percentile bootstrap;
2. the family-wise rate of false "not tied with the best" claims, under a global null
   (10 interchangeable rows) and a partial one (2 equal best rows, 8 one point worse);
3. the power to separate rows one composite point apart: 2 rows, and 1 row above 9.

A composite is relevance + actionability + tone (each 1-5) + 2 format_ok - overlong.
Each item is a rounded, clipped latent score: row level + scenario effect (shared by all
rows) + row-by-scenario effect + run noise. "Skewed" rows sit near the ceiling with a
long tail of hard scenarios (scenario means skewed about -1.5 at 1 repeat). Runs in
about five minutes on 2 cores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from services.reporter.ranking import rank_rows
from shared import stats

SEED = 20260214
SCENARIOS = (5, 8, 24)
REPEATS = (1, 3)
COVERAGE_REPLICATES = 6000  # standard error 0.3 points at 95%
NULL_REPLICATES = 2000  # each runs the full permutation test; standard error 0.5 points
TEST_REPLICATES = 500  # standard error up to 2.2 points
LARGER_DESIGNS = ((48, 3), (96, 3))  # how many scenarios ten rows need
LARGER_REPLICATES = 300
BOOTSTRAP = 999  # resamples for the BCa and percentile columns
LEVEL = 0.95


@dataclass(frozen=True)
class Judge:
    """How a kind of row's composite scores are drawn."""

    level: float  # latent item score of a row before effects
    scenario_sd: float  # scenario effect on every row alike (cancels in paired differences)
    skewed: bool  # scenario effect from a left-skewed (gamma) law instead of a normal one
    interaction_sd: float  # row-by-scenario effect
    run_sd: float  # run-to-run noise of each item
    format_ok: float  # probability of a well-formed answer (+2)
    overlong: float  # probability of an overlong tip (-1)


COMPOSITE = Judge(3.2, 0.8, False, 0.3, 0.7, 0.85, 0.10)
SKEWED = Judge(4.2, 0.5, True, 0.3, 0.7, 0.95, 0.10)
STRONGLY_SKEWED = Judge(4.5, 0.6, True, 0.3, 0.7, 0.95, 0.10)  # a stress test
JUDGES = {"composite-like": COMPOSITE, "skewed": SKEWED, "strongly skewed": STRONGLY_SKEWED}


def composites(
    judge: Judge,
    rng: np.random.Generator,
    shape: tuple[int, ...],
    n_scenarios: int,
    repeats: int,
    shifts: np.ndarray | None = None,
) -> np.ndarray:
    """Scores of shape (*shape, rows, scenarios, repeats); `shifts` moves rows' levels."""
    rows = 1 if shifts is None else len(shifts)
    lead = (*shape, 1, n_scenarios, 1, 1)
    if judge.skewed:  # mean 0, sd = scenario_sd, a long tail of hard scenarios
        scenario = judge.scenario_sd - rng.gamma(1.0, judge.scenario_sd, lead)
    else:
        scenario = rng.normal(0, judge.scenario_sd, lead)
    interaction = rng.normal(0, judge.interaction_sd, (*shape, rows, n_scenarios, 1, 1))
    level = judge.level + (0 if shifts is None else shifts[:, None, None, None])
    latent = level + scenario + interaction
    latent = latent + rng.normal(0, judge.run_sd, (*shape, rows, n_scenarios, repeats, 3))
    items = np.clip(np.rint(latent), 1, 5).sum(axis=-1)
    runs = (*shape, rows, n_scenarios, repeats)
    flags = 2.0 * (rng.random(runs) < judge.format_ok) - (rng.random(runs) < judge.overlong)
    return np.asarray(items + flags, dtype=float)


def true_mean(judge: Judge, shift: float = 0.0, draws: int = 2_000_000) -> float:
    """The population mean composite of a row (same random numbers for every shift)."""
    rng = np.random.default_rng(SEED)
    return float(composites(judge, rng, (draws,), 1, 1, np.array([shift])).mean())


def one_point_shift(judge: Judge) -> float:
    """The latent shift that raises a row's mean composite by exactly one point."""
    target, low, high = true_mean(judge) + 1.0, 0.0, 1.0
    for _ in range(25):
        middle = (low + high) / 2
        low, high = (middle, high) if true_mean(judge, middle) < target else (low, middle)
    return (low + high) / 2


def coverage(judge: Judge, n: int, repeats: int, rng: np.random.Generator) -> dict[str, float]:
    """Share of per-row 95% intervals that contain the true mean, per method."""
    truth = true_mean(judge)
    means = composites(judge, rng, (COVERAGE_REPLICATES,), n, repeats)[:, 0].mean(axis=-1)
    resample = rng.multinomial(n, np.full(n, 1 / n), size=BOOTSTRAP) / n  # (BOOTSTRAP, n)
    boot = means @ resample.T  # (replicates, BOOTSTRAP)
    jack = (means.sum(axis=1, keepdims=True) - means) / (n - 1)
    hits = {"t + Hall (shipped)": 0, "plain t": 0, "BCa": 0, "percentile (old)": 0}
    tail = (1 - LEVEL) / 2
    for i, x in enumerate(means):
        intervals = {
            "t + Hall (shipped)": stats.skew_corrected_t_interval(x, LEVEL),
            "plain t": stats.t_interval(x, LEVEL),
            "BCa": stats.bca_interval(float(x.mean()), boot[i], jack[i], level=LEVEL),
            "percentile (old)": tuple(np.quantile(boot[i], [tail, 1 - tail])),
        }
        for name, bounds in intervals.items():
            hits[name] += bounds is not None and bounds[0] <= truth <= bounds[1]
    return {name: count / COVERAGE_REPLICATES for name, count in hits.items()}


def table(scores: np.ndarray) -> dict[int, dict[str, list[float]]]:
    """(rows, scenarios, repeats) scores as rank_rows' mapping."""
    return {
        r: {f"s{s}": [float(v) for v in scores[r, s]] for s in range(scores.shape[1])}
        for r in range(scores.shape[0])
    }


def claims(
    name: str, shifts: np.ndarray, n: int, repeats: int, replicates: int, rng: np.random.Generator
) -> float:
    """The rate of one kind of claim over replicates of a design (see `tests`)."""
    draws = composites(COMPOSITE, rng, (replicates,), n, repeats, shifts)
    rate = 0.0
    for replicate in draws:
        result = rank_rows(table(replicate), seed=int(rng.integers(2**31)))
        if name.startswith("global"):  # any row claimed not tied with the best
            rate += any(r.tied_with_best is False for r in result.values())
        elif name.startswith("partial"):  # a truly best row claimed not tied
            rate += result[0].tied_with_best is False or result[1].tied_with_best is False
        else:  # share of the worse rows separated from the best
            rate += float(np.mean([r.tied_with_best is False for k, r in result.items() if k]))
    return rate / replicates


def configurations(shift: float) -> dict[str, tuple[np.ndarray, int]]:
    """Name -> (each row's latent shift, replicates)."""
    return {
        "global null, 10 rows": (np.zeros(10), NULL_REPLICATES),
        "partial null": (np.array([shift, shift] + [0.0] * 8), TEST_REPLICATES),
        "power, 2 rows": (np.array([shift, 0.0]), TEST_REPLICATES),
        "power, 10 rows": (np.array([shift] + [0.0] * 9), TEST_REPLICATES),
    }


def tests(n: int, repeats: int, shift: float, rng: np.random.Generator) -> dict[str, float]:
    """False-claim rates under the nulls and power at one point."""
    return {
        name: claims(name, shifts, n, repeats, replicates, rng)
        for name, (shifts, replicates) in configurations(shift).items()
    }


def markdown(header: list[str], lines: list[list[str]]) -> str:
    """A markdown table."""
    rule = "|" + " --- |" * len(header)
    return "\n".join(
        ["| " + " | ".join(header) + " |", rule] + ["| " + " | ".join(x) + " |" for x in lines]
    )


def skewness(judge: Judge, repeats: int, rng: np.random.Generator) -> float:
    """Skewness of a row's scenario means (the population the intervals sample)."""
    means = composites(judge, rng, (400_000,), 1, repeats)[:, 0, 0].mean(axis=-1)
    return float(np.mean((means - means.mean()) ** 3) / means.std() ** 3)


def main() -> None:
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    shift = one_point_shift(COMPOSITE)
    print(f"One composite point = a latent shift of {shift:.3f} per item.\n")
    lines, methods = [], []
    for label, judge in JUDGES.items():
        for repeats in REPEATS:
            skew = skewness(judge, repeats, rng)
            for n in SCENARIOS:
                covered = coverage(judge, n, repeats, rng)
                methods = list(covered)
                lines.append(
                    [label, f"{skew:+.2f}", str(n), str(repeats)]
                    + [f"{v:.1%}" for v in covered.values()]
                )
    print("Coverage of the per-row 95% intervals (target 93-97%):\n")
    print(markdown(["data", "skewness", "scenarios", "repeats", *methods], lines))
    lines, rates = [], {}
    for n in SCENARIOS:
        for repeats in REPEATS:
            rates = tests(n, repeats, shift, rng)
            lines.append([str(n), str(repeats)] + [f"{v:.1%}" for v in rates.values()])
    print("\nFalse 'not tied with the best' claims (target <= 5%) and power at one point:\n")
    print(markdown(["scenarios", "repeats", *rates], lines))
    lines = []
    for n, repeats in LARGER_DESIGNS:
        lines.append(
            [str(n), str(repeats)]
            + [
                f"{claims(name, shifts, n, repeats, LARGER_REPLICATES, rng):.1%}"
                for name, (shifts, _) in configurations(shift).items()
                if name.startswith("power")
            ]
        )
    print("\nPower of larger designs:\n")
    print(markdown(["scenarios", "repeats", "power, 2 rows", "power, 10 rows"], lines))
    print(
        f"\n{COVERAGE_REPLICATES} replicates per coverage, {NULL_REPLICATES} per global null,"
        f" {TEST_REPLICATES} per other rate, {LARGER_REPLICATES} per larger design;"
        f" {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
