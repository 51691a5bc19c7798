"""Benchmarks behind docs/performance.md; each stack they start is throwaway."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import httpx
import redis

from shared.settings import Settings
from testkit.processes import free_port, settings_env

BENCH_TOKEN = "bench-admin-token-0123456789"


def bench_settings(**overrides: str) -> Settings:
    """Settings of a throwaway stack (free ports, own namespace and var dir), exported."""
    mlflow_port = free_port()
    settings = Settings(
        namespace=f"tbbench-{uuid.uuid4().hex[:8]}",
        mlflow_uri=f"http://127.0.0.1:{mlflow_port}",
        mlflow_port=mlflow_port,
        admin_token=BENCH_TOKEN,
        gateway_port=free_port(),
        var_dir=str(Path(tempfile.mkdtemp(prefix="tipbench-bench-"))),
        **overrides,  # type: ignore[arg-type]
    )
    os.environ.update(settings_env(settings))
    return settings


def forget(settings: Settings) -> None:
    """Delete the throwaway stack's Redis keys."""
    with redis.Redis.from_url(settings.redis_url) as connection:
        for key in connection.scan_iter(match=f"{settings.namespace}:*"):
            connection.delete(key)


def gateway_api(settings: Settings, timeout_s: float = 60.0) -> httpx.Client:
    """A client of the benchmark stack's gateway, with its admin token."""
    return httpx.Client(
        base_url=f"http://127.0.0.1:{settings.gateway_port}",
        headers={"Authorization": f"Bearer {BENCH_TOKEN}"},
        timeout=timeout_s,
    )
