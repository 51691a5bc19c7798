"""Which pairs of answers a pairwise judge is shown: every row about evenly, close rows more.

A row is a (model, prompt version); a pair is two runs of two different rows on the same
scenario, so the verdict compares the rows and nothing else.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping
from itertools import combinations, zip_longest
from typing import TypeVar

R = TypeVar("R", bound=Hashable)  # a row

MAX_PAIRS = 500  # per packet: about a day of careful reading for a person
CLOSE_SHARE = 4  # one pair in CLOSE_SHARE goes to rows close on the rubric, when it exists


def default_pairs(n_rows: int, n_scenarios: int) -> int:
    """The default budget: rows × scenarios, so each row is in about 2 × scenarios pairs."""
    return min(MAX_PAIRS, n_rows * n_scenarios)


def draw_pairs(
    runs: Mapping[str, tuple[R, str]],
    n_pairs: int,
    *,
    seed: int | str,
    done: set[frozenset[str]] | None = None,
    means: Mapping[R, float] | None = None,
) -> list[tuple[str, str]]:
    """Up to `n_pairs` distinct pairs of runs (run id -> (row, scenario)) for one packet.

    Each draw takes the pair of rows that have been shown least so far (fewest pairs for
    the busier of the two, then for both, then the pair of rows drawn least), on a
    scenario they share, the scenario least used so far first; so every row is in about
    as many pairs as any other, unless it shares too few scenarios with the rest. When the
    rubric's means are given, one draw in CLOSE_SHARE goes instead to the closer half (at
    least one) of the pairs of rows adjacent in the rubric's order: the verdicts that
    decide an order are those between close rows. Pairs in `done` (already judged) are
    never drawn again.
    """
    rng = random.Random(seed)
    options = _options(runs, done or set(), rng)
    order = {pair: rng.random() for pair in options}  # seeded tie-break
    shown: Counter[R] = Counter()
    used: Counter[tuple[R, R]] = Counter()
    on_scenario: Counter[str] = Counter()
    drawn: list[tuple[str, str]] = []

    def take(pair: tuple[R, R]) -> None:
        left = options[pair]
        pick = min(range(len(left)), key=lambda i: (on_scenario[left[i][0]], i))
        scenario, runs_pair = left.pop(pick)
        drawn.append(runs_pair)
        on_scenario[scenario] += 1
        shown.update(pair)
        used[pair] += 1

    def least_shown(pair: tuple[R, R]) -> tuple[int, int, int, float]:
        counts = (shown[pair[0]], shown[pair[1]])
        return max(counts), sum(counts), used[pair], order[pair]

    def draw_evenly(until: int) -> None:
        while len(drawn) < until:
            live = [pair for pair in options if options[pair]]
            if not live:
                return
            take(min(live, key=least_shown))

    close = _close_pairs(means, options) if means else []
    n_close = n_pairs // CLOSE_SHARE if close else 0
    draw_evenly(n_pairs - n_close)
    for index in range(n_close * len(close)):  # round robin, skipping exhausted pairs
        if len(drawn) >= n_pairs:
            break
        pair = close[index % len(close)]
        if options[pair]:
            take(pair)
    draw_evenly(n_pairs)  # the close rows ran out of pairs: fill the budget evenly
    return drawn


def _options(
    runs: Mapping[str, tuple[R, str]], done: set[frozenset[str]], rng: random.Random
) -> dict[tuple[R, R], list[tuple[str, tuple[str, str]]]]:
    """Per pair of rows, the pairs of their runs on shared scenarios, scenarios interleaved."""
    by_row: dict[R, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for run_id, (row, scenario) in sorted(runs.items()):
        by_row[row][scenario].append(run_id)
    rows = sorted(by_row, key=repr)
    options: dict[tuple[R, R], list[tuple[str, tuple[str, str]]]] = {}
    for first, second in combinations(rows, 2):
        shared = sorted(set(by_row[first]) & set(by_row[second]))
        rng.shuffle(shared)
        per_scenario = []
        for scenario in shared:
            found = [
                (scenario, (a, b))
                for a in by_row[first][scenario]
                for b in by_row[second][scenario]
                if frozenset((a, b)) not in done
            ]
            rng.shuffle(found)
            per_scenario.append(found)
        options[(first, second)] = [
            pair for layer in zip_longest(*per_scenario) for pair in layer if pair is not None
        ]
    return options


def _close_pairs(
    means: Mapping[R, float], options: Mapping[tuple[R, R], list[tuple[str, tuple[str, str]]]]
) -> list[tuple[R, R]]:
    """The closer half (at least one) of the pairs of rows adjacent in the rubric's order."""
    ranked = sorted(
        (row for row in means if any(row in pair for pair in options)), key=lambda row: means[row]
    )
    adjacent = []
    for upper, lower in zip(ranked, ranked[1:], strict=False):
        pair = (upper, lower) if (upper, lower) in options else (lower, upper)
        if pair in options:
            adjacent.append((abs(means[upper] - means[lower]), pair))
    adjacent.sort(key=lambda gap_pair: gap_pair[0])
    return [pair for _, pair in adjacent[: max(1, len(adjacent) // 2)]]
