"""Benchmark of the queue metrics a Prometheus scrape of the gateway reads (docs/performance.md).

    .venv/bin/python -m bench.queue_metrics

A Redis holding a stack's worth of state, at growing sizes: jobs in the job list (each a
real record written by JobStore), cells waiting in the collect queue (sent through the
broker as the gateway sends them), 6 workers' heartbeats with a message in progress each,
20 models' totals. For each size: the time of one collection by the exporter's collector
(median and 95th percentile of 50), the Redis commands it costs, and the time of the
whole `GET /metrics` answer (the Flask app in-process, the gateway's own metrics included).
"""

from __future__ import annotations

import statistics
import time
import uuid

import redis
from prometheus_client import CollectorRegistry, generate_latest

from bench import bench_settings, forget
from services.gateway.app import create_app
from services.gateway.queue_metrics import QueueCollector
from shared.broker import make_broker
from shared.contracts import BenchRequest
from shared.messaging import send
from shared.queues import QUEUES
from shared.settings import Settings
from shared.stores.jobs import JobStore
from shared.stores.models import ModelStatsStore
from testkit.cells import a_collect_cell

SIZES = ((100, 100), (1_000, 1_000), (10_000, 10_000))  # (jobs, waiting cells)
SCRAPES = 50


def fill(client: redis.Redis[bytes], settings: Settings, jobs: int, waiting: int) -> None:
    """`jobs` job records, `waiting` cells in the collect queue, workers, model totals."""
    store = JobStore(client, settings)
    for _ in range(jobs):
        job_id = uuid.uuid4().hex
        store.create(
            job_id,
            BenchRequest(models=["tidy:1b"]),
            [a_collect_cell(job_id=job_id)],
        )
    broker = make_broker(settings)
    for i in range(waiting):
        send(broker, a_collect_cell(f"model-{i % 20}:1b"))
    broker.close()
    now_ms = time.time() * 1000
    for w in range(6):
        worker = uuid.uuid4().hex
        client.zadd(settings.key("dramatiq", "__heartbeats__"), {worker: now_ms})
        client.sadd(settings.key("dramatiq", f"__acks__.{worker}.{QUEUES[w % len(QUEUES)]}"), "m")
    models = ModelStatsStore(client, settings)
    for m in range(20):
        models.add_generation(f"model-{m}:1b", load_s=2.0, generation_s=1.0)


def commands(client: redis.Redis[bytes]) -> int:
    """Commands Redis has processed so far."""
    return int(client.info("stats")["total_commands_processed"])


def main() -> None:
    """Print, per size, the collection time, its Redis commands and the /metrics time."""
    print("| jobs | cells waiting | collection median | p95 | Redis commands | /metrics median |")
    print("| --- | --- | --- | --- | --- | --- |")
    for jobs, waiting in SIZES:
        settings = bench_settings()
        client: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
        try:
            fill(client, settings, jobs, waiting)
            registry = CollectorRegistry()
            registry.register(QueueCollector(client, settings))
            generate_latest(registry)  # connections opened, scripts loaded
            before = commands(client)
            times = []
            for _ in range(SCRAPES):
                started = time.perf_counter()
                generate_latest(registry)
                times.append(time.perf_counter() - started)
            per_scrape = (commands(client) - before - SCRAPES) / SCRAPES  # INFO itself counts
            web = create_app(settings).test_client()
            web.get("/metrics")
            answers = []
            for _ in range(SCRAPES):
                started = time.perf_counter()
                assert web.get("/metrics").status_code == 200
                answers.append(time.perf_counter() - started)
            p95 = statistics.quantiles(times, n=20)[-1]
            print(
                f"| {jobs:,} | {waiting:,} | {statistics.median(times) * 1000:.1f} ms"
                f" | {p95 * 1000:.1f} ms | {per_scrape:.0f}"
                f" | {statistics.median(answers) * 1000:.1f} ms |"
            )
        finally:
            forget(settings)
            client.close()


if __name__ == "__main__":
    main()
