"""The image's conditions, reproduced without a Docker engine: the gateway, the collector and
the recorder started with the compose file's commands and environment and the Dockerfile's,
as the image's unprivileged user, from a read-only copy of the code the image holds, with
only the Dockerfile's writable paths writable. They must start, serve /readyz, and run a
default request (the embedded model) to the end.

What cannot be reproduced here: the compose network's host names (mapped to this machine's
Redis, MLflow server and fake Ollama), port 8000 and 9191 (free ports), the namespace (one
of the test session's, since Redis is shared), and /opt/venv: the virtualenv's interpreter
lives under /root, which no other user may enter, so the services get one capability,
CAP_DAC_READ_SEARCH (read and traverse anything; writing stays as forbidden as before).
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import Settings
from testkit.fake_ollama import FakeOllama
from testkit.processes import free_port
from tests.conftest import TOKEN, auth, wait_until
from tests.test_compose import compose_file

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
SERVICES = ("gateway", "collector", "recorder")


def final_stage(dockerfile: str) -> list[str]:
    """The instructions of the Dockerfile's last stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    lines = [line.strip() for line in joined.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(instructions) if line.startswith("FROM "))
    return instructions[last_from:]


class Image:
    """What the Dockerfile's last stage says about the running container."""

    def __init__(self, dockerfile: str) -> None:
        stage = final_stage(dockerfile)
        self.env: dict[str, str] = {}
        self.copies: list[str] = []
        self.workdir = "/"
        self.user = "root"
        self.writable: list[str] = []
        self.uid: int | None = None
        for line in stage:
            word, _, rest = line.partition(" ")
            if word == "ENV":
                for pair in shlex.split(rest):
                    name, _, value = pair.partition("=")
                    self.env[name] = value
            elif word == "WORKDIR":
                self.workdir = rest.strip()
            elif word == "USER":
                self.user = rest.strip()
            elif word == "COPY" and not rest.startswith("--from"):
                self.copies.append(shlex.split(rest)[0])
            elif word == "RUN":
                self.writable += re.findall(r"install -d -o \S+ -g \S+(?: -m \S+)? (\S+)", rest)
                found = re.search(r"useradd .*--uid (\d+)", rest)
                self.uid = int(found.group(1)) if found else self.uid
        if self.env.get("HOME"):
            self.writable.append(self.env["HOME"])

    def ids(self) -> tuple[int, int]:
        """The uid and gid the services run as."""
        if self.user.isdigit():
            return int(self.user), int(self.user)
        try:
            entry = pwd.getpwnam(self.user)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            assert self.uid is not None, f"user {self.user} has no uid in the Dockerfile"
            return self.uid, self.uid


@pytest.fixture(scope="module")
def image() -> Image:
    return Image((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return compose_file()  # as `docker compose` reads it: variables interpolated


def test_the_image_runs_as_an_unprivileged_user_owning_only_its_writable_paths(
    image: Image,
) -> None:
    uid, _ = image.ids()
    assert uid != 0 and image.user != "root"
    assert image.env["TIPBENCH_VAR_DIR"] in image.writable
    assert not any(path.startswith(image.workdir) for path in image.writable)


@pytest.fixture
def container_root(image: Image) -> Iterator[dict[str, Path]]:
    """The container's paths on this machine: the code read-only, the writable paths owned
    by the image's user, in a directory any user can traverse."""
    uid, gid = image.ids()
    top = Path(tempfile.mkdtemp(prefix="tipbench-image-"))
    top.chmod(0o755)
    code = top / "app"
    for source in image.copies:
        if (ROOT / source).is_dir():
            skip = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / source, code / source, ignore=skip)
        else:
            code.mkdir(exist_ok=True)
            shutil.copy2(ROOT / source, code / source)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(code)], check=True)
    subprocess.run(["chmod", "-R", "a-w", str(code)], check=True)
    paths = {image.workdir: code}
    for number, path in enumerate(image.writable):
        host = top / f"writable-{number}"
        host.mkdir(mode=0o750)
        os.chown(host, uid, gid)
        paths[path] = host
    secrets = top / "secrets"
    secrets.mkdir()
    (secrets / "admin_token").write_text(f"{TOKEN}\n")
    paths["/run/secrets"] = secrets
    (top / "logs").mkdir()
    paths["logs"] = top / "logs"
    try:
        yield paths
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(top)], check=False)
        shutil.rmtree(top, ignore_errors=True)


def container_env(
    image: Image,
    service: dict[str, Any],
    paths: dict[str, Path],
    hosts: dict[str, str],
) -> dict[str, str]:
    """The Dockerfile's ENV and the service's compose environment, mapped to this machine."""
    env = {"PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    env |= image.env | {k: str(v) for k, v in (service.get("environment") or {}).items()}
    env["PATH"] = env["PATH"].replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
    mapped = {}
    for name, value in env.items():
        for container, host in sorted(hosts.items(), key=lambda kv: -len(kv[0])):
            value = value.replace(container, host)
        for container_path, host_path in sorted(paths.items(), key=lambda kv: -len(kv[0])):
            if container_path.startswith("/"):
                value = re.sub(
                    rf"(?<![\w/]){re.escape(container_path)}(?=/|$|:)", str(host_path), value
                )
        mapped[name] = value
    return mapped


def start_as(uid: int, gid: int, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> Any:
    """A process started as uid:gid, in its own session, logging to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={gid}",
                "--clear-groups",
                "--inh-caps=+dac_read_search",
                "--ambient-caps=+dac_read_search",
                "--",
                *argv,
            ],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop(process: Any) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_gateway_and_workers_start_read_only_unprivileged_and_run_a_default_request(
    image: Image,
    compose: dict[str, Any],
    container_root: dict[str, Path],
    settings: Settings,
    mlflow_server: str,
    rel_fake: FakeOllama,
    figures: Callable[..., None],
) -> None:
    uid, gid = image.ids()
    started = time.monotonic()
    venv_bin = Path(sys.executable).parent
    gateway_port = free_port()
    hosts = {
        "redis://redis:6379/0": settings.redis_url,
        "http://mlflow:5000": settings.mlflow_uri,
        "http://ollama:11434": rel_fake.url,
        "/opt/venv": sys.prefix,
    }
    processes = {}
    try:
        for name in SERVICES:
            service = compose["services"][name]
            env = container_env(image, service, container_root, hosts)
            # what cannot be the compose network's: a namespace of the session, free ports,
            # loopback only
            env |= {
                "TIPBENCH_NAMESPACE": f"{settings.namespace}-image",
                "TIPBENCH_GATEWAY_HOST": "127.0.0.1",
                "TIPBENCH_GATEWAY_PORT": str(gateway_port),
                "dramatiq_prom_host": "127.0.0.1",
                "dramatiq_prom_port": str(free_port()),
            }
            program, *args = service["command"]  # gunicorn or dramatiq, from /opt/venv/bin
            argv = [str(venv_bin / program), *args]
            log = container_root["logs"] / f"{name}.log"
            processes[name] = start_as(uid, gid, argv, env, container_root[image.workdir], log)

        def logs() -> str:
            return "\n".join(
                p.read_text(errors="replace")[-3000:] for p in container_root["logs"].iterdir()
            )

        base = f"http://127.0.0.1:{gateway_port}"

        def ready() -> bool:
            for name, process in processes.items():
                assert process.poll() is None, f"{name} exited: {logs()}"
            try:
                return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout_s=60, what="the gateway's /readyz")
        ready_s = time.monotonic() - started
        for name, process in processes.items():
            status = Path(f"/proc/{process.pid}/status").read_text()
            assert re.search(rf"^Uid:\s+{uid}\s", status, re.M), name
        # a default request: the default suite and model (gguf:smollm2-135m), one cell
        with httpx.Client(base_url=base, headers=auth(), timeout=60) as api:
            posted = api.post("/api/bench/run", json={"n_scenarios": 1, "prompts": ["v1"]})
            assert posted.status_code == 202, posted.text
            job_id = posted.json()["job_id"]

            def ended() -> dict[str, Any] | None:
                job: dict[str, Any] = api.get(f"/api/bench/jobs/{job_id}").json()
                return job if job["status"] not in ("queued", "running") else None

            job = wait_until(ended, timeout_s=240, what="the default request")
        assert (job["status"], job["done"]) == ("finished", 1), (job, logs())
        written = list(container_root[image.env["TIPBENCH_VAR_DIR"]].rglob("*"))
        assert written  # the metrics files went where the image lets them
        figures(
            "the image's conditions: unprivileged, code read-only",
            uid=uid,
            services=list(SERVICES),
            readyz_after_s=round(ready_s, 1),
            default_request_done_after_s=round(time.monotonic() - started, 1),
        )
    finally:
        for process in processes.values():
            stop(process)
