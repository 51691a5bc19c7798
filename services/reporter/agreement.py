"""How far the judges agree: quadratic-weighted Cohen's kappa per pair, Krippendorff's alpha.

Both on the rubric's 1..5 dimensions and on the composite (an ordinal 2..17 scale).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations

from shared.leaderboards import Agreement, Disagreement, JudgePair

ITEMS = {
    "relevance": range(1, 6),
    "actionability": range(1, 6),
    "tone": range(1, 6),
    "composite": range(2, 18),
}
DISAGREEMENT = 2  # points apart on a 1..5 dimension


def weighted_kappa(a: Sequence[int], b: Sequence[int], categories: Sequence[int]) -> float | None:
    """Cohen's kappa with quadratic weights; None when it is undefined (no spread at all)."""
    k, n = len(categories), len(a)
    if n == 0 or k < 2:
        return None
    index = {c: i for i, c in enumerate(categories)}
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[index[x]][index[y]] += 1
    rows = [sum(observed[i]) for i in range(k)]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    weight = [[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)]
    seen = sum(weight[i][j] * observed[i][j] for i in range(k) for j in range(k))
    chance = sum(weight[i][j] * rows[i] * cols[j] / n for i in range(k) for j in range(k))
    if chance == 0:
        return None
    return 1 - seen / chance


def krippendorff_alpha_ordinal(units: Sequence[Sequence[int]]) -> float | None:
    """Krippendorff's alpha with the ordinal metric; each unit lists the values it got."""
    pairable = [u for u in units if len(u) >= 2]
    values = sorted({v for u in pairable for v in u})
    if len(values) < 2:
        return None
    coincidence: dict[tuple[int, int], float] = defaultdict(float)
    for unit in pairable:
        for i, c in enumerate(unit):
            for j, k in enumerate(unit):
                if i != j:
                    coincidence[(c, k)] += 1 / (len(unit) - 1)
    totals = {c: sum(coincidence[(c, k)] for k in values) for c in values}
    n = sum(totals.values())

    def delta(c: int, k: int) -> float:
        low, high = min(c, k), max(c, k)
        between = sum(totals[g] for g in values if low <= g <= high)
        return (between - (totals[c] + totals[k]) / 2) ** 2

    seen = sum(coincidence[(c, k)] * delta(c, k) for c in values for k in values)
    chance = sum(totals[c] * totals[k] * delta(c, k) for c in values for k in values)
    return None if chance == 0 else 1 - (n - 1) * seen / chance


def judge_scores(metrics: dict[str, float]) -> dict[str, dict[str, int]]:
    """A run's scores per judge, from its `judge/<id>/<item>` metrics."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for name, value in metrics.items():
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "judge" and parts[2] in ITEMS:
            found[parts[1]][parts[2]] = int(value)
    return dict(found)


def agreement(runs: dict[str, dict[str, dict[str, int]]]) -> Agreement:
    """Agreement of the judges over runs: run id -> judge -> item -> score."""
    judges = sorted({judge for per in runs.values() for judge in per})
    pairs = []
    for first, second in combinations(judges, 2):
        shared = [per for per in runs.values() if first in per and second in per]
        pairs.append(
            JudgePair(
                judge_a=first,
                judge_b=second,
                n_shared=len(shared),
                kappa={
                    item: _round(
                        weighted_kappa(
                            [p[first][item] for p in shared],
                            [p[second][item] for p in shared],
                            scale,
                        )
                    )
                    for item, scale in ITEMS.items()
                },
            )
        )
    alpha = {
        item: _round(
            krippendorff_alpha_ordinal([[s[item] for s in per.values()] for per in runs.values()])
        )
        for item in ITEMS
    }
    disagreements = [
        Disagreement(run_id=run_id, item=item, scores={j: s[item] for j, s in sorted(per.items())})
        for run_id, per in sorted(runs.items())
        for item in ("relevance", "actionability", "tone")
        if len(per) >= 2
        and max(s[item] for s in per.values()) - min(s[item] for s in per.values()) >= DISAGREEMENT
    ]
    return Agreement(judges=judges, pairs=pairs, alpha=alpha, disagreements=disagreements)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def view_of(cell_metrics: dict[str, float], view: str) -> dict[str, float]:
    """A run's metrics with the rubric scores of one view: a judge's own, or the panel mean.

    Scores of other judges are dropped; a run the view's judge did not score has none.
    """
    names = (*ITEMS, "format_ok", "overlong")
    kept = {k: v for k, v in cell_metrics.items() if k not in names and not k.startswith("judge/")}
    per_judge = {
        judge: {k: v for k, v in cell_metrics.items() if k.startswith(f"judge/{judge}/")}
        for judge in judge_scores(cell_metrics)
    }
    chosen = list(per_judge) if view == "panel" else [view] if view in per_judge else []
    for name in names:
        values = [
            per_judge[j][f"judge/{j}/{name}"] for j in chosen if f"judge/{j}/{name}" in per_judge[j]
        ]
        if values:
            kept[name] = sum(values) / len(values)
    return kept
