"""Specs of the judge agreement statistics, on hand-computed tables and against `krippendorff`."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from services.reporter.agreement import (
    agreement,
    judge_scores,
    krippendorff_alpha_ordinal,
    view_of,
    weighted_kappa,
)
from services.reporter.leaderboard import Cell, views
from shared.suite_files import builtin_suite

RUBRIC = builtin_suite("tip-v1").rubric


@pytest.mark.parametrize(
    ("a", "b", "categories", "kappa"),
    [
        ([1, 2, 3], [1, 2, 3], range(1, 6), 1.0),  # perfect agreement
        ([1, 1, 2, 2], [1, 2, 1, 2], [1, 2], 0.0),  # seen 2 = chance 2: nothing beyond chance
        ([1, 5], [5, 1], range(1, 6), -1.0),  # seen 2, chance 1: as far apart as possible
        ([3, 3], [3, 3], range(1, 6), None),  # no spread: undefined
    ],
)
def test_weighted_kappa_matches_hand_computed_tables(
    a: list[int], b: list[int], categories: range | list[int], kappa: float | None
) -> None:
    result = weighted_kappa(a, b, list(categories))
    assert result == (pytest.approx(kappa) if kappa is not None else None)


def test_krippendorff_alpha_matches_the_reference_package() -> None:
    # three judges, eight runs, one missing score
    table = [
        [1, 2, 3, 3, 2, 1, 4, 5],
        [1, 2, 3, 3, 2, 2, 4, 5],
        [2, 3, 3, 3, 2, 4, 4, None],
    ]
    units = [[row[u] for row in table if row[u] is not None] for u in range(8)]
    reference = krippendorff.alpha(
        reliability_data=np.array(
            [[np.nan if v is None else v for v in row] for row in table], dtype=float
        ),
        level_of_measurement="ordinal",
    )
    assert krippendorff_alpha_ordinal(units) == pytest.approx(reference)
    assert krippendorff_alpha_ordinal([[3, 3], [4, 4]]) == pytest.approx(1.0)


def test_agreement_reads_judge_metrics_and_lists_disagreements() -> None:
    def scores(rel: int, act: int, tone: int) -> dict[str, float]:
        values = {"relevance": rel, "actionability": act, "tone": tone, "format_ok": 1}
        return values | {"overlong": 0, "composite": rel + act + tone + 2}

    metrics = {
        "judge/ann/relevance": 5.0,
        "judge/ann/actionability": 4.0,
        "judge/ann/tone": 4.0,
        "judge/ann/format_ok": 1.0,
        "judge/ann/overlong": 0.0,
        "judge/ann/composite": 999.0,  # whatever MLflow holds, the composite is recomputed
        "relevance": 5.0,
        "judge/llm:q/relevance": 2.0,  # incomplete: left out
        "judge/mallory/relevance": 9.0,  # off the rubric: left out
        "judge/mallory/actionability": 4.0,
        "judge/mallory/tone": 4.0,
        "judge/mallory/format_ok": 1.0,
        "judge/mallory/overlong": 0.0,
    }
    assert judge_scores(metrics, RUBRIC) == {"ann": scores(5, 4, 4)}
    runs = {
        "r1": {"ann": scores(5, 4, 4), "bob": scores(5, 4, 3)},
        "r2": {"ann": scores(2, 2, 3), "bob": scores(4, 2, 3)},
        "r3": {"ann": scores(3, 3, 3)},
    }
    result = agreement(runs, RUBRIC)
    assert result.judges == ["ann", "bob"]
    (pair,) = result.pairs
    assert (pair.judge_a, pair.judge_b, pair.n_shared) == ("ann", "bob", 2)
    assert set(pair.kappa) == {"relevance", "actionability", "tone", "composite"}
    assert pair.kappa["actionability"].value == pytest.approx(1.0)
    assert pair.kappa["actionability"].n == 2
    assert (pair.exact["relevance"], pair.adjacent["tone"]) == (0.5, 1.0)
    assert [(d.run_id, d.item, d.scores) for d in result.disagreements] == [
        ("r2", "relevance", {"ann": 2, "bob": 4})
    ]


def test_a_view_keeps_one_judges_scores_or_the_panel_mean() -> None:
    metrics = {
        "latency_s": 1.0,
        "composite": 15.0,
        "tone": 4.0,
        "judge/ann/composite": 15.0,
        "judge/ann/tone": 4.0,
        "judge/bob/composite": 11.0,
        "judge/bob/tone": 2.0,
    }
    names = ("tone",)
    assert view_of(metrics, "bob", names) == {"latency_s": 1.0, "tone": 2.0}
    assert view_of(metrics, "panel", names) == {"latency_s": 1.0, "tone": 3.0}
    assert view_of(metrics, "carol", names) == {"latency_s": 1.0}


def test_every_view_of_the_leaderboard_has_the_judges_agreement() -> None:
    # Given two runs scored by ann and bob, 3 points apart on relevance
    suite = builtin_suite("tip-v1")
    items = {"actionability": 4.0, "tone": 4.0, "format_ok": 1.0, "overlong": 0.0}
    cells = [
        Cell(
            f"run-{scenario}",
            ("tidy:1b", "v1"),
            scenario,
            {},
            "",
            {
                f"judge/{judge}/{name}": value
                for judge, relevance in (("ann", 1.0), ("bob", 4.0))
                for name, value in (items | {"relevance": relevance}).items()
            },
        )
        for scenario in ("nurse@morning", "student@evening")
    ]
    # When the reporter builds its views
    boards = views("apart", cells, 1, suite)
    # Then the primary, each judge's and the panel's boards all carry the same agreement
    assert [b.view for b in boards] == ["primary", "ann", "bob", "panel"]
    assert {b.agreement.model_dump_json() for b in boards} == {
        boards[0].agreement.model_dump_json()
    }
    assert [(d.run_id, d.item) for d in boards[-1].agreement.disagreements] == [
        ("run-nurse@morning", "relevance"),
        ("run-student@evening", "relevance"),
    ]
