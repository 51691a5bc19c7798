"""Benchmark of the recorder on MLflow's two backend stores (see docs/performance.md).

    .venv/bin/python -m bench.recorder_backends

For SQLite (the local default) and PostgreSQL (compose's; a throwaway database on the
server at TIPBENCH_BENCH_POSTGRES_URL, default postgres@127.0.0.1:5432), starts a real
MLflow server on that backend, the gateway and the workers, and runs a 48-cell job
(4 models x 3 prompts x 4 scenarios) against the fake Ollama with instant generations,
so the recorder's MLflow writes are all that is measured; on PostgreSQL once more with the
MLflow server MLflow runs by default (uvicorn and FastAPI in front of the same Flask app,
with TCP_NODELAY: bench/uvicorn_nodelay.py) in place of the shipped one (gunicorn's
threaded workers, tipbench/stack.py). Reports: the recorder actor's
mean duration per cell (create the run, the generation's trace in two calls, one
log_batch, the cell's record in one upload, terminate; from the workers' actor
statistics), the job's wall time, the CPU each process used during the job, and the
MLflow server's requests per cell (from its access log).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg2
import redis

from bench import bench_settings, forget, gateway_api
from bench.collector_overhead import MODELS, PROMPTS, run_job, wait_jobs
from bench.idle_wakeup import TICKS, cpu_seconds
from shared.settings import Settings
from testkit.fake_models import FAKE_MODELS
from testkit.fake_ollama import FakeOllama
from tipbench import stack

POSTGRES_URL = os.environ.get(
    "TIPBENCH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
JOB = {"models": MODELS, "prompts": PROMPTS, "n_scenarios": 4}
_REQUEST = re.compile(r'"(GET|POST|PUT|PATCH|DELETE) ([^ ?"]+)')


UVICORN_OPTS = "--http bench.uvicorn_nodelay:NoDelayHTTPProtocol"


@contextmanager
def uvicorn_server() -> Iterator[None]:
    """Within: the stack's MLflow server is MLflow's default (uvicorn), not gunicorn."""
    shipped = stack.mlflow_service

    def on_uvicorn(settings: Settings) -> stack.Service:
        service = shipped(settings)
        argv = list(service.argv)
        at = argv.index("--gunicorn-opts")
        argv[at : at + 2] = ["--uvicorn-opts", UVICORN_OPTS]
        return stack.Service(service.name, argv, service.env)

    stack.mlflow_service = on_uvicorn
    try:
        yield
    finally:
        stack.mlflow_service = shipped


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway database; yields MLflow's URI of it."""
    name = f"tipbench_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+psycopg2://{urlparse(POSTGRES_URL).netloc}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def recorder_ms(settings: Settings, expected: int = 48) -> tuple[float, int]:
    """The record_cell actor's mean duration (ms) and count since the last reset, once the
    counts of `expected` cells are in (a worker's statistics thread writes them just after
    each message; at most 10 s)."""
    deadline = time.monotonic() + 10
    with redis.Redis.from_url(settings.redis_url) as client:
        while True:
            stats = client.hgetall(settings.key("actor-stats"))
            count = float(stats.get(b"record_cell:processed", 0))
            if count >= expected or time.monotonic() > deadline:
                return float(stats.get(b"record_cell:ms", 0)) / max(count, 1), int(count)
            time.sleep(0.05)


def postgres_cpu_s() -> float:
    """utime + stime of every PostgreSQL server process (the benchmark's database is the
    only busy one)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError, IndexError):
            continue
        if name == "postgres":
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def mlflow_requests(log: Path, offset: int) -> Counter[str]:
    """The MLflow server's requests logged past `offset`, by method and endpoint (an
    artifact by its file name)."""
    with log.open("rb") as file:
        file.seek(offset)
        lines = file.read().decode("utf-8", "replace").splitlines()
    found: Counter[str] = Counter()
    for line in lines:
        request = _REQUEST.search(line)
        if request:
            method, path = request.groups()
            if "/mlflow-artifacts/artifacts/" in path:
                path = "artifact " + path.rsplit("/", 1)[-1]
            found[f"{method} {path}"] += 1
    return found


def measure(backend: str, backend_uri: str, fake: FakeOllama, label: str = "") -> dict[str, Any]:
    """One backend: a warm-up job, then the 48-cell job; its figures, the CPU each service
    used during it, and the MLflow server's requests."""
    settings = bench_settings(ollama_host=fake.url, mlflow_backend_uri=backend_uri)
    try:
        stack.up(settings)
        var = Path(settings.var_dir)
        groups = {p.stem: int(p.read_text().split()[0]) for p in (var / "run").glob("*.pid")}
        with gateway_api(settings) as api:
            wait_jobs(api, [run_job(api, JOB | {"experiment": "warmup", "n_scenarios": 1})])
            time.sleep(3)  # the warm-up's rebuilds and packet
            with redis.Redis.from_url(settings.redis_url) as client:
                client.delete(settings.key("actor-stats"))
            offset = (var / "log" / "mlflow.log").stat().st_size
            before = {name: cpu_seconds(pgid) for name, pgid in groups.items()}
            before["postgresql"] = postgres_cpu_s()
            started = time.monotonic()
            wait_jobs(api, [run_job(api, JOB | {"experiment": f"bench-{backend}"})])
            wall = time.monotonic() - started
            cpu = {name: cpu_seconds(pgid) - before[name] for name, pgid in groups.items()}
            if backend_uri:
                cpu["postgresql"] = postgres_cpu_s() - before["postgresql"]
            requests = mlflow_requests(var / "log" / "mlflow.log", offset)
        mean_ms, cells = recorder_ms(settings)
        return {
            "backend": label or backend,
            "cells": cells,
            "record_ms": mean_ms,
            "wall_s": wall,
            "cpu_s": cpu,
            "requests": requests,
        }
    finally:
        stack.down(settings)
        forget(settings)


def main() -> None:
    fake = FakeOllama()
    for model in FAKE_MODELS:
        fake.add(model)
    fake.start()
    try:
        results = [measure("sqlite", "", fake)]
        with postgres_database() as uri:
            results.append(measure("postgresql", uri, fake))
        with postgres_database() as uri, uvicorn_server():
            label = "postgresql, MLflow's default server (uvicorn)"
            results.append(measure("postgresql", uri, fake, label))
    finally:
        fake.stop()
    for r in results:
        print(
            f"{r['backend']}: {r['cells']} cells recorded, {r['record_ms']:.0f} ms per cell"
            f" in the recorder; job {r['wall_s']:.1f} s wall,"
            f" {1000 * r['wall_s'] / r['cells']:.0f} ms per cell"
        )
        used = ", ".join(f"{name} {seconds:.2f}" for name, seconds in sorted(r["cpu_s"].items()))
        print(f"{'':>12}CPU seconds during the job: {used}")
        per_cell = ", ".join(
            f"{name} {count / r['cells']:.2f}" for name, count in r["requests"].most_common()
        )
        print(f"{'':>12}MLflow requests per cell: {per_cell}")


if __name__ == "__main__":
    main()
