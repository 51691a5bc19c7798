"""More than one machine: TIPBENCH_HOSTS, a collector and a queue per host, a job's models
spread over the hosts, every guarantee kept (shared/hosts.py, services/gateway/submit.py)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from pydantic import ValidationError

from shared.broker import make_broker
from shared.hosts import GenerationHost, assign_hosts, parse_hosts
from shared.messaging import collect_queue, send
from shared.queues import QueueInspector
from shared.settings import Settings
from testkit.cells import a_collect_cell
from testkit.fake_models import FAKE_MODELS
from testkit.fake_ollama import FakeOllama
from testkit.processes import free_port
from tests.conftest import gateway_client, stack_running, wait_until
from tipbench import stack
from tipbench.cli.display import progress_lines

MODELS = ["tidy:1b", "tidy-b:0.5b", "tidy-c:3b", "tidy-d:1.5b"]
A, B = GenerationHost("a", "ollama", "http://a"), GenerationHost("b", "ollama", "http://b")


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("gpu1", "entry #1 ('gpu1'): write name=url"),
        ("GPU=http://x", "entry #1 ('GPU=http://x'): write name=url"),
        ("a=http://x,b=x:1", "entry #2 ('b=x:1'): the URL must start with http://"),
        ("a=http://x,a=http://y", "entry #2 ('a=http://y'): host 'a' is named twice"),
    ],
)
def test_hosts_setting_refuses_a_wrong_entry_naming_it(value: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(f"TIPBENCH_HOSTS {complaint}")):
        Settings(hosts=value)


def test_hosts_setting_reads_names_kinds_and_urls() -> None:
    hosts = parse_hosts(" a=http://10.0.0.5:11434/ , b=openai:http://10.0.0.6:8000/v1")
    assert hosts == (
        GenerationHost("a", "ollama", "http://10.0.0.5:11434"),
        GenerationHost("b", "openai", "http://10.0.0.6:8000/v1"),
    )
    assert Settings().generation_hosts() == ()  # the default: one host, no TIPBENCH_HOSTS


def test_a_collector_host_must_be_one_of_the_hosts() -> None:
    with pytest.raises(ValidationError, match="TIPBENCH_COLLECTOR_HOST 'c' is not among"):
        Settings(hosts="a=http://x,b=http://y", collector_host="c")


def test_models_are_spread_over_hosts_by_cells_deterministically() -> None:
    cells = {"m1": 10, "m2": 10, "m3": 30, "m4": 10}
    providers = dict.fromkeys(cells, "ollama")
    plan = assign_hosts(cells, providers, [A, B])
    # the largest first on a, then the others on b until b holds as many cells
    assert plan == {"m3": "a", "m1": "b", "m2": "b", "m4": "b"}
    assert assign_hosts(cells, providers, [A, B]) == plan
    even = assign_hosts(dict.fromkeys(MODELS, 8), dict.fromkeys(MODELS, "ollama"), [A, B])
    assert sorted(even.values()) == ["a", "a", "b", "b"]


def test_a_model_goes_only_to_a_host_of_its_kind() -> None:
    server = GenerationHost("s", "openai", "http://s/v1")
    providers = {"openai:qwen": "openai", "tidy:1b": "ollama", "gguf:tiny": "gguf"}
    plan = assign_hosts(dict.fromkeys(providers, 4), providers, [A, server])
    assert plan["openai:qwen"] == "s" and plan["tidy:1b"] == "a"
    with pytest.raises(ValueError, match="no generation host serves 'openai:qwen'"):
        assign_hosts({"openai:qwen": 4}, {"openai:qwen": "openai"}, [A, B])


def test_the_judge_waits_while_cells_wait_on_any_host(core_settings: Settings) -> None:
    # Given two hosts, and a cell waiting on the second host's queue
    ours = core_settings.model_copy(
        update={
            "namespace": f"{core_settings.namespace}-hosts-{uuid.uuid4().hex[:8]}",
            "hosts": "a=http://127.0.0.1:1,b=http://127.0.0.1:2",
        }
    )
    broker = make_broker(ours)
    with redis.Redis.from_url(ours.redis_url) as client:
        inspector = QueueInspector(client, ours)
        assert not inspector.collector_busy()
        send(broker, a_collect_cell("tidy:1b").model_copy(update={"host": "b"}))
        # Then the queue is b's, listed with the others, and the collector counts as busy
        assert inspector.ready_count(collect_queue("b")) == 1
        assert inspector.names()[:2] == ["collect.a", "collect.b"]
        assert inspector.collector_busy()
        # and b's collector sees the cell next, a's does not
        b_side = QueueInspector(client, ours.model_copy(update={"collector_host": "b"}))
        a_side = QueueInspector(client, ours.model_copy(update={"collector_host": "a"}))
        assert (b_side.next_queued_model(), a_side.next_queued_model()) == ("tidy:1b", None)
        broker.flush_all()
    broker.close()
    broker.client.connection_pool.disconnect()


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeOllama]]:
    """Two generation hosts: a fake Ollama each, with the same models."""
    found = {"a": FakeOllama(), "b": FakeOllama()}
    for fake in found.values():
        for model in FAKE_MODELS:
            fake.add(model)
        fake.start()
    yield found
    for fake in found.values():
        fake.stop()


@pytest.fixture
def hosts(fakes: dict[str, FakeOllama]) -> Iterator[dict[str, FakeOllama]]:
    for fake in fakes.values():
        fake.state.reset()
        fake.state.generation_delay_s = 0.05
    yield fakes


@pytest.fixture(scope="module")
def two_host_stack(
    settings: Settings,
    mlflow_server: str,
    tmp_path_factory: pytest.TempPathFactory,
    fakes: dict[str, FakeOllama],
) -> Iterator[Settings]:
    """The stack as real processes, with a collector per host, on a namespace of its own."""
    ours = settings.model_copy(
        update={
            "namespace": f"{settings.namespace}-hosts",
            "hosts": f"a={fakes['a'].url},b={fakes['b'].url}",
            # the one-host URL answers nothing: every generation must go to a host
            "ollama_host": f"http://127.0.0.1:{free_port()}",
            "gateway_port": free_port(),
            "metrics_port": free_port(),
            "var_dir": str(tmp_path_factory.mktemp("hosts") / "var"),
        }
    )
    names = [s.name for s in stack.services(ours)]
    assert "collector-a" in names and "collector-b" in names and "collector" not in names
    with stack_running(ours) as running:
        yield running


def run_job(api: httpx.Client, experiment: str, **extra: Any) -> str:
    body = {"models": MODELS, "prompts": ["v1"], "n_scenarios": 4, "experiment": experiment}
    posted = api.post("/api/bench/run", json=body | extra)
    assert posted.status_code == 202, posted.text
    return str(posted.json()["job_id"])


def ended(api: httpx.Client, job_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job: dict[str, Any] = api.get(f"/api/bench/jobs/{job_id}").json()
        over = job["status"] not in ("queued", "running") and job["done"] + job["failed"]
        return job if over == job["total"] else None

    return wait_until(check, timeout_s=180, what=f"the end of job {job_id}")


def chats(fake: FakeOllama) -> list[str]:
    return [body["model"] for body in fake.state.calls_to("/api/chat")]


@pytest.mark.slow
def test_a_job_spreads_its_models_over_two_hosts_each_cell_once(
    two_host_stack: Settings, hosts: dict[str, FakeOllama]
) -> None:
    # Given two hosts, and a job of 4 models x 4 scenarios
    with gateway_client(two_host_stack, timeout_s=60) as api:
        job = ended(api, run_job(api, "hosts-spread"))
        runs = api.get("/api/bench/runs/hosts-spread").json()
    # Then every cell has exactly one run
    assert (job["status"], job["done"], job["failed"]) == ("finished", 16, 0), job
    assert len(runs) == 16 and len({r["cell_key"] for r in runs}) == 16
    # and each host ran two whole models, one resident at a time, each loaded once
    placed = {m["model"]: m["host"] for m in job["models"]}
    assert sorted(placed.values()) == ["a", "a", "b", "b"]
    for name, fake in hosts.items():
        mine = sorted(m for m, host in placed.items() if host == name)
        assert sorted(set(chats(fake))) == mine
        assert sorted(fake.state.loads) == mine
        assert fake.state.max_resident == 1


@pytest.mark.slow
def test_a_cancel_stops_the_job_on_every_host(
    two_host_stack: Settings, hosts: dict[str, FakeOllama]
) -> None:
    # Given a job of slow generations under way on both hosts
    for fake in hosts.values():
        fake.state.generation_delay_s = 0.5
    with gateway_client(two_host_stack, timeout_s=60) as api:
        job_id = run_job(api, "hosts-cancel")
        wait_until(
            lambda: all(chats(f) for f in hosts.values()), timeout_s=60, what="both hosts busy"
        )
        # When it is cancelled
        assert api.post(f"/api/bench/jobs/{job_id}/cancel").status_code == 200
        job = ended(api, job_id)
    # Then it ends cancelled, and neither host generated every cell it was given
    assert job["status"] == "cancelled"
    assert job["done"] < 16 and job["done"] + job["failed"] == 16
    assert sum(len(chats(f)) for f in hosts.values()) < 16
    for fake in hosts.values():
        assert len(chats(fake)) < 8


@pytest.mark.slow
def test_failed_cells_retry_on_their_host(
    two_host_stack: Settings, hosts: dict[str, FakeOllama]
) -> None:
    # Given host b failing every chat of one of the models the plan gives it
    plan = assign_hosts(
        dict.fromkeys(MODELS, 4),
        dict.fromkeys(MODELS, "ollama"),
        parse_hosts(two_host_stack.hosts),
    )
    broken = next(m for m in MODELS if plan[m] == "b")
    hosts["b"].state.failing[broken] = 500
    with gateway_client(two_host_stack, timeout_s=60) as api:
        job_id = run_job(api, "hosts-retry")
        # When the job ends, its cells of that model failed after their retries on b
        job = ended(api, job_id)
        assert (job["status"], job["done"], job["failed"]) == ("partial", 12, 4), job
        assert broken not in chats(hosts["a"])
        assert chats(hosts["b"]).count(broken) == 4 * 2  # a first try and one retry each
        # and once b is well again, a retry of the job
        hosts["b"].state.failing.clear()
        retried = api.post(f"/api/bench/jobs/{job_id}/retry")
        assert retried.status_code == 202, retried.text
        job = ended(api, job_id)
    # Then the failed cells ran again on b alone, each once, and the job finished
    assert (job["status"], job["done"], job["failed"]) == ("finished", 16, 0), job
    assert broken not in chats(hosts["a"])
    assert chats(hosts["b"]).count(broken) == 4 * 2 + 4
    assert hosts["b"].state.max_resident == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("second", "complaint", "shown"),
    [
        # the size guard asks the host the plan gives the model
        ("giant:8b", "giant:8b has 8.00B parameters", True),
        # an OpenAI-compatible model, and only Ollama hosts
        ("openai:qwen", "no generation host serves 'openai:qwen'", False),
    ],
)
def test_a_refused_model_on_two_hosts_is_named_and_nothing_is_queued(
    two_host_stack: Settings,
    hosts: dict[str, FakeOllama],
    second: str,
    complaint: str,
    shown: bool,
) -> None:
    with gateway_client(two_host_stack, timeout_s=60) as api:
        refused = api.post(
            "/api/bench/run",
            json={"models": ["tidy:1b", second], "n_scenarios": 1, "experiment": "refused"},
        )
    assert refused.status_code == 422, refused.text
    assert complaint in refused.text
    with redis.Redis.from_url(two_host_stack.redis_url) as client:
        inspector = QueueInspector(client, two_host_stack)
        assert [inspector.ready_count(q) for q in inspector.collect_queues()] == [0, 0]
    assert not chats(hosts["a"]) and not chats(hosts["b"])
    asked = [path for fake in hosts.values() for path, _ in fake.state.calls]
    assert ("/api/show" in asked) == shown


def test_progress_shows_each_models_host_and_an_eta_from_its_hosts_pace() -> None:
    # Given a job 10 s in, whose hosts a and b each ended 5 cells, a with a model waiting
    def model(name: str, host: str, done: int) -> dict[str, Any]:
        return {"model": name, "host": host, "total": 10, "done": done, "failed": 0}

    job = {
        "status": "running",
        "done": 10,
        "failed": 0,
        "total": 30,
        "elapsed_s": 10.0,
        "current_model": "m1",
        "models": [model("m1", "a", 5), model("m2", "b", 5), model("m3", "a", 0)],
    }
    lines = progress_lines(job)
    # Then each model names its host, and waits only for the models before it on its host
    assert "m1 @a" in lines[0] and lines[0].endswith("eta 10s")
    assert "m2 @b" in lines[1] and lines[1].endswith("eta 10s")
    assert "m3 @a" in lines[2] and lines[2].endswith("eta 30s")
