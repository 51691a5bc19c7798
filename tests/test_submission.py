"""Specs of a submission's path: the job and its cells go to Redis, MLflow is left to the
recorder (in-process gateway, real Redis, the real MLflow server)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import redis
from flask import Flask

from services.gateway.app import create_app
from shared import tracking
from shared.settings import Settings
from shared.suite_files import builtin_suite
from testkit.processes import free_port
from tests.conftest import auth

ONE_CELL = {"models": ["gguf:smollm2-135m"], "prompts": ["v1"], "n_scenarios": 1}


def test_a_submission_asks_mlflow_nothing_once_its_experiment_is_known(
    app: Flask, core_settings: Settings
) -> None:
    # Given an experiment that has had a job
    body = ONE_CELL | {"experiment": f"submit-{uuid.uuid4().hex[:8]}"}
    first = app.test_client().post("/api/bench/run", json=body, headers=auth())
    assert first.status_code == 202, first.text
    assert first.json["parent_run_id"] is None  # the recorder opens it
    # When a gateway whose MLflow cannot be reached takes the next job of it
    nowhere = f"http://127.0.0.1:{free_port()}"
    cut_off = create_app(core_settings.model_copy(update={"mlflow_uri": nowhere}))
    second = cut_off.test_client().post("/api/bench/run", json=body, headers=auth())
    # Then the job is accepted, recorded and queued all the same
    assert second.status_code == 202, second.text
    job = app.test_client().get(f"/api/bench/jobs/{second.json['job_id']}", headers=auth())
    assert (job.json["status"], job.json["total"], job.json["parent_run_id"]) == (
        "queued",
        1,
        None,
    )


def test_an_experiments_suite_is_kept_in_mlflow_when_redis_loses_its_copy(
    app: Flask, core_settings: Settings
) -> None:
    experiment = f"claim-{uuid.uuid4().hex[:8]}"
    body = ONE_CELL | {"experiment": experiment}
    assert app.test_client().post("/api/bench/run", json=body, headers=auth()).status_code == 202
    tip_v1 = f"tip-v1@{builtin_suite('tip-v1').content_version()}"
    mlflow = tracking.make_client(core_settings)
    found = tracking.find_experiment(mlflow, experiment)
    assert found is not None and found.tags[tracking.TAG_SUITE] == tip_v1
    # When Redis loses its copy of the claim
    with redis.Redis.from_url(core_settings.redis_url) as client:
        assert client.hdel(core_settings.key("experiment-suites"), experiment) == 1
    # Then another suite is still refused for the experiment, as MLflow says
    other = body | {"suite": "tip-v2", "prompts": ["v1"]}
    refused = app.test_client().post("/api/bench/run", json=other, headers=auth())
    assert refused.status_code == 409, refused.text
    assert tip_v1 in refused.json["error"]["message"]
    # and the same suite goes on
    assert app.test_client().post("/api/bench/run", json=body, headers=auth()).status_code == 202


def test_submissions_at_once_cannot_pass_an_experiments_room_together(
    core_settings: Settings, mlflow_server: str
) -> None:
    # Given an experiment whose room is 6 queued cells (no worker takes them here)
    tight = create_app(core_settings.model_copy(update={"max_queued_cells_per_experiment": 6}))
    body = {
        "models": ["gguf:smollm2-135m"],
        "prompts": ["v1"],
        "n_scenarios": 3,
        "experiment": f"room-{uuid.uuid4().hex[:8]}",
    }
    assert tight.test_client().post("/api/bench/run", json=body, headers=auth()).status_code == 202
    # When twelve 3-cell jobs are submitted at the same moment
    start = threading.Barrier(12)

    def submit(_: int) -> int:
        client = tight.test_client()
        start.wait()
        return client.post("/api/bench/run", json=body, headers=auth()).status_code

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(submit, range(12)))
    # Then exactly one more fits, and the others are refused with the reason
    assert sorted(answers) == [202] + [422] * 11, answers


def test_the_default_cell_limit_of_a_job_binds(app: Flask) -> None:
    # 16 models x 3 prompts x 24 scenarios x 3 repeats of tip-v2: 3,456 cells
    body = {
        "suite": "tip-v2",
        "models": [f"model-{i}:1b" for i in range(16)],
        "repeats": 3,
        "experiment": f"huge-{uuid.uuid4().hex[:8]}",
    }
    refused = app.test_client().post("/api/bench/run", json=body, headers=auth())
    assert refused.status_code == 422, refused.text
    assert "3456 cells; the limit is 2000" in refused.json["error"]["message"]
