"""gunicorn settings for the gateway; the bind address comes from the tipbench settings."""

import os
import shutil
from pathlib import Path
from typing import Any

from shared.settings import Settings

_settings = Settings()

bind = f"{_settings.gateway_host}:{_settings.gateway_port}"
# Threads, not processes, per request: a request waiting on MLflow or Redis holds a thread.
# gthread with a deadline on reading each request (slow_clients.py): a client dribbling its
# body holds a thread for TIPBENCH_REQUEST_READ_TIMEOUT_S at most, and 32 threads per
# process leave room to answer while 16 such clients (all on one process) are being cut.
worker_class = "services.gateway.slow_clients.DeadlineThreadWorker"
workers = 2
threads = 32
timeout = 60
graceful_timeout = 20
keepalive = 5
# The access log is off the hot path: requests are counted in /metrics, and the app logs
# every state-changing request (JSON, with its request id).
accesslog = None
errorlog = "-"
# The workers' heartbeat files in memory, not on a disk that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn's control socket has one default path per user: two stacks on one machine
# would fight over it, and nothing here uses it.
control_socket_disable = True

# Prometheus counters of every worker process live in files here; /metrics sums them.
_metrics_dir = Path(_settings.var_dir).resolve() / "prometheus" / "gateway"
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def on_starting(server: Any) -> None:
    """Start with empty counters."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    _metrics_dir.mkdir(parents=True, exist_ok=True)


def post_worker_init(worker: Any) -> None:
    """Give the worker its request deadline from the settings."""
    worker.read_timeout_s = _settings.request_read_timeout_s


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
