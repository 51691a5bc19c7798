"""A collector killed with SIGKILL mid-job costs nothing: the job completes, one run per cell."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings
from testkit.fake_ollama import FakeOllama
from tests.conftest import gateway_client, wait_until
from tipbench import stack

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_model(fake_ollama: FakeOllama) -> Iterator[None]:
    fake_ollama.state.generation_delay_s = 1.0
    yield
    fake_ollama.state.generation_delay_s = 0.0


def test_collector_killed_mid_job_resumes_with_exactly_one_run_per_cell(
    running_stack: Settings, slow_model: None
) -> None:
    settings = running_stack
    with gateway_client(settings) as api:
        # Given a job of 8 cells of one second each, two of them done
        posted = api.post(
            "/api/bench/run",
            json={
                "models": ["tidy:1b"],
                "prompts": ["v1"],
                "n_scenarios": 8,
                "experiment": "crash",
            },
        ).json()
        job_url = f"/api/bench/jobs/{posted['job_id']}"
        wait_until(lambda: api.get(job_url).json()["done"] >= 2, timeout_s=60, what="2 cells")

        # When the collector is killed with SIGKILL in the middle of a cell, then restarted
        pid = int((Path(settings.var_dir) / "run" / "collector.pid").read_text().split()[0])
        os.killpg(pid, signal.SIGKILL)
        done_at_kill = api.get(job_url).json()["done"]
        collector = next(s for s in stack.services(settings) if s.name == "collector")
        stack.start(settings, collector)

        # Then the job completes with exactly one finished run per cell
        job = wait_until(
            lambda: (
                (j := api.get(job_url).json())["status"] != "queued"
                and j["done"] + j["failed"] == j["total"]
                and j
            ),
            timeout_s=150,
            what="the job to complete after the restart",
        )
        assert done_at_kill < 8
        assert (job["status"], job["done"], job["failed"]) == ("finished", 8, 0)
        runs = api.get("/api/bench/runs/crash").json()
        assert len(runs) == 8
        assert len({r["cell_key"] for r in runs}) == 8
