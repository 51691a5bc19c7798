"""The shared report of a rebuild: the board, the suite and every run's answer, as HTML.

A run's answer and params are kept in Redis (AnswerStore): the recorder adds each run as
it writes it, and a rebuild reads from MLflow, once, any run missing there (after a Redis
loss, or recorded by an earlier version); later rebuilds read them all in one call. A
rebuild reads at most NEW_ANSWERS_PER_REBUILD runs from MLflow (three requests each, five
for a run recorded before the cell.json bundle), so the first rebuild of a large
experiment stays well inside the rebuild lock's expiry; the next rebuilds read the rest.
"""

from __future__ import annotations

import logging

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from services.reporter.leaderboard import Cell, with_composite
from shared import tracking
from shared.contracts import Leaderboard
from shared.report import ReportAnswer, render_report
from shared.stores.answers import AnswerStore, RunAnswer
from shared.suite import Suite

NEW_ANSWERS_PER_REBUILD = 200
log = logging.getLogger("tipbench.reporter")


def read_run(client: MlflowClient, run_id: str) -> RunAnswer | None:
    """A run's answer and reproducibility params from MLflow; None if its answer cannot be
    read now (it is tried again at the next rebuild)."""
    run = client.get_run(run_id)
    params = run.data.params
    try:
        answer = tracking.read_cell_part(client, run, tracking.CANDIDATES_ARTIFACT)["answer"]
    except (MlflowException, OSError, ValueError, KeyError) as exc:
        log.warning("run %s: its answer cannot be read (%s)", run_id, exc)
        return None
    return RunAnswer.of(str(answer), params)


def run_answers(
    client: MlflowClient,
    store: AnswerStore,
    experiment: str,
    cells: list[Cell],
    limit: int = NEW_ANSWERS_PER_REBUILD,
) -> tuple[dict[str, RunAnswer], int]:
    """The cells' answers: those read before from Redis, up to `limit` new ones from
    MLflow; and how many new ones were left for a later rebuild."""
    known = store.get(experiment)
    new = [c.run_id for c in cells if c.run_id not in known]
    read = {run_id: read_run(client, run_id) for run_id in new[:limit]}
    fresh = {run_id: answer for run_id, answer in read.items() if answer is not None}
    store.add(experiment, fresh)
    return known | fresh, len(new[limit:])


def build_report(
    client: MlflowClient,
    store: AnswerStore,
    board: Leaderboard,
    cells: list[Cell],
    suite: Suite,
) -> tuple[str, int]:
    """The report of the primary board, each answer with the composite the board used; and
    how many answers are still to be read (the report says so where they go)."""
    answers, unread = run_answers(client, store, board.experiment, cells)
    shown = []
    for cell in cells:
        found = answers.get(cell.run_id)
        shown.append(
            ReportAnswer(
                run_id=cell.run_id,
                model=cell.row[0],
                prompt_version=cell.row[1],
                scenario_id=cell.scenario,
                composite=with_composite(cell.metrics, suite.rubric).get("composite"),
                answer=found.answer if found else None,
                params=found.params if found else {},
            )
        )
    return render_report(board, suite, shown), unread
