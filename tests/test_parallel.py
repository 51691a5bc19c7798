"""Providers that serve parallel requests: up to N generations of the loaded model at
once, never two models, each cell once (services/collector/session.py)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.collector.providers import GenerationOptions
from services.collector.providers.ollama import OllamaProvider
from services.collector.session import ModelSession
from shared.errors import ProviderBadResponse
from shared.settings import Settings
from testkit.fake_ollama import FakeOllama
from testkit.processes import free_port
from tests.conftest import gateway_client, stack_running, wait_until
from tipbench import stack

OPTIONS = GenerationOptions(temperature=0.0, seed=7, num_predict=50, num_ctx=2048)
MESSAGES = [{"role": "user", "content": "three tips"}]


@pytest.fixture
def fake(fake_ollama: FakeOllama) -> Iterator[FakeOllama]:
    fake_ollama.state.reset()
    fake_ollama.state.slots = 4
    fake_ollama.state.generation_delay_s = 0.2
    yield fake_ollama
    fake_ollama.state.reset()


def generate_all(session: ModelSession, provider: OllamaProvider, models: list[str]) -> list[str]:
    """8 threads take the cells in order, as the collector's threads take messages."""
    cells: queue.Queue[tuple[int, str]] = queue.Queue()
    for index, model in enumerate(models):
        cells.put((index, model))
    done: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        while True:
            try:
                index, model = cells.get_nowait()
            except queue.Empty:
                return
            with session.generating(model, max_model_b=4.0, allow_unknown_size=False) as held:
                provider.generate(held.ref.name, MESSAGES, OPTIONS)
            with lock:
                done.append(f"{model}#{index}")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return done


def models_overlap(fake: FakeOllama, first: str, second: str) -> bool:
    """True if a chat of one model ran while a chat of the other did."""
    spans = fake.state.model_spans
    a = [(start, end) for name, start, end in spans if name == first]
    b = [(start, end) for name, start, end in spans if name == second]
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def test_up_to_n_generations_of_the_loaded_model_run_at_once_and_never_two_models(
    fake: FakeOllama,
) -> None:
    # Given a provider with 4 parallel slots and 8 cells of each of two models, in order
    provider = OllamaProvider(fake.url, timeout_s=10, load_timeout_s=10)
    session = ModelSession({"ollama": provider}, {"ollama": 4})
    models = ["tidy:1b"] * 8 + ["tidy-b:0.5b"] * 8
    # When 8 threads generate them
    done = generate_all(session, provider, models)
    # Then every cell was generated once, 4 at a time at most, and reached 4
    assert sorted(done) == sorted(f"{m}#{i}" for i, m in enumerate(models))
    assert fake.state.max_in_flight == 4
    # and one model was resident at a time, loaded once each, never generating together
    assert fake.state.max_resident == 1
    assert fake.state.loads == ["tidy:1b", "tidy-b:0.5b"]
    assert not models_overlap(fake, "tidy:1b", "tidy-b:0.5b")


def test_one_slot_keeps_generations_one_at_a_time(fake: FakeOllama) -> None:
    provider = OllamaProvider(fake.url, timeout_s=10, load_timeout_s=10)
    session = ModelSession({"ollama": provider})  # no slots declared: 1
    done = generate_all(session, provider, ["tidy:1b"] * 6)
    assert len(done) == 6
    assert fake.state.max_in_flight == 1


def test_a_waiting_generation_of_the_old_model_never_unloads_the_new_one(
    fake: FakeOllama,
) -> None:
    # Given 2 slots, both taken by generations of tidy:1b
    fake.state.generation_delay_s = 0.4
    provider = OllamaProvider(fake.url, timeout_s=10, load_timeout_s=10)
    session = ModelSession({"ollama": provider}, {"ollama": 2})

    def generate(model: str) -> None:
        with session.generating(model, max_model_b=4.0, allow_unknown_size=False) as held:
            provider.generate(held.ref.name, MESSAGES, OPTIONS)

    threads = [threading.Thread(target=generate, args=("tidy:1b",)) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_until(lambda: fake.state.in_flight == 2, timeout_s=10, what="two chats")
    # When a generation of another model waits for them, then a third of tidy:1b waits
    # for a slot, and both are woken when the first two end
    for model in ("tidy-b:0.5b", "tidy:1b"):
        threads.append(threading.Thread(target=generate, args=(model,)))
        threads[-1].start()
        time.sleep(0.1)
    for thread in threads:
        thread.join(timeout=30)
    # Then the models never generated together and one was resident at a time
    assert not models_overlap(fake, "tidy:1b", "tidy-b:0.5b")
    assert fake.state.max_resident == 1


@pytest.fixture
def parallel_stack(
    settings: Settings, mlflow_server: str, tmp_path: Path, fake: FakeOllama
) -> Iterator[Settings]:
    """The stack, as real processes on a namespace of their own, its collector told that
    Ollama serves 4 requests at once (so it runs 5 threads: one holds the next cell)."""
    ours = settings.model_copy(
        update={
            "namespace": f"{settings.namespace}-parallel",
            "ollama_parallel": 4,
            "gateway_port": free_port(),
            "metrics_port": free_port(),
            "var_dir": str(tmp_path / "var"),
        }
    )
    collector = next(s for s in stack.services(ours) if s.name == "collector")
    assert collector.argv[collector.argv.index("--threads") + 1] == "5"
    with stack_running(ours) as running:
        yield running


@pytest.mark.slow
@pytest.mark.full
def test_a_job_on_a_parallel_provider_runs_every_cell_once_one_model_at_a_time(
    parallel_stack: Settings, fake: FakeOllama
) -> None:
    # Given the collector of a 4-slot Ollama, and a job of 2 models x 2 prompts x 4 scenarios
    body = {
        "models": ["tidy:1b", "tidy-b:0.5b"],
        "prompts": ["v1", "v2-mentor"],
        "n_scenarios": 4,
        "experiment": "parallel",
    }
    with gateway_client(parallel_stack, timeout_s=60) as api:
        posted = api.post("/api/bench/run", json=body)
        assert posted.status_code == 202, posted.text
        job_id = posted.json()["job_id"]
        job = wait_until(
            lambda: (
                (j := api.get(f"/api/bench/jobs/{job_id}").json())["status"] != "running"
                and j["done"] + j["failed"] == j["total"]
                and j
            ),
            timeout_s=180,
            what="the job's end",
        )
        runs = api.get("/api/bench/runs/parallel").json()
    # Then every cell has exactly one run
    assert (job["status"], job["done"], job["failed"]) == ("finished", 16, 0), job
    assert len(runs) == 16 and len({r["cell_key"] for r in runs}) == 16
    # and up to 4 chats ran at once, never more, of one resident model at a time
    assert 2 <= fake.state.max_in_flight <= 4
    assert fake.state.max_resident == 1
    assert not models_overlap(fake, "tidy:1b", "tidy-b:0.5b")


def test_a_model_that_failed_to_unload_is_unloaded_before_the_next_loads(
    fake: FakeOllama,
) -> None:
    # Given tidy:1b resident, and a server that refuses the next unload of it
    provider = OllamaProvider(fake.url, timeout_s=10, load_timeout_s=10)
    session = ModelSession({"ollama": provider})
    session.use("tidy:1b", max_model_b=4.0, allow_unknown_size=False)
    fake.state.unload_failures["tidy:1b"] = 1
    # When a cell of another model asks for it: the unload fails, and so does the cell
    with pytest.raises(ProviderBadResponse, match="unload tidy:1b"):
        session.use("tidy-b:0.5b", max_model_b=4.0, allow_unknown_size=False)
    assert fake.state.resident == {"tidy:1b"}
    assert session.resident_model() == "tidy:1b"
    # Then its retry unloads tidy:1b first: never two models on the server
    session.use("tidy-b:0.5b", max_model_b=4.0, allow_unknown_size=False)
    assert fake.state.resident == {"tidy-b:0.5b"}
    assert fake.state.max_resident == 1
    assert session.resident_model() == "tidy-b:0.5b"
