"""Specs of the CLI's finding of its gateway and token, and of the commands that act on
what exists (experiments, retry, cancel, prompts, judge run), against the running stack."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings
from testkit.fake_ollama import FakeOllama
from testkit.processes import free_port, settings_env
from tests.conftest import wait_until
from tests.test_cli import TIPBENCH, tipbench

pytestmark = pytest.mark.slow


def bare_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The stack's environment without any admin token."""
    env = os.environ | settings_env(settings) | extra
    for name in ("TIPBENCH_ADMIN_TOKEN", "TIPBENCH_ADMIN_TOKEN_FILE"):
        env.pop(name, None)
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TIPBENCH, *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_cli_finds_the_local_stacks_token_in_its_var_dir(
    running_stack: Settings, tmp_path: Path
) -> None:
    # Given no token in the environment
    env = bare_env(running_stack, TIPBENCH_VAR_DIR=str(tmp_path))
    # When var/admin-token is missing, the command says where a token comes from
    missing = run(env, "jobs")
    assert missing.returncode == 2
    assert "no admin token" in missing.stderr and str(tmp_path / "admin-token") in missing.stderr
    # When `make` has written it, the command uses it
    token = running_stack.admin_token.get_secret_value()
    (tmp_path / "admin-token").write_text(token + "\n")
    found = run(env, "jobs", "--json")
    assert found.returncode == 0, found.stderr
    assert isinstance(json.loads(found.stdout), list)
    # but never to a gateway named elsewhere (--url): the command stops before any request
    elsewhere = run(env, "--url", f"http://127.0.0.1:{free_port()}", "jobs")
    assert elsewhere.returncode == 2
    assert "the local stack's token is not sent to http://127.0.0.1:" in elsewhere.stderr


def test_url_names_a_gateway_elsewhere(running_stack: Settings) -> None:
    # Given settings that point at no gateway
    elsewhere = running_stack.model_copy(update={"gateway_port": free_port()})
    real = f"http://127.0.0.1:{running_stack.gateway_port}/"
    assert tipbench(elsewhere, "jobs").returncode == 3
    # Then --url, or TIPBENCH_URL, reaches the real one
    assert tipbench(elsewhere, "--url", real, "jobs").returncode == 0
    by_env = run(os.environ | settings_env(elsewhere) | {"TIPBENCH_URL": real}, "jobs")
    assert by_env.returncode == 0, by_env.stderr


def test_version_and_prompts(running_stack: Settings) -> None:
    version = tipbench(running_stack, "--version")
    assert version.returncode == 0 and version.stdout.startswith("tipbench ")
    prompts = tipbench(running_stack, "prompts", "--suite", "tip-v2")
    assert prompts.returncode == 0, prompts.stderr
    assert prompts.stdout.startswith("suite tip-v2@")
    listed = json.loads(tipbench(running_stack, "prompts", "--suite", "tip-v2", "--json").stdout)
    assert [p["version"] for p in listed] == [
        line.split()[0] for line in prompts.stdout.splitlines()[2:]
    ]
    unknown = tipbench(running_stack, "prompts", "--suite", "no-such-suite")
    assert unknown.returncode == 2 and "no-such-suite" in unknown.stderr


@pytest.fixture
def slow(fake_ollama: FakeOllama) -> Iterator[None]:
    fake_ollama.state.generation_delay_s = 0.5
    yield
    fake_ollama.state.generation_delay_s = 0.0


def test_experiments_cancel_and_retry(running_stack: Settings, slow: None) -> None:
    # Given a job of 12 slow cells
    submitted = tipbench(
        running_stack,
        *("run", "--models", "tidy:1b", "--prompts", "v1", "v2-mentor", "v3-few-shot"),
        *("--n-scenarios", "4", "--experiment", "cli-manage"),
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split()[1].rstrip(":")
    # When it is cancelled
    cancelled = tipbench(running_stack, "cancel", job_id, "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    again = tipbench(running_stack, "cancel", job_id)
    assert again.returncode == 2 and "already ended" in again.stderr
    # Then its experiment is listed
    listed = json.loads(tipbench(running_stack, "experiments", "--json").stdout)
    assert "cli-manage" in [e["experiment"] for e in listed]
    assert "cli-manage" in tipbench(running_stack, "experiments").stdout
    # And its cancelled cells can be queued again
    wait_until(
        lambda: json.loads(tipbench(running_stack, "status", job_id, "--json").stdout)["failed"],
        timeout_s=60,
        what="the cancelled cells",
    )
    retried = tipbench(running_stack, "retry", job_id)
    assert retried.returncode == 0, retried.stderr
    assert "failed cells queued again" in retried.stdout


def test_judge_run_asks_for_an_llm_judging(running_stack: Settings) -> None:
    made = tipbench(
        running_stack,
        *("run", "--models", "tidy:1b", "--prompts", "v1", "--n-scenarios", "2"),
        *("--experiment", "cli-judge-run", "--watch"),
    )
    assert made.returncode == 0, made.stderr
    asked = tipbench(running_stack, "judge", "run", "cli-judge-run", "--model", "llm:judge:8b")
    assert asked.returncode == 0, asked.stderr
    assert "llm:judge:8b is scoring cli-judge-run" in asked.stdout
    refused = tipbench(running_stack, "judge", "run", "cli-judge-run", "--model", "gguf:nope")
    assert refused.returncode == 2 and "gguf:nope" in refused.stderr
