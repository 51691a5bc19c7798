"""Shared fixtures: a real Redis, a real MLflow server, the fake Ollama, real processes.

Integration parts skip when absent on a developer's machine and fail in CI (CI=true).
Each test session uses its own Redis key namespace and removes its keys at the end.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis

from shared.settings import Settings
from tests.fake_ollama import FakeModel, FakeOllama, tidy_reply
from tipbench import stack

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network calls from tests
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TOKEN = "test-admin-token-0123456789"
T = TypeVar("T")


def unavailable(what: str) -> None:
    """Skip locally, fail in CI: an integration test must never skip silently there."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not available")


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T], *, timeout_s: float, what: str) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def settings_env(settings: Settings) -> dict[str, str]:
    """The TIPBENCH_* environment that reproduces these settings in another process."""
    env = {}
    for name, value in settings.model_dump().items():
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        env[f"TIPBENCH_{name.upper()}"] = text
    return env


def rambling_reply(model: str, messages: list[dict[str, str]]) -> str:
    """A badly formed answer: a preamble, the wrong count, an overlong tip."""
    long_tip = " ".join(["really"] * 40)
    return f"Sure! Here is some advice for you today, my friend.\n- {long_tip} rest.\n- Smile."


VERDICT = {"relevance": 4, "actionability": 3, "tone": 5, "format_ok": 1, "overlong": 0,
           "rationale": "Clear and doable."}  # fmt: skip


def judge_reply(model: str, messages: list[dict[str, str]]) -> str:
    """An LLM judge that always answers the rubric's JSON."""
    return json.dumps(VERDICT)


def erratic_judge_reply(model: str, messages: list[dict[str, str]]) -> str:
    """An LLM judge that is right for nurses, off-scale for students, not JSON otherwise."""
    asked = messages[-1]["content"]
    if "nurse" in asked:
        return json.dumps(VERDICT)
    if "student" in asked:
        return json.dumps(VERDICT | {"relevance": 9})
    return "I think this answer is quite good {"


FAKE_MODELS = (
    FakeModel("tidy:1b", parameter_size="1B", reply=tidy_reply),
    FakeModel("tidy-b:0.5b", parameter_size="500M"),
    FakeModel("tidy-c:3b", parameter_size="3B"),
    FakeModel("tidy-d:1.5b", parameter_size="1.5B"),
    FakeModel(
        "rambler:2b", parameter_size="2B", parameter_count=2_000_000_000, reply=rambling_reply
    ),
    FakeModel("giant:8b", parameter_size="8B"),
    FakeModel("mystery:latest", parameter_size=""),
    FakeModel("judge:8b", parameter_size="8B", reply=judge_reply),
    FakeModel("erratic-judge:8b", parameter_size="8B", reply=erratic_judge_reply),
)


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("TIPBENCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        with redis.Redis.from_url(url, socket_timeout=2) as client:
            client.ping()
    except redis.RedisError:
        unavailable(f"Redis at {url}")
    return url


@pytest.fixture(scope="session")
def namespace(redis_url: str) -> Iterator[str]:
    name = f"tbtest-{uuid.uuid4().hex[:10]}"
    yield name
    with redis.Redis.from_url(redis_url) as client:
        # every namespace of the session starts with `name` (see core_settings)
        for key in client.scan_iter(match=f"{name}*", count=1000):
            client.delete(key)


@pytest.fixture(scope="session")
def fake_ollama() -> Iterator[FakeOllama]:
    fake = FakeOllama()
    for model in FAKE_MODELS:
        fake.add(model)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def settings(redis_url: str, namespace: str, fake_ollama: FakeOllama, var_dir: Path) -> Settings:
    mlflow_port = free_port()
    return Settings(
        redis_url=redis_url,
        namespace=namespace,
        mlflow_uri=f"http://127.0.0.1:{mlflow_port}",
        mlflow_port=mlflow_port,
        ollama_host=fake_ollama.url,
        openai_base_url=f"{fake_ollama.url}/v1",
        ollama_timeout_s=10,
        ollama_load_timeout_s=20,
        admin_token=TOKEN,  # type: ignore[arg-type]
        gateway_port=free_port(),
        metrics_port=free_port(),
        collect_max_retries=1,
        var_dir=str(var_dir),
    )


@pytest.fixture(scope="session")
def core_settings(settings: Settings) -> Settings:
    """The settings for in-process tests: queues of their own, which no worker consumes.

    The stack's workers (running_stack) consume the main namespace's queues; a test that
    reads a queue or calls an actor's core directly must not race with them.
    """
    return settings.model_copy(update={"namespace": f"{settings.namespace}-core"})


@pytest.fixture(scope="session")
def mlflow_server(settings: Settings) -> Iterator[str]:
    """A real `mlflow server` (SQLite, proxied artifacts) for the whole session."""
    if not (stack.BIN / "mlflow").exists():
        unavailable("the mlflow server (pip install 'tipbench[server]')")
    stack.start(settings, stack.mlflow_service(settings))
    try:
        stack.wait_http(f"{settings.mlflow_uri}/health", stack.MLFLOW_READY_TIMEOUT_S, "MLflow")
        yield settings.mlflow_uri
    finally:
        stack.stop(settings, "mlflow")


@contextmanager
def stack_running(settings: Settings, reporters: int = 1) -> Iterator[Settings]:
    """The gateway under gunicorn and the workers as real processes, stopped at the end
    (with any service a test restarted meanwhile)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings_env(settings).items():
            patch.setenv(name, value)
        try:
            for service in stack.services(settings, reporters):
                stack.start(settings, service)
            gateway = f"http://127.0.0.1:{settings.gateway_port}/healthz"
            stack.wait_http(gateway, stack.GATEWAY_READY_TIMEOUT_S, "the gateway")
            yield settings
        finally:
            for name in stack.recorded(settings):
                if name != "mlflow":  # the session's server, stopped by its own fixture
                    stack.stop(settings, name)


@pytest.fixture(scope="session")
def running_stack(settings: Settings, mlflow_server: str) -> Iterator[Settings]:
    """The gateway under gunicorn and the workers, as real processes."""
    with stack_running(settings) as running:
        yield running


def gateway_client(settings: Settings, *, timeout_s: float = 30.0) -> httpx.Client:
    """An HTTP client of a stack's gateway, with the admin token."""
    return httpx.Client(
        base_url=f"http://127.0.0.1:{settings.gateway_port}", headers=auth(), timeout=timeout_s
    )


@pytest.fixture
def api(running_stack: Settings) -> Iterator[httpx.Client]:
    """An HTTP client of the running stack's gateway, with the admin token."""
    with gateway_client(running_stack) as client:
        yield client


def log_tail(settings: Settings, name: str, lines: int = 40) -> str:
    """The end of a stack process's log, for failure messages."""
    path = Path(settings.var_dir) / "log" / f"{name}.log"
    return (
        "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
    )


def auth(token: str = TOKEN) -> dict[str, Any]:
    """Headers carrying a bearer token."""
    return {"Authorization": f"Bearer {token}"}


# Fixtures that make a test part of the full tier (`make test`, not `make test-fast`).
FULL_TIER_FIXTURES = frozenset({"mlflow_server", "running_stack"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests that need the MLflow server, worker processes or the embedded model."""
    for item in items:
        needs = FULL_TIER_FIXTURES & set(getattr(item, "fixturenames", ()))
        if needs or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.full)
