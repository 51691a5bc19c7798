"""Outages: Redis restarted, MLflow down, Ollama failing in every way it can."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from shared import tracking
from shared.settings import Settings
from testkit.fake_ollama import FakeModel, FakeOllama, tidy_reply
from testkit.processes import free_port, settings_env
from tests.conftest import gateway_client, unavailable, wait_until
from tests.reliability.conftest import (
    Clock,
    alive,
    cell_runs,
    dead_letters,
    ended_job,
    pid_of,
    start_service,
)
from tipbench import stack

pytestmark = pytest.mark.slow


# --- Redis restarted -------------------------------------------------------------------


class OwnRedis:
    """A test-owned redis-server with append-only persistence, restartable on its port."""

    def __init__(self, folder: Path) -> None:
        server = shutil.which("redis-server")
        if server is None:
            unavailable("redis-server")
        self.argv = [
            str(server),
            "--port",
            str(free_port()),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ]
        self.port = int(self.argv[2])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL)
        wait_until(self._answers, timeout_s=10, what="redis-server to answer")

    def _answers(self) -> bool:
        try:
            with redis.Redis.from_url(self.url, socket_timeout=1) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: redis flushes the append-only file and exits
            self.process.wait(timeout=20)
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_a_redis_restart_mid_job_loses_nothing_and_needs_no_restart_of_the_workers(
    settings: Settings,
    mlflow_server: str,
    rel_fake: FakeOllama,
    own_redis: OwnRedis,
    tmp_path: Path,
    figures: Callable[..., None],
) -> None:
    own = settings.model_copy(
        update={
            "redis_url": own_redis.url,
            "gateway_port": free_port(),
            "metrics_port": free_port(),
            "var_dir": str(tmp_path / "var"),
            "ollama_host": rel_fake.url,
        }
    )
    rel_fake.state.generation_delay_s = 0.3
    started: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings_env(own).items():
            patch.setenv(name, value)
        try:
            for service in stack.services(own):
                stack.start(own, service)
                started.append(service.name)
            stack.wait_http(f"http://127.0.0.1:{own.gateway_port}/healthz", 30, "the gateway")
            pids = {name: pid_of(own, name) for name in started}
            with gateway_client(own, timeout_s=60) as api:
                body = {
                    "models": ["tidy:1b"],
                    "prompts": ["v1", "v2-mentor"],
                    "n_scenarios": 8,
                    "experiment": "rel-redis",
                }
                job_id = api.post("/api/bench/run", json=body).json()["job_id"]
                wait_until(
                    lambda: api.get(f"/api/bench/jobs/{job_id}").json()["done"] >= 3,
                    timeout_s=60,
                    what="3 cells",
                )
                clock = Clock()
                own_redis.stop()
                time.sleep(3)
                own_redis.start()
                restarted_in = clock()
                job = ended_job(api, job_id, timeout_s=240)
                ended_in = clock()
            assert (job["status"], job["done"], job["failed"]) == ("finished", 16, 0), job
            runs = cell_runs(own, finished_only=True, experiment="rel-redis")
            keys = Counter(r.data.tags[tracking.TAG_CELL_KEY] for r in runs)
            assert len(runs) == 16 and len(keys) == 16
            assert all(alive(pid) for pid in pids.values()), "a worker had to be restarted"
        finally:
            rel_fake.state.generation_delay_s = 0.0
            for name in started:
                stack.stop(own, name)
    figures(
        "Redis restarted mid-job",
        cells=16,
        redis_down_s=restarted_in,
        job_ended_after_restart_s=ended_in,
        finished_runs=len(runs),
        workers_restarted=0,
    )


# --- MLflow down ------------------------------------------------------------------------


def test_mlflow_down_for_30_s_delays_cells_and_loses_none(
    settings: Settings,
    rel_stack: Settings,
    rel_api: httpx.Client,
    rel_fake: FakeOllama,
    figures: Callable[..., None],
) -> None:
    rel_fake.state.generation_delay_s = 0.2
    try:
        body = {
            "models": ["tidy:1b"],
            "prompts": ["v1", "v2-mentor"],
            "n_scenarios": 8,
            "experiment": "rel-mlflow",
        }
        job_id = rel_api.post("/api/bench/run", json=body).json()["job_id"]
        wait_until(
            lambda: rel_api.get(f"/api/bench/jobs/{job_id}").json()["done"] >= 3,
            timeout_s=60,
            what="3 cells",
        )
        clock = Clock()
        stack.stop(settings, "mlflow")
        done_while_down = []
        while clock() < 30:
            done_while_down.append(rel_api.get(f"/api/bench/jobs/{job_id}").json()["done"])
            time.sleep(1)
        stack.start(settings, stack.mlflow_service(settings))
        stack.wait_http(f"{settings.mlflow_uri}/health", stack.MLFLOW_READY_TIMEOUT_S, "MLflow")
        back_at = clock()
        job = ended_job(rel_api, job_id, timeout_s=300)
        ended_at = clock()
    finally:
        rel_fake.state.generation_delay_s = 0.0
    assert (job["status"], job["done"], job["failed"]) == ("finished", 16, 0), job
    runs = cell_runs(rel_stack, finished_only=True, experiment="rel-mlflow")
    assert len(runs) == 16 and len({r.data.tags[tracking.TAG_CELL_KEY] for r in runs}) == 16
    # a cell counts as done only with its run: nothing was marked done while MLflow was away
    # beyond what a run written just before the stop explains
    assert max(done_while_down) - done_while_down[0] <= 1, done_while_down
    figures(
        "MLflow down 30 s mid-job",
        cells=16,
        done_when_stopped=done_while_down[0],
        done_while_down=max(done_while_down),
        mlflow_back_at_s=back_at,
        job_ended_at_s=ended_at,
        finished_runs=len(runs),
    )


# --- Ollama faults ----------------------------------------------------------------------

FAULTS: dict[str, dict[str, Any]] = {
    "connection refused": {"status": "failed", "error": "Ollama unreachable"},
    "HTTP 500": {"status": "failed", "error": "Ollama answered 500"},
    "hang past the timeout": {"status": "failed", "error": "timed out"},
    "truncated body": {"status": "failed", "error": "malformed answer"},
    "empty answer": {"status": "failed", "error": "an empty message"},
    "model missing (404)": {"status": "failed", "error": "has no model"},
    "answer with no tips": {"status": "finished", "error": None},
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_ollama_fault_ends_in_its_documented_state(
    fault: str,
    rel_stack: Settings,
    rel_api: httpx.Client,
    rel_fake: FakeOllama,
    rel_redis: redis.Redis[bytes],
    figures: Callable[..., None],
) -> None:
    slug = re.sub(r"[^a-z0-9]+", "-", fault).strip("-")
    model = "prose:1b" if fault == "answer with no tips" else f"fault-{slug}:1b"
    if model not in rel_fake.state.models:
        rel_fake.add(FakeModel(model, parameter_size="1B", reply=tidy_reply))
    state = rel_fake.state
    collector_pid = pid_of(rel_stack, "collector")
    dead_before = dead_letters(rel_stack, rel_redis)["collect"]
    body = {"models": [model], "prompts": ["v1"], "n_scenarios": 1, "experiment": "rel-ollama"}
    if fault == "HTTP 500":
        state.failing[model] = 500
    elif fault == "hang past the timeout":
        state.hanging[model] = 8.0  # over the 3 s call and 5 s load timeouts
    elif fault == "truncated body":
        state.malformed.add(model)
    elif fault == "empty answer":
        state.empty.add(model)
    clock = Clock()
    try:
        if fault == "connection refused":
            body["allow_unknown_size"] = True  # the gateway cannot ask either
            rel_fake.pause()
        if fault == "model missing (404)":
            stack.stop(rel_stack, "collector")  # so that the model goes before generation
        posted = rel_api.post("/api/bench/run", json=body)
        assert posted.status_code == 202, posted.text
        if fault == "model missing (404)":
            del state.models[model]  # gone between submission and generation
            start_service(rel_stack, "collector")
            collector_pid = pid_of(rel_stack, "collector")
        job = ended_job(rel_api, posted.json()["job_id"], timeout_s=180)
    finally:
        if fault == "connection refused":
            rel_fake.resume()
        state.failing.pop(model, None)
        state.hanging.pop(model, None)
        state.malformed.discard(model)
        state.empty.discard(model)
    expected = FAULTS[fault]
    assert job["status"] == expected["status"], job
    if expected["error"]:
        (error,) = job["failed_cells"].values()
        assert expected["error"] in error, error
        # the cell is marked failed inside the actor; its message reaches the dead letters
        # when the actor has returned (dramatiq's nack), a moment later
        wait_until(
            lambda: dead_letters(rel_stack, rel_redis)["collect"] >= dead_before + 1,
            timeout_s=10,
            what="the cell's message in the dead letters",
        )
        assert dead_letters(rel_stack, rel_redis)["collect"] == dead_before + 1
    else:
        runs = [
            r
            for r in cell_runs(rel_stack, finished_only=True, experiment="rel-ollama")
            if r.data.params.get("model") == model
        ]
        assert runs, "the answer was not recorded"
        metrics = runs[-1].data.metrics
        assert (metrics["n_tips_parsed"], metrics["auto_format_ok"]) == (0, 0)  # flagged
    assert pid_of(rel_stack, "collector") == collector_pid and alive(collector_pid)  # no crash loop
    figures(
        f"Ollama fault: {fault}",
        status=job["status"],
        ended_after_s=clock(),
        error=next(iter(job["failed_cells"].values()), None),
    )
