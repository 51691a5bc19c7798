"""The local stack without Docker: MLflow server, gateway and workers as background processes.

`up` records every process it starts in a pid file under <var>/run; `down` stops exactly
those processes (after checking that each pid still runs the command it started).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import redis

from shared.messaging import COLLECT_QUEUE, collect_queue
from shared.settings import Settings

BIN = Path(sys.executable).parent
MLFLOW_READY_TIMEOUT_S = 90.0
# Processes started by this Python process, kept so that they are reaped when stopped.
_children: dict[int, subprocess.Popen[bytes]] = {}
GATEWAY_READY_TIMEOUT_S = 30.0
# Defaults for every process, overridable from the environment: no usage reports to
# MLflow's telemetry service from a benchmark stack (it often runs offline); no job
# runner in the MLflow server: its huey consumers, for server-side jobs tipbench never
# submits, poll their queue (a quarter of a core at rest); no "View run at" line when a
# run ends, which costs a request for the run (the recorder ends one per cell).
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
# The MLflow server runs its Flask app under gunicorn's threaded workers, MLflow's other
# supported server: its default, uvicorn, serves the same handlers through FastAPI and a
# bridge to Flask (ASGI to WSGI), which cost the recorder's writes 40-60% more of the
# server's CPU (docs/performance.md). gunicorn turns TCP_NODELAY on for its listening
# socket, so a keep-alive request is not held back by Nagle's algorithm. What only the
# FastAPI app serves (the OTLP span endpoint, server-side jobs, the AI gateway) tipbench
# does not use: a trace's spans go as its artifact (tracking.spans_after_their_trace).
# The access log goes to the server's log, as uvicorn's did. Compose names the same.
MLFLOW_GUNICORN_OPTS = "--worker-class gthread --threads 4 --access-logfile -"
MLFLOW_WORKERS = 2
# The recorder's MLflow calls wait on the server most of their time: several in flight
# keep up with a fast model (bench/promptfoo_compare.py).
RECORDER_THREADS = 4


class StackError(Exception):
    """Raised when a part of the local stack cannot be started or reached."""


@dataclass(frozen=True)
class Service:
    """One background process of the stack."""

    name: str
    argv: list[str]
    env: dict[str, str]


def _var(settings: Settings) -> Path:
    return Path(settings.var_dir).resolve()


def worker_argv(module: str, queue: str, *, threads: int) -> list[str]:
    """A dramatiq worker command: one process, `threads` threads, one queue."""
    return [
        str(BIN / "dramatiq"),
        module,
        "--processes",
        "1",
        "--threads",
        str(threads),
        "--queues",
        queue,
    ]


def services(settings: Settings, reporters: int = 1) -> list[Service]:
    """The application processes, in start order (MLflow and Redis are handled apart)."""
    # The collector holds one message per request it may keep in flight (one, unless a
    # provider serves parallel requests) and one more, the next cell waiting its turn;
    # like every worker it is woken by the enqueue itself (shared/wakeup.py).
    threads = settings.collector_threads
    single = {"dramatiq_queue_prefetch": str(threads)}
    # Traces are written before a run counts as recorded: export them synchronously.
    prompt = {"MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false"}
    found = [
        Service(
            "gateway",
            [
                str(BIN / "gunicorn"),
                "-c",
                str(Path(__file__).parents[1] / "services/gateway/gunicorn.conf.py"),
                "services.gateway.app:create_app()",
            ],
            {},
        ),
        *collectors(settings, single),
        Service(
            "recorder",
            worker_argv("services.collector.actors", "record", threads=RECORDER_THREADS),
            prompt,
        ),
        Service(
            "judge_bridge",
            worker_argv("services.judge_bridge.actors", "judge", threads=2),
            {"MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false"},
        ),
    ]
    found += [
        Service(f"reporter-{i}", worker_argv("services.reporter.actors", "report", threads=2), {})
        for i in range(1, reporters + 1)
    ]
    var = _var(settings)
    named = [Service(s.name, s.argv, s.env | {"TIPBENCH_SERVICE": s.name}) for s in found]
    return [
        Service(s.name, s.argv, s.env | metrics_env(var, s.name, settings, i)) if i > 0 else s
        for i, s in enumerate(named)
    ]


def collectors(settings: Settings, env: dict[str, str]) -> list[Service]:
    """The generation workers: `collector` on the `collect` queue, or with TIPBENCH_HOSTS
    one `collector-<host>` per host, each on its host's queue."""
    threads = settings.collector_threads
    module = "services.collector.actors"
    hosts = settings.generation_hosts()
    if not hosts:
        return [Service("collector", worker_argv(module, COLLECT_QUEUE, threads=threads), env)]
    return [
        Service(
            f"collector-{host.name}",
            worker_argv(module, collect_queue(host.name), threads=threads),
            env | {"TIPBENCH_COLLECTOR_HOST": host.name},
        )
        for host in hosts
    ]


def metrics_env(var: Path, name: str, settings: Settings, index: int) -> dict[str, str]:
    """Where worker number `index` (1-based) serves dramatiq's Prometheus metrics."""
    return {
        "dramatiq_prom_host": settings.metrics_host,
        "dramatiq_prom_port": str(settings.metrics_port + index - 1),
        "dramatiq_prom_db": str(var / "prometheus" / name),
    }


def metrics_ports(settings: Settings, reporters: int = 1) -> dict[str, int]:
    """Each worker's metrics port, by service name."""
    return {
        s.name: int(s.env["dramatiq_prom_port"])
        for s in services(settings, reporters)
        if "dramatiq_prom_port" in s.env
    }


def mlflow_backend_uri(settings: Settings) -> str:
    """The MLflow server's backend store: TIPBENCH_MLFLOW_BACKEND_URI, else SQLite under var."""
    return settings.mlflow_backend_uri or f"sqlite:///{_var(settings) / 'mlflow' / 'mlflow.db'}"


def mlflow_service(settings: Settings) -> Service:
    """The MLflow tracking server: its backend store, and proxied artifacts under <var>/mlflow."""
    data = _var(settings) / "mlflow"
    data.mkdir(parents=True, exist_ok=True)
    return Service(
        "mlflow",
        [
            str(BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(settings.mlflow_port),
            "--backend-store-uri",
            mlflow_backend_uri(settings),
            "--artifacts-destination",
            str(data / "artifacts"),
            "--serve-artifacts",
            "--workers",
            str(MLFLOW_WORKERS),
            "--gunicorn-opts",
            MLFLOW_GUNICORN_OPTS,
        ],
        {},
    )


def start(settings: Settings, service: Service) -> int:
    """Start a service in its own session, log to <var>/log, record its pid; returns the pid."""
    var = _var(settings)
    (var / "log").mkdir(parents=True, exist_ok=True)
    (var / "run").mkdir(parents=True, exist_ok=True)
    metrics_db = service.env.get("dramatiq_prom_db")
    if metrics_db:  # counters of a previous run would be summed with the new ones
        shutil.rmtree(metrics_db, ignore_errors=True)
        Path(metrics_db).mkdir(parents=True)
    with (var / "log" / f"{service.name}.log").open("ab") as log:
        process = subprocess.Popen(
            service.argv,
            env=QUIET_ENV | os.environ | service.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=Path(__file__).parents[1],
        )
    _children[process.pid] = process
    (var / "run" / f"{service.name}.pid").write_text(f"{process.pid}\n{service.argv[0]}\n")
    return process.pid


def _alive_as(pid: int, program: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(
        Path(part.decode(errors="replace")).name == Path(program).name for part in cmdline[:3]
    )


def stop(settings: Settings, name: str, *, timeout_s: float = 20.0) -> bool:
    """Stop one recorded service (SIGTERM, then SIGKILL); False if it was not running."""
    pidfile = _var(settings) / "run" / f"{name}.pid"
    if not pidfile.exists():
        return False
    pid_text, _, program = pidfile.read_text().partition("\n")
    pid, program = int(pid_text), program.strip()
    pidfile.unlink()
    if not _alive_as(pid, program):
        return False
    # SIGTERM to the leader only: dramatiq's and gunicorn's main processes pass it on to
    # their workers. Signalled twice (as a group signal would), a dramatiq worker takes the
    # second as "kill now" and abandons the message in hand until a redelivery.
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive_as(pid, program):
        time.sleep(0.2)
    try:  # whatever is left of the group (a leader past its deadline, a stray fork)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child = _children.pop(pid, None)
    if child is not None:
        child.wait(timeout=timeout_s)
    return True


def recorded(settings: Settings) -> list[str]:
    """Names of the services with a pid file."""
    run = _var(settings) / "run"
    return sorted(p.stem for p in run.glob("*.pid")) if run.exists() else []


def wait_http(url: str, timeout_s: float, what: str) -> None:
    """Wait until GET url answers 200, or raise StackError naming what did not come up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise StackError(f"{what} did not answer at {url} within {timeout_s:.0f} s")


def _redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def ensure_redis(settings: Settings) -> None:
    """Use the Redis at TIPBENCH_REDIS_URL; start one under <var> if none answers."""
    if _redis_answers(settings.redis_url):
        return
    server = shutil.which("redis-server")
    if server is None:
        raise StackError(
            f"no Redis answers at {settings.redis_url} and redis-server is not installed"
        )
    url = urlparse(settings.redis_url)
    data = _var(settings) / "redis"
    data.mkdir(parents=True, exist_ok=True)
    host, port = url.hostname or "127.0.0.1", str(url.port or 6379)
    argv = [server, "--bind", host, "--port", port, "--dir", str(data), "--appendonly", "yes"]
    start(settings, Service("redis", argv, {}))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _redis_answers(settings.redis_url):
            return
        time.sleep(0.2)
    raise StackError(f"redis-server started but does not answer at {settings.redis_url}")


def up(settings: Settings, reporters: int = 1) -> list[str]:
    """Start what is not running yet; returns the names started."""
    started: list[str] = []
    running = set(recorded(settings))
    ensure_redis(settings)
    if "mlflow" not in running:
        start(settings, mlflow_service(settings))
        started.append("mlflow")
    wait_http(f"{settings.mlflow_uri}/health", MLFLOW_READY_TIMEOUT_S, "MLflow")
    for service in services(settings, reporters):
        if service.name not in running:
            start(settings, service)
            started.append(service.name)
    gateway = f"http://{settings.gateway_host}:{settings.gateway_port}/healthz"
    wait_http(gateway, GATEWAY_READY_TIMEOUT_S, "the gateway")
    return started


def down(settings: Settings) -> list[str]:
    """Stop every recorded service, application first; returns the names stopped."""
    order = sorted(recorded(settings), key=lambda n: (n in ("mlflow", "redis"), n))
    return [name for name in order if stop(settings, name)]
