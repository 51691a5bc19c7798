"""Model-major scheduling, retry and cancel, through the real stack and the fake Ollama."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.settings import Settings
from testkit.fake_ollama import FakeOllama
from tests.conftest import wait_until

pytestmark = pytest.mark.slow
ENDED = ("finished", "partial", "failed", "cancelled")


@pytest.fixture(autouse=True)
def fresh_fake(fake_ollama: FakeOllama) -> Iterator[None]:
    fake_ollama.state.reset()
    yield
    fake_ollama.state.reset()


def ended_job(api: httpx.Client, job_id: str, timeout_s: float = 120) -> Any:
    return wait_until(
        lambda: (
            (j := api.get(f"/api/bench/jobs/{job_id}").json())["status"] in ENDED
            and j["done"] + j["failed"] == j["total"]
            and j
        ),
        timeout_s=timeout_s,
        what=f"job {job_id} to end",
    )


def test_a_48_cell_job_loads_each_model_once_and_never_two_at_a_time(
    api: httpx.Client, fake_ollama: FakeOllama
) -> None:
    models = ["tidy:1b", "tidy-b:0.5b", "tidy-c:3b", "tidy-d:1.5b"]
    body = {
        "models": models,
        "prompts": ["v1", "v2-mentor", "v3-few-shot"],
        "n_scenarios": 4,
        "experiment": "sched-48",
    }
    job_id = api.post("/api/bench/run", json=body).json()["job_id"]
    job = ended_job(api, job_id)
    assert (job["status"], job["done"]) == ("finished", 48)
    assert fake_ollama.state.loads == models
    assert fake_ollama.state.max_resident == 1
    assert fake_ollama.state.resident == set()  # the last model was unloaded after its last cell
    assert job["models_left"] == {}


def test_two_jobs_submitted_together_do_not_interleave_models(
    api: httpx.Client, fake_ollama: FakeOllama
) -> None:
    body = {
        "models": ["tidy-b:0.5b", "tidy-d:1.5b"],
        "prompts": ["v1"],
        "n_scenarios": 4,
        "experiment": "sched-two",
    }
    ids: list[str] = []

    def submit() -> None:
        ids.append(api.post("/api/bench/run", json=body).json()["job_id"])

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for job_id in ids:
        assert ended_job(api, job_id)["status"] == "finished"
    assert fake_ollama.state.loads == ["tidy-b:0.5b", "tidy-d:1.5b"] * 2


def test_failed_cells_end_the_job_partial_and_retry_reruns_only_them(
    api: httpx.Client, fake_ollama: FakeOllama, running_stack: Settings
) -> None:
    # Given a model whose every generation answers 500
    fake_ollama.state.failing["tidy-c:3b"] = 500
    body = {
        "models": ["tidy:1b", "tidy-c:3b"],
        "prompts": ["v1"],
        "n_scenarios": 2,
        "experiment": "sched-retry",
    }
    job_id = api.post("/api/bench/run", json=body).json()["job_id"]
    # When its retries are exhausted
    job = ended_job(api, job_id)
    # Then the job is partial and names the failed cells and why
    assert (job["status"], job["done"], job["failed"]) == ("partial", 2, 2)
    assert all(
        "failed after 1 retries" in e and "500" in e and "injected failure" in e
        for e in job["failed_cells"].values()
    )
    chats = [c["model"] for c in fake_ollama.state.calls_to("/api/chat")]
    assert chats.count("tidy-c:3b") == 2 * (1 + running_stack.collect_max_retries)

    # When the model recovers and the job is retried
    fake_ollama.state.failing.clear()
    retried = api.post(f"/api/bench/jobs/{job_id}/retry")
    assert retried.status_code == 202
    assert sorted(retried.json()["retried"]) == sorted(job["failed_cells"])
    # Then only the failed cells run again, and every cell has one run
    job = ended_job(api, job_id)
    assert (job["status"], job["done"], job["failed"]) == ("finished", 4, 0)
    runs = api.get("/api/bench/runs/sched-retry").json()
    assert sorted(r["params"]["model"] for r in runs) == ["tidy-c:3b"] * 2 + ["tidy:1b"] * 2
    assert [c["model"] for c in fake_ollama.state.calls_to("/api/chat")].count("tidy:1b") == 2


def test_cancel_skips_the_cells_not_yet_generated(
    api: httpx.Client, fake_ollama: FakeOllama
) -> None:
    fake_ollama.state.generation_delay_s = 0.5
    body = {
        "models": ["tidy:1b"],
        "prompts": ["v1", "v2-mentor"],
        "n_scenarios": 8,
        "experiment": "sched-cancel",
    }
    job_id = api.post("/api/bench/run", json=body).json()["job_id"]
    wait_until(
        lambda: api.get(f"/api/bench/jobs/{job_id}").json()["done"] >= 1,
        timeout_s=30,
        what="a cell",
    )
    cancelled = api.post(f"/api/bench/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    job = ended_job(api, job_id)
    assert job["status"] == "cancelled"
    assert job["done"] < 16 and job["done"] + job["failed"] == 16
    assert set(job["failed_cells"].values()) == {"cancelled"}
    assert len(fake_ollama.state.calls_to("/api/chat")) == job["done"]
    again = api.post(f"/api/bench/jobs/{job_id}/cancel")
    assert again.status_code == 409 and "already ended" in again.json()["error"]["message"]
