"""Specs of compose.yaml: valid against the Compose schema, healthy ordering, scalable services.

No Docker engine runs here, so the file is checked by schema and by reading it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[1]
APP_SERVICES = ("gateway", "collector", "recorder", "judge_bridge", "reporter")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def test_compose_file_validates_against_the_official_schema() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "compose.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_has_every_service_and_no_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose
    assert set(compose["services"]) == {"redis", "mlflow", "ollama", "ollama-pull", *APP_SERVICES}


def test_every_dependency_waits_for_health_or_completion(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: bare depends_on list"
        for target, rule in depends.items():
            expected = (
                "service_completed_successfully" if target == "ollama-pull" else "service_healthy"
            )
            assert rule == {"condition": expected}, (name, target)
            if expected == "service_healthy":
                assert "healthcheck" in compose["services"][target], target


def test_app_services_are_scalable(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert "container_name" not in service, name
        for port in service.get("ports", []):
            assert ":" not in str(port), f"{name} fixes a host port: {port}"


def test_stateful_services_persist_and_check_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "--appendonly" in services["redis"]["command"]
    assert any(v.startswith("redis-data:") for v in services["redis"]["volumes"])
    assert any(v.startswith("mlflow-data:") for v in services["mlflow"]["volumes"])
    assert any(v.startswith("ollama-models:") for v in services["ollama"]["volumes"])
    mlflow_args = " ".join(services["mlflow"]["command"])
    assert "--serve-artifacts" in mlflow_args and "--allowed-hosts=mlflow" in mlflow_args
    for name in ("redis", "mlflow", "ollama", "gateway"):
        assert "healthcheck" in services[name], name


def test_collector_is_single_concurrency(compose: dict[str, Any]) -> None:
    collector = compose["services"]["collector"]
    command = " ".join(collector["command"])
    assert "--processes 1 --threads 1 --queues collect" in command
    assert collector["environment"]["dramatiq_queue_prefetch"] == "1"
    assert "gunicorn" in compose["services"]["gateway"]["command"]


def test_the_admin_token_is_a_secret_of_the_gateway_only(compose: dict[str, Any]) -> None:
    assert compose["secrets"]["admin_token"] == {"environment": "TIPBENCH_ADMIN_TOKEN"}
    gateway = compose["services"]["gateway"]
    assert gateway["secrets"] == ["admin_token"]
    assert gateway["environment"]["TIPBENCH_ADMIN_TOKEN_FILE"] == "/run/secrets/admin_token"
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert "TIPBENCH_ADMIN_TOKEN" not in env, name  # never in an environment
        if name != "gateway":
            assert "secrets" not in compose["services"][name], name


def test_every_worker_exposes_its_metrics_port(compose: dict[str, Any]) -> None:
    for name in ("collector", "recorder", "judge_bridge", "reporter"):
        service = compose["services"][name]
        assert service["expose"] == ["9191"], name
        assert service["environment"]["dramatiq_prom_port"] == "9191", name
        assert service["environment"]["dramatiq_prom_host"] == "0.0.0.0", name
        assert service["environment"]["MLFLOW_DISABLE_TELEMETRY"] == "true", name
