"""A job's MLflow parent run, opened by the recorder off the request path, exactly once.

The gateway answers a bench request as soon as the job and its cells are in Redis and
sends OpenJobRun; the recorder opens the run then, or before the job's first cell run if
that comes first, or when the job ends before either (every cell refused). Whoever comes
first opens it under a lock; a crash between the run's creation and the note of its id in
the job record is repaired by finding the run in MLflow by its tags.
"""

from __future__ import annotations

from mlflow.entities import Param

from services.collector.deps import CollectorDeps
from shared import tracking
from shared.contracts import BenchRequest, CollectCell

# Opening takes a few MLflow calls; a recorder killed while holding the lock frees it then.
LOCK_TIMEOUT_S = 60


def job_run_id(deps: CollectorDeps, job_id: str) -> str:
    """The id of the job's parent run, opened now if it is not yet (JobNotFound: no job)."""
    known = deps.jobs.parent_run(job_id)
    if known:
        return known
    lock = deps.redis.lock(
        deps.settings.key("job-run-lock", job_id),
        timeout=LOCK_TIMEOUT_S,
        blocking_timeout=LOCK_TIMEOUT_S,
    )
    with lock:
        known = deps.jobs.parent_run(job_id)  # opened while this one waited for the lock
        if known:
            return known
        run_id = _open(deps, job_id)
        deps.jobs.set_parent_run(job_id, run_id)
        return run_id


def parent_run_of(deps: CollectorDeps, cell: CollectCell) -> str:
    """A cell's parent run: the one its message names (cells planned before the recorder
    opened parent runs), else its job's, opened now if need be."""
    return cell.parent_run_id or job_run_id(deps, cell.job_id)


def _open(deps: CollectorDeps, job_id: str) -> str:
    """Create the parent run (or find the one a crash left), then fill it; idempotent."""
    request = deps.jobs.request(job_id)
    with deps.experiments.using(request.experiment) as experiment_id:
        return _open_in(deps, job_id, request, experiment_id)


def _open_in(deps: CollectorDeps, job_id: str, request: BenchRequest, experiment_id: str) -> str:
    suite = deps.suites.resolve(request.suite)
    query = (
        f"tags.{tracking.TAG_JOB_ID} = {tracking.quote(job_id)}"
        f" and tags.{tracking.TAG_KIND} = 'job'"
    )
    found = next(tracking.search_runs(deps.mlflow, experiment_id, query), None)
    if found is not None:
        run_id = found.info.run_id
    else:
        run_id = deps.mlflow.create_run(
            experiment_id,
            run_name=f"job {job_id[:8]}",
            tags={
                tracking.TAG_KIND: "job",
                tracking.TAG_JOB_ID: job_id,
                tracking.TAG_RUBRIC_ID: suite.rubric.id,
                tracking.TAG_SUITE: request.suite,
            },
        ).info.run_id
    # Logging the same params again is allowed, and the artifacts are overwritten whole:
    # a run found after a crash is filled the same way as a new one.
    deps.mlflow.log_batch(
        run_id,
        params=[
            Param(name, ",".join(value) if isinstance(value, list) else str(value)[:6000])
            for name, value in request.model_dump(mode="json").items()
        ],
    )
    deps.mlflow.log_dict(run_id, request.model_dump(mode="json"), "request.json")
    deps.mlflow.log_dict(run_id, suite.rubric.as_dict(), tracking.RUBRIC_ARTIFACT)
    return str(run_id)
