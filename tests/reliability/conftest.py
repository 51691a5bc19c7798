"""The reliability suite's stack: real processes on a namespace, a fake Ollama and a var dir
of its own, 3 reporters; helpers to kill, arm failpoints, restart, and record figures.

Run with `make test-reliability` (see docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from shared import tracking
from shared.settings import Settings
from testkit.fake_models import FAKE_MODELS
from testkit.fake_ollama import FakeModel, FakeOllama
from testkit.processes import free_port
from tests.conftest import gateway_client, stack_running, wait_until
from tipbench import stack

REPORTERS = 3
RESULTS = Path(os.environ.get("TIPBENCH_RELIABILITY_RESULTS", "var/reliability-results.json"))


def prose_reply(model: str, messages: list[dict[str, str]]) -> str:
    """An answer with no list at all: no tips to parse."""
    return "Honestly, just try to have a nice day and take things as they come."


LOG_TAIL_LINES = 40


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test's report carries the tail of every service log (access lines left
    out): on CI that is all there is to read afterwards."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    settings = getattr(item, "funcargs", {}).get("rel_stack")
    if report.when != "call" or not report.failed or settings is None:
        return
    for log in sorted((Path(settings.var_dir) / "log").glob("*.log")):
        lines = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if '"GET /' not in line and '"POST /' not in line
        ]
        report.sections.append((f"tail of {log.name}", "\n".join(lines[-LOG_TAIL_LINES:])))


@pytest.fixture(scope="session")
def rel_fake() -> Iterator[FakeOllama]:
    fake = FakeOllama()
    for model in FAKE_MODELS:
        fake.add(model)
    fake.add(FakeModel("prose:1b", parameter_size="1B", reply=prose_reply))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def rel_settings(
    settings: Settings, rel_fake: FakeOllama, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return settings.model_copy(
        update={
            "namespace": f"{settings.namespace}-rel",
            "gateway_port": free_port(),
            "metrics_port": free_port(),
            "var_dir": str(tmp_path_factory.mktemp("rel-var")),
            "ollama_host": rel_fake.url,
            "ollama_timeout_s": 3.0,
            "ollama_load_timeout_s": 5.0,
            "collect_max_retries": 2,
            # Tests stand for distinct clients with X-Forwarded-For (the per-client limits)
            "proxy_hops": 1,
            # Slow clients are cut after 8 s, not 20: the slow-client test ends sooner
            "request_read_timeout_s": 8.0,
        }
    )


def client_headers(address: str) -> dict[str, str]:
    """Headers of a request from `address`, as the compose proxy would report it."""
    return {"X-Forwarded-For": address}


def start_service(settings: Settings, name: str, faults: str = "") -> None:
    """(Re)start one service of the stack, with failpoints armed if `faults`."""
    service = next(s for s in stack.services(settings, REPORTERS) if s.name == name)
    env = service.env | {"TIPBENCH_FAULTS": faults}
    stack.start(settings, stack.Service(service.name, service.argv, env))


def pid_of(settings: Settings, name: str) -> int:
    return int((Path(settings.var_dir) / "run" / f"{name}.pid").read_text().split()[0])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def kill9(settings: Settings, name: str) -> None:
    """SIGKILL a service's whole process group (the dramatiq parent and its workers)."""
    os.killpg(pid_of(settings, name), signal.SIGKILL)
    stack.stop(settings, name)  # reaps it and removes the pid file


@pytest.fixture(scope="session")
def rel_stack(rel_settings: Settings, mlflow_server: str) -> Iterator[Settings]:
    """gateway, collector, recorder, judge_bridge and 3 reporters, as real processes."""
    with stack_running(rel_settings, REPORTERS) as running:
        yield running


@pytest.fixture
def rel_api(rel_stack: Settings) -> Iterator[httpx.Client]:
    with gateway_client(rel_stack, timeout_s=60) as client:
        yield client


@pytest.fixture
def rel_redis(rel_stack: Settings) -> Iterator[redis.Redis[bytes]]:
    with redis.Redis.from_url(rel_stack.redis_url) as client:
        yield client


def ended_job(api: httpx.Client, job_id: str, timeout_s: float) -> dict[str, Any]:
    """The job once every cell is done or failed."""
    found: dict[str, Any] = wait_until(
        lambda: (
            (j := api.get(f"/api/bench/jobs/{job_id}").json())["status"] != "running"
            and j["status"] != "queued"
            and j
        ),
        timeout_s=timeout_s,
        what=f"job {job_id} to end",
    )
    return found


def dead_letters(settings: Settings, client: redis.Redis[bytes]) -> dict[str, int]:
    """Messages in each dead-letter queue of the stack."""
    return {
        queue: int(client.zcard(settings.key("dramatiq", f"{queue}.XQ")))
        for queue in ("collect", "record", "judge", "report")
    }


def cell_runs(settings: Settings, experiment: str, *, finished_only: bool = False) -> list[Any]:
    """The experiment's active cell runs in MLflow (only the finished ones if asked)."""
    client = tracking.make_client(settings)
    found = tracking.find_experiment(client, experiment)
    assert found is not None, experiment
    query = f"tags.{tracking.TAG_KIND} = 'cell'"
    if finished_only:
        query += " and attributes.status = 'FINISHED'"
    return list(tracking.search_runs(client, str(found.experiment_id), query))


@pytest.fixture(scope="session")
def figures() -> Iterator[Callable[..., None]]:
    """Record a scenario's measured figures; written to RESULTS for docs/reliability.md."""
    results: dict[str, Any] = {}

    def record(scenario: str, **values: Any) -> None:
        results[scenario] = values

    yield record
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


class Clock:
    """Seconds since creation."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        return round(time.monotonic() - self.started, 1)
