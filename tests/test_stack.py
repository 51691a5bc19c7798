"""Specs of the local stack (`tipbench up` / `tipbench down`, behind `make up` / `make down`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shared.settings import Settings
from testkit.processes import free_port, settings_env
from tests.conftest import TOKEN

pytestmark = pytest.mark.slow
TIPBENCH = str(Path(sys.executable).parent / "tipbench")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") == -1


def test_up_starts_the_stack_and_down_stops_exactly_what_up_started(
    settings: Settings, tmp_path: Path
) -> None:
    # Given a second stack's settings: its own ports, namespace and var dir
    mlflow_port = free_port()
    own = settings.model_copy(
        update={
            "mlflow_port": mlflow_port,
            "mlflow_uri": f"http://127.0.0.1:{mlflow_port}",
            "gateway_port": free_port(),
            "namespace": f"{settings.namespace}-stack",
            "var_dir": str(tmp_path / "var"),
        }
    )
    env = os.environ | settings_env(own)
    decoy = subprocess.Popen(["sleep", "300"])
    try:
        # When the stack is brought up
        up = subprocess.run([TIPBENCH, "up"], env=env, capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stdout + up.stderr
        run_dir = tmp_path / "var" / "run"
        names = sorted(p.stem for p in run_dir.glob("*.pid"))
        assert names == ["collector", "gateway", "judge_bridge", "mlflow", "recorder", "reporter-1"]
        pids = {n: int((run_dir / f"{n}.pid").read_text().split()[0]) for n in names}
        assert all(alive(pid) for pid in pids.values())
        health = httpx.get(f"http://127.0.0.1:{own.gateway_port}/healthz", timeout=5)
        assert health.json() == {"status": "ok"}
        jobs = httpx.get(
            f"http://127.0.0.1:{own.gateway_port}/api/bench/jobs",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        assert jobs.status_code == 200 and jobs.json() == []
        # and a pid file is planted that names a process `up` did not start
        (run_dir / "impostor.pid").write_text(f"{decoy.pid}\ndramatiq\n")

        # Then a second `up` starts nothing
        again = subprocess.run(
            [TIPBENCH, "up"], env=env, capture_output=True, text=True, timeout=60
        )
        assert "nothing (already running)" in again.stdout

        # When the stack is brought down
        down = subprocess.run(
            [TIPBENCH, "down"], env=env, capture_output=True, text=True, timeout=120
        )
        assert down.returncode == 0, down.stderr
        # Then every process `up` started is gone, and the decoy still runs
        assert not any(alive(pid) for pid in pids.values())
        assert decoy.poll() is None
        assert list(run_dir.glob("*.pid")) == []
        assert (tmp_path / "var" / "log" / "gateway.log").exists()
    finally:
        subprocess.run([TIPBENCH, "down"], env=env, capture_output=True, timeout=120, check=False)
        decoy.kill()
        decoy.wait()


def test_mlflow_keeps_its_runs_in_sqlite_under_var_unless_a_backend_is_named(
    tmp_path: Path,
) -> None:
    from tipbench.stack import mlflow_backend_uri

    local = Settings(admin_token="t" * 32, var_dir=str(tmp_path))
    assert mlflow_backend_uri(local) == f"sqlite:///{tmp_path.resolve() / 'mlflow' / 'mlflow.db'}"
    named = local.model_copy(update={"mlflow_backend_uri": "postgresql://db/mlflow"})
    assert mlflow_backend_uri(named) == "postgresql://db/mlflow"
