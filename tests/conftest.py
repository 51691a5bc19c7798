"""Shared fixtures: a real Redis, a real MLflow server, the fake Ollama, real processes.

Integration parts skip when absent on a developer's machine and fail in CI (CI=true).
Each test session uses its own Redis key namespace and removes its keys at the end.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx
import pytest
import redis
import requests
from flask import Flask

from shared.settings import Settings
from testkit.fake_models import FAKE_MODELS
from testkit.fake_ollama import FakeOllama
from testkit.processes import free_port, settings_env
from tipbench import stack

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network calls from tests
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TOKEN = "test-admin-token-0123456789"
T = TypeVar("T")
# One valid tip-v1 score of an item, for score files in tests.
TIP_V1_SCORE = {
    "item_id": "x",
    "relevance": 3,
    "actionability": 3,
    "tone": 3,
    "format_ok": 1,
    "overlong": 0,
}


def unavailable(what: str) -> None:
    """Skip locally, fail in CI: an integration test must never skip silently there."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not available")


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


@pytest.fixture
def app(core_settings: Settings, mlflow_server: str) -> Flask:
    """The gateway app in-process, on queues no worker consumes, with a real MLflow server."""
    from services.gateway.app import create_app  # here: the pure tests need no gateway

    return create_app(core_settings)


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


@pytest.fixture
def mlflow_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTTP request MLflow's clients send from here on, as "METHOD /path" (a spy)."""
    sent: list[str] = []
    send = requests.Session.send

    def spy(session: requests.Session, request: requests.PreparedRequest, **kw: Any) -> Any:
        sent.append(f"{request.method} {urlparse(str(request.url)).path}")
        return send(session, request, **kw)

    monkeypatch.setattr(requests.Session, "send", spy)
    return sent
