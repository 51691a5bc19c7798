"""The recording step: write a generated cell's MLflow run, exactly once per cell key."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag

from services.collector.cells import finish_cell
from services.collector.deps import CollectorDeps, GeneratedCell
from services.collector.job_run import parent_run_of
from services.collector.record_index import BEGUN, RecordIndex
from shared import tracking
from shared.contracts import CollectCell
from shared.faults import fault_point
from shared.messaging import send
from shared.stores.answers import AnswerStore, RunAnswer


def finished_run_id(deps: CollectorDeps, experiment_id: str, key: str) -> str | None:
    """The finished run of a cell, if any; unfinished leftovers of a crash are deleted."""
    finished: str | None = None
    for run in tracking.search_runs(
        deps.mlflow, experiment_id, f"tags.{tracking.TAG_CELL_KEY} = {tracking.quote(key)}"
    ):
        if run.info.status == tracking.RUN_FINISHED and finished is None:
            finished = run.info.run_id
        else:
            deps.mlflow.delete_run(run.info.run_id)
    return finished


def record_cell(cell: CollectCell, deps: CollectorDeps) -> str | None:
    """Write the cell's run (unless it has one), mark the cell done; returns the run id.

    If the generation is gone (Redis lost it) and there is no run, the cell is sent back
    to the collector to be generated again, and None is returned.
    """
    with deps.experiments.using(cell.experiment) as experiment_id:
        return _record(cell, deps, experiment_id)


def _record(cell: CollectCell, deps: CollectorDeps, experiment_id: str) -> str | None:
    index = RecordIndex(deps.redis, deps.settings)
    state = index.state(deps.mlflow, experiment_id, cell)
    if state == "new":
        run_id = None
    elif state == BEGUN:  # a delivery before this one may have left a run behind
        run_id = finished_run_id(deps, experiment_id, cell.cell_key)
    else:
        run_id = state
    if run_id is None:
        generated = deps.generated(cell.cell_key)
        if generated is None:
            send(deps.broker, cell)
            return None
        index.begin(cell)
        run_id = write_run(deps, experiment_id, cell, generated)
        # the reporter's copy of the answer, so that its next rebuild need not read the run
        answer = generated.artifacts[tracking.CANDIDATES_ARTIFACT]["answer"]  # type: ignore[index]
        AnswerStore(deps.redis, deps.settings).add(
            cell.experiment, {run_id: RunAnswer.of(str(answer), generated.params)}
        )
    index.recorded(cell, run_id)
    finish_cell(cell, deps, ok=True, run_id=run_id)
    deps.forget_generated(cell.cell_key)
    return run_id


def write_run(
    deps: CollectorDeps, experiment_id: str, cell: CollectCell, generated: GeneratedCell
) -> str:
    """Create, fill and finish the cell's run in few calls.

    A crash before the end leaves an unfinished run that the next delivery deletes and
    replaces.
    """
    parent_run_id = parent_run_of(deps, cell)
    run = deps.mlflow.create_run(
        experiment_id,
        run_name=f"{cell.model} | {cell.prompt_version} | {cell.scenario_id}",
        tags={
            tracking.TAG_PARENT: parent_run_id,
            tracking.TAG_KIND: "cell",
            tracking.TAG_JOB_ID: cell.job_id,
            tracking.TAG_CELL_KEY: cell.cell_key,
            tracking.TAG_JUDGE_PENDING: "true",
            tracking.TAG_RUBRIC_ID: str(generated.artifacts[tracking.RUBRIC_ARTIFACT]["id"]),  # type: ignore[index]
        },
    )
    run_id: str = run.info.run_id
    fault_point("record.run_created")  # reliability suite: a crash with the run unfinished
    # The generation as an MLflow trace linked to the run: judges' assessments attach to it.
    span = deps.mlflow.start_trace(
        name="generate_tips",
        inputs={"messages": generated.artifacts[tracking.PROMPT_ARTIFACT]},
        experiment_id=experiment_id,
        run_id=run_id,
        tags={tracking.TAG_CELL_KEY: cell.cell_key},
    )
    deps.mlflow.end_trace(span.trace_id, outputs=generated.artifacts[tracking.CANDIDATES_ARTIFACT])
    now = int(time.time() * 1000)
    deps.mlflow.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in generated.metrics.items()],
        params=[Param(k, v) for k, v in generated.params.items()],
        tags=[RunTag(tracking.TAG_TRACE_ID, span.trace_id)],
    )
    # one upload for the whole record (each part was a file of its own: three more requests)
    with tempfile.TemporaryDirectory(prefix="tipbench-cell-") as folder:
        path = Path(folder, tracking.CELL_ARTIFACT)
        record = tracking.cell_record(generated.artifacts)
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), "utf-8")
        tracking.artifact_store(deps.mlflow, run).log_artifact(str(path))  # type: ignore[no-untyped-call]
    deps.mlflow.set_terminated(run_id, tracking.RUN_FINISHED)
    return run_id
