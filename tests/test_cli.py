"""Specs of the `tipbench` command against the running stack (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.conftest import free_port, settings_env

pytestmark = pytest.mark.slow
TIPBENCH = str(Path(sys.executable).parent / "tipbench")


def tipbench(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | settings_env(settings)
    return subprocess.run([TIPBENCH, *args], env=env, capture_output=True, text=True, timeout=180)


def test_run_watch_shows_progress_then_the_leaderboard(running_stack: Settings) -> None:
    result = tipbench(running_stack, "run", "--models", "tidy:1b", "--prompts", "v1", "v2-mentor",
                      "--experiment", "cli-ok", "--watch")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "4/4 cells (0 failed)" in result.stdout
    table = [line.split() for line in result.stdout.splitlines() if line.startswith("-  ")]
    assert sorted(row[2] for row in table) == ["v1", "v2-mentor"]
    assert all(row[1] == "tidy:1b" and row[3] == "2" for row in table)


def test_run_with_failed_cells_exits_1_and_names_them(running_stack: Settings) -> None:
    result = tipbench(running_stack, "run", "--models", "gguf:smollm2-135m", "--n-scenarios", "1",
                      "--max-model-b", "0.1", "--experiment", "cli-failed", "--watch")  # fmt: skip
    assert result.returncode == 1
    assert "over max_model_b=0.1" in result.stdout


def test_a_refused_request_exits_2_with_one_line(running_stack: Settings) -> None:
    result = tipbench(running_stack, "run", "--models", "gguf:nope")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "422" in result.stderr and "gguf:nope" in result.stderr


def test_an_unreachable_gateway_exits_3(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"gateway_port": free_port()})
    result = tipbench(nowhere, "status", "some-job")
    assert result.returncode == 3
    assert "gateway unreachable" in result.stderr
