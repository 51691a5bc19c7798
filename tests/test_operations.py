"""Specs of operating the stack: metrics, request ids through every service, startup refusal."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from shared.settings import Settings
from testkit.processes import free_port, settings_env
from tests.conftest import log_tail, wait_until
from tests.test_openapi import metric
from tipbench import stack

pytestmark = pytest.mark.slow


def json_lines(settings: Settings, service: str) -> list[dict[str, object]]:
    """The JSON log records of a stack process."""
    path = Path(settings.var_dir) / "log" / f"{service}.log"
    records = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def test_a_request_id_follows_a_job_through_every_service(
    api: httpx.Client, running_stack: Settings
) -> None:
    request_id = f"trace-{uuid.uuid4().hex[:12]}"
    body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 1, "experiment": "ops-trace"}
    posted = api.post("/api/bench/run", json=body, headers={"X-Request-ID": request_id})
    assert posted.status_code == 202, posted.text
    assert posted.headers["X-Request-ID"] == request_id
    job_id = posted.json()["job_id"]
    wait_until(
        lambda: api.get(f"/api/bench/jobs/{job_id}").json()["status"] == "finished",
        timeout_s=60,
        what="the job",
    )

    def traced(service: str) -> list[dict[str, object]]:
        return [r for r in json_lines(running_stack, service) if r["request_id"] == request_id]

    # each service's line of this job, carrying the request id (a service may log other
    # lines of it first: the reporter says it read runs before it says it rebuilt)
    expected = {
        "gateway": "POST /api/bench/run -> 202",
        "collector": "generated",
        "recorder": "recorded",
        "judge_bridge": job_id,
        "reporter-1": "leaderboard ops-trace",
    }
    found = wait_until(
        lambda: (
            {s: traced(s) for s in expected}
            if all(any(text in str(r["msg"]) for r in traced(s)) for s, text in expected.items())
            else None
        ),
        timeout_s=30,
        what=f"{request_id} on each service's line of the job",
    )
    assert all(r["service"] == s for s in expected for r in found[s])


def test_the_gateway_metrics_sum_every_gunicorn_worker(running_stack: Settings) -> None:
    base = f"http://127.0.0.1:{running_stack.gateway_port}"
    before = httpx.get(f"{base}/metrics").text
    for _ in range(12):  # spread over the 2 worker processes by the kernel
        assert httpx.get(f"{base}/healthz").status_code == 200
    after = httpx.get(f"{base}/metrics").text
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    name = "tipbench_gateway_requests_total"
    assert metric(after, name, **labels) - metric(before, name, **labels) == 12
    assert "tipbench_gateway_request_duration_seconds_bucket" in after


def test_every_worker_serves_dramatiq_metrics(api: httpx.Client, running_stack: Settings) -> None:
    body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 1, "experiment": "ops-metrics"}
    job_id = api.post("/api/bench/run", json=body).json()["job_id"]
    wait_until(
        lambda: api.get(f"/api/bench/jobs/{job_id}").json()["status"] == "finished",
        timeout_s=60,
        what="the job",
    )
    ports = stack.metrics_ports(running_stack)
    assert set(ports) == {"collector", "recorder", "judge_bridge", "reporter-1"}
    expected = {
        "collector": ("collect", "collect_cell"),
        "recorder": ("record", "record_cell"),
        "judge_bridge": ("judge", "build_packet"),
        "reporter-1": ("report", "rebuild_leaderboard"),
    }

    def scraped(port: int) -> str:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
        except httpx.TransportError:
            return ""

    for service, (queue, actor) in expected.items():
        text = wait_until(
            lambda port=ports[service], q=queue, a=actor: (
                (t := scraped(port))
                and metric(t, "dramatiq_messages_total", queue_name=q, actor_name=a) >= 1
                and t
            ),
            timeout_s=30,
            what=f"{service}'s metrics",
        )
        assert "dramatiq_message_duration_milliseconds_bucket" in text
        assert "dramatiq_messages_inprogress" in text


def test_refusals_keep_a_keep_alive_connection_usable(running_stack: Settings) -> None:
    # A 401/403 answered before the body is read must not desynchronise the connection.
    base = f"http://127.0.0.1:{running_stack.gateway_port}"
    answers: list[int] = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(100):
            answers.append(client.post("/api/bench/run", json={"models": ["x" * 2000]}).status_code)
            wrong = {"Authorization": "Bearer wrong-token-0123456789"}
            answers.append(client.post("/api/bench/run", json={}, headers=wrong).status_code)
            answers.append(client.get("/healthz").status_code)
    # every answer arrives, in order, on the one connection: past a few wrong tokens the
    # address is answered 429 instead of 403 (the API's lockout), never out of step
    assert answers[0::3] == [401] * 100 and answers[2::3] == [200] * 100
    refused = answers[1::3]
    assert set(refused) <= {403, 429} and 429 in refused
    assert refused == sorted(refused)  # no 403 after the first 429


def test_the_gateway_refuses_to_start_without_an_admin_token(
    settings: Settings, tmp_path: Path
) -> None:
    bare = settings.model_copy(update={"gateway_port": free_port(), "var_dir": str(tmp_path)})
    env = os.environ | settings_env(bare) | {"TIPBENCH_ADMIN_TOKEN": ""}
    gateway = next(s for s in stack.services(bare) if s.name == "gateway")
    result = subprocess.run(
        gateway.argv,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(stack.__file__).parents[1],
    )
    assert result.returncode != 0
    assert "refusing to start: no admin token" in result.stderr
    assert "TIPBENCH_DEV_MODE" in result.stderr


def test_logs_are_json_lines_with_the_service_name(running_stack: Settings) -> None:
    records = json_lines(running_stack, "collector")
    assert records, log_tail(running_stack, "collector")
    assert {"ts", "level", "service", "logger", "msg", "request_id"} <= set(records[0])
