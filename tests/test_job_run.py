"""Specs of a job's MLflow parent run, opened by the recorder off the request path, exactly
once (real Redis, the real MLflow server)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from services.collector.deps import CollectorDeps
from services.collector.job_run import job_run_id
from services.collector.session import ModelSession
from shared import tracking
from shared.broker import make_broker
from shared.contracts import BenchRequest
from shared.settings import Settings
from shared.suite_files import builtin_suite
from testkit.cells import a_collect_cell

TIP_V1 = builtin_suite("tip-v1")


@pytest.fixture
def recorder(core_settings: Settings, mlflow_server: str) -> Iterator[CollectorDeps]:
    """The recorder's clients (it never generates: no providers)."""
    client = redis.Redis.from_url(core_settings.redis_url)
    broker = make_broker(core_settings)
    mlflow = tracking.use_tracking_server(core_settings)
    yield CollectorDeps.on(core_settings, client, mlflow, broker, ModelSession({}))
    broker.close()
    client.close()


def a_job(recorder: CollectorDeps) -> tuple[str, BenchRequest]:
    """A job as the gateway leaves it: in Redis, no parent run yet."""
    experiment = f"jobrun-{uuid.uuid4().hex[:8]}"
    request = BenchRequest(
        models=["tidy:1b"],
        prompts=["v1"],
        scenarios=["nurse@evening"],
        suite=f"tip-v1@{TIP_V1.content_version()}",
        experiment=experiment,
    )
    cell = a_collect_cell(experiment=experiment, parent_run_id="")
    recorder.jobs.create(cell.job_id, request, [cell])
    return cell.job_id, request


def parent_runs(recorder: CollectorDeps, experiment: str, job_id: str) -> list[str]:
    experiment_id = tracking.ensure_experiment(recorder.mlflow, experiment)
    query = f"tags.{tracking.TAG_JOB_ID} = '{job_id}' and tags.{tracking.TAG_KIND} = 'job'"
    return [r.info.run_id for r in tracking.search_runs(recorder.mlflow, experiment_id, query)]


def test_a_jobs_parent_run_is_opened_once_by_many_at_once(recorder: CollectorDeps) -> None:
    job_id, request = a_job(recorder)
    assert recorder.jobs.parent_run(job_id) is None
    # When four recorder threads need it at the same moment
    with ThreadPoolExecutor(4) as pool:
        opened = set(pool.map(lambda _: job_run_id(recorder, job_id), range(4)))
    # Then there is one run, noted in the job, holding the request and the rubric
    assert len(opened) == 1
    (run_id,) = opened
    assert parent_runs(recorder, request.experiment, job_id) == [run_id]
    assert recorder.jobs.parent_run(job_id) == run_id
    run = recorder.mlflow.get_run(run_id)
    assert run.data.tags[tracking.TAG_SUITE] == request.suite
    assert run.data.params["models"] == "tidy:1b"
    stored = json.loads(tracking.read_artifact(recorder.mlflow, run, "request.json"))
    assert stored == request.model_dump(mode="json")
    rubric = json.loads(tracking.read_artifact(recorder.mlflow, run, tracking.RUBRIC_ARTIFACT))
    assert rubric == TIP_V1.rubric.as_dict()


def test_a_parent_run_left_by_a_crash_is_found_not_opened_again(recorder: CollectorDeps) -> None:
    job_id, request = a_job(recorder)
    # Given a recorder that created the run and died before noting it in the job
    experiment_id = tracking.ensure_experiment(recorder.mlflow, request.experiment)
    left = recorder.mlflow.create_run(
        experiment_id, tags={tracking.TAG_KIND: "job", tracking.TAG_JOB_ID: job_id}
    ).info.run_id
    # When the next one needs it
    # Then it finds that run and fills it, and opens no other
    assert job_run_id(recorder, job_id) == left
    assert parent_runs(recorder, request.experiment, job_id) == [left]
    assert recorder.mlflow.get_run(left).data.params["models"] == "tidy:1b"
