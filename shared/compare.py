"""Rows of two experiments compared, paired on the scenarios both have (docs/statistics.md).

The leaderboard keeps each row's mean composite per scenario (repeats averaged first), so a
comparison needs the two stored boards alone. For two rows the max-T permutation test of
`shared/stats.py` is exactly the paired sign-flip test; the interval is the one rows get,
on the differences.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from shared import stats
from shared.contracts import Comparison, Leaderboard, LeaderboardRow, RowDifference
from shared.errors import InvalidRequest, RowNotFound, RubricMismatch

ROW_SEPARATOR = "|"  # model|prompt: neither a model name nor a prompt reference has one


def row_name(model: str, prompt: str) -> str:
    """The `model|prompt` reference of a row."""
    return f"{model}{ROW_SEPARATOR}{prompt}"


def parse_row(text: str, field: str) -> tuple[str, str]:
    """(model, prompt) from `model|prompt`; InvalidRequest naming `field` otherwise."""
    model, sep, prompt = text.partition(ROW_SEPARATOR)
    if not sep or not model.strip() or not prompt.strip() or ROW_SEPARATOR in prompt:
        raise InvalidRequest(
            f"{field}: {text!r} is not a row; write it as model|prompt, e.g. qwen2.5:0.5b|v3",
            [{"field": field, "message": "expected model|prompt"}],
        )
    return model.strip(), prompt.strip()


def find_row(board: Leaderboard, row: tuple[str, str], field: str) -> LeaderboardRow:
    """The board's row (model, prompt); RowNotFound listing the rows it has otherwise."""
    for found in board.rows:
        if (found.model, found.prompt_version) == row:
            return found
    known = ", ".join(row_name(r.model, r.prompt_version) for r in board.rows) or "none"
    raise RowNotFound(
        f"{field}: no row {row_name(*row)!r} in experiment {board.experiment!r}; its rows: {known}"
    )


def paired_difference(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    min_scenarios: int,
    spread: float,
    level: float = stats.CI_LEVEL,
) -> tuple[int, dict[str, float | None], str | None]:
    """a - b on their shared scenarios: (n shared, the estimates, a note or None).

    The estimates are mean_a, mean_b, mean_diff, ci_low, ci_high (cut at +-spread, the
    largest difference the rubric allows) and p.
    """
    shared = sorted(set(a) & set(b))
    n = len(shared)
    none: dict[str, float | None] = dict.fromkeys(
        ("mean_a", "mean_b", "mean_diff", "ci_low", "ci_high", "p")
    )
    if not n:
        return 0, none, "no scored scenario in common"
    values = np.array([[a[s] for s in shared], [b[s] for s in shared]], dtype=float)
    means = values.mean(axis=1)
    found = none | {
        "mean_a": float(means[0]),
        "mean_b": float(means[1]),
        "mean_diff": float(means[0] - means[1]),
    }
    needed = max(min_scenarios, 2)
    if n < needed:
        return n, found, f"{n} shared scenario{'' if n == 1 else 's'}; a comparison needs {needed}"
    low, high = stats.skew_corrected_t_interval(values[0] - values[1], level)
    test = stats.max_t_permutation(values, min_shared=needed)
    # either ordered pair's t: the larger one is |t|, and the max-T null is the sign-flip null
    two_sided = max(float(test.t[0, 1]), float(test.t[1, 0]))
    found |= {
        "ci_low": stats.clip(low, (-spread, spread)),
        "ci_high": stats.clip(high, (-spread, spread)),
        "p": float(test.p_values(np.array([two_sided]))[0]),
    }
    note = stats.power_note(n, 2, level=level)
    differences = values[0] - values[1]
    if np.all(differences == differences[0]):
        same = (
            f"every shared scenario differs by exactly {differences[0]:+g}: the interval has no"
            " width, which is no certainty beyond what p says"
        )
        note = f"{note}; {same}" if note else same
    return n, found, note


def _difference(
    a: LeaderboardRow, b: LeaderboardRow, min_scenarios: int, spread: float
) -> RowDifference:
    n, found, note = paired_difference(
        a.scenario_means, b.scenario_means, min_scenarios=min_scenarios, spread=spread
    )
    if any(row.n_scenarios and not row.scenario_means for row in (a, b)):
        note = (
            "a leaderboard built before rows kept their per-scenario means: it gains them when"
            " its next run or score arrives"
        )
    p = found["p"]
    return RowDifference(
        row_a=row_name(a.model, a.prompt_version),
        row_b=row_name(b.model, b.prompt_version),
        n_shared=n,
        p_shown=stats.format_p(p),
        significant=p is not None and p <= 1 - stats.CI_LEVEL,
        note=note,
        **{k: v if v is None or k == "p" else round(v, 4) + 0.0 for k, v in found.items()},
    )


def _rubric_shape(board: Leaderboard) -> str:
    return (
        f"rubric {board.rubric_id!r} ({', '.join(board.score_names)}; composite"
        f" {board.composite_min:g}..{board.composite_max:g})"
    )


def compare_boards(
    a: Leaderboard,
    b: Leaderboard,
    row_a: tuple[str, str] | None = None,
    row_b: tuple[str, str] | None = None,
) -> Comparison:
    """Board a's rows minus board b's: the one pair named (a row missing from the pair is
    taken to be the other's), else every (model, prompt) both boards have."""
    # The same id is not enough: a pushed suite may reuse an id with other items or weights.
    shape_a = (a.rubric_id, a.score_names, a.composite_min, a.composite_max)
    shape_b = (b.rubric_id, b.score_names, b.composite_min, b.composite_max)
    if shape_a != shape_b:
        raise RubricMismatch(
            f"experiment {a.experiment!r} scores by {_rubric_shape(a)} and {b.experiment!r}"
            f" by {_rubric_shape(b)}: their composites cannot be compared"
        )
    min_scenarios = max(a.min_scenarios, b.min_scenarios)
    spread = a.composite_max - a.composite_min
    only_a: list[str] = []
    only_b: list[str] = []
    row_a, row_b = row_a or row_b, row_b or row_a
    if row_a and row_b:
        pairs = [(find_row(a, row_a, "row_a"), find_row(b, row_b, "row_b"))]
    else:
        in_b = {(r.model, r.prompt_version): r for r in b.rows}
        in_a = {(r.model, r.prompt_version) for r in a.rows}
        pairs = [(r, in_b[key]) for r in a.rows if (key := (r.model, r.prompt_version)) in in_b]
        only_a = [row_name(*k) for k in sorted(in_a - set(in_b))]
        only_b = [row_name(*k) for k in sorted(set(in_b) - in_a)]
        if not pairs:
            raise InvalidRequest(
                f"no (model, prompt) row is in both {a.experiment!r} and {b.experiment!r};"
                f" choose the rows with row_a and row_b (a has {', '.join(only_a) or 'none'};"
                f" b has {', '.join(only_b) or 'none'})",
                [{"field": "row_a", "message": "no matching rows: name the row to compare"}],
            )
    note = None
    if a.suite != b.suite:
        note = (
            f"the suites differ ({a.suite}, {b.suite}): scenarios are paired by id alone,"
            " and rows differ in what they were asked as well as in model and prompt"
        )
    return Comparison(
        experiment_a=a.experiment,
        experiment_b=b.experiment,
        suite_a=a.suite,
        suite_b=b.suite,
        rubric_id=a.rubric_id,
        min_scenarios=min_scenarios,
        rows=[_difference(x, y, min_scenarios, spread) for x, y in pairs],
        only_in_a=only_a,
        only_in_b=only_b,
        note=note,
    )
