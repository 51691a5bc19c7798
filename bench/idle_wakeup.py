"""Benchmark: what the stack costs at rest, and how fast an idle worker takes a message
(see docs/performance.md, "At rest").

    .venv/bin/python -m bench.idle_wakeup [--idle-s 60]

1. Pickup: a message sent to an idle dramatiq worker on the real Redis, time from the
   send to the actor's start, 20 times, with the project's broker (woken by the enqueue,
   shared/wakeup.py) and with dramatiq's own RedisBroker polling (worker timeout 20 ms,
   the collector's former setting, and 1,000 ms, dramatiq's default).
2. At rest: the local stack (MLflow server, gateway, collector, recorder, judge bridge,
   one reporter) started as `make up` does, left alone, then the CPU time of every
   process of each service over --idle-s seconds (from /proc), as a share of one core;
   once as shipped, once as before (every worker's timeout at 20 ms, as the collector and
   the recorder polled: idle waits of 20-80 ms; MLflow's server-side job runner on).
   Then the time from a job's POST answer to its first generation.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench import bench_settings, forget, gateway_api
from shared.broker import make_broker
from testkit.fake_models import FAKE_MODELS
from testkit.fake_ollama import FakeOllama
from tipbench import stack

SAMPLES = 20
TICKS = os.sysconf("SC_CLK_TCK")


def pickup_ms(broker: RedisBroker, worker_timeout_ms: int) -> list[float]:
    """Send-to-start times of SAMPLES messages to an idle worker."""
    started: list[float] = []
    arrived = threading.Event()
    queue = f"pickup-{uuid.uuid4().hex[:6]}"

    @dramatiq.actor(broker=broker, queue_name=queue, actor_name=queue)
    def probe() -> None:
        started.append(time.perf_counter())
        arrived.set()

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=worker_timeout_ms)
    worker.start()
    times: list[float] = []
    try:
        time.sleep(1.5)
        for _ in range(SAMPLES):
            arrived.clear()
            sent = time.perf_counter()
            probe.send()
            arrived.wait(30)
            times.append(1000 * (started[-1] - sent))
            time.sleep(0.25 + (len(times) % 7) / 10)  # idle again, at varied phases
    finally:
        worker.stop()
        broker.close()
    return times


def describe(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(0.95 * len(ordered)) - 1]
    median = statistics.median(ordered)
    return f"median {median:7.1f} ms, p95 {p95:7.1f} ms, max {ordered[-1]:7.1f} ms"


def cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process of a process group."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[2] is the pgrp (fields after the name)
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def idle_cpu(idle_s: float, env: dict[str, str]) -> tuple[dict[str, float], float]:
    """Share of one core per service at rest, and the seconds from a POST's answer to the
    job's first generation."""
    fake = FakeOllama()
    for model in FAKE_MODELS:
        fake.add(model)
    fake.start()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = bench_settings(ollama_host=fake.url)
    try:
        stack.up(settings)
        run = Path(settings.var_dir) / "run"
        groups = {p.stem: int(p.read_text().split()[0]) for p in run.glob("*.pid")}
        with gateway_api(settings) as api:  # warm: one job through every service
            body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 1}
            job = api.post("/api/bench/run", json=body | {"experiment": "warm"}).json()
            wait_for(lambda: api.get(f"/api/bench/jobs/{job['job_id']}").json()["done"] == 1)
            time.sleep(10)  # the reporter's debounced rebuild, the judge's packet
            before = {name: cpu_seconds(pgid) for name, pgid in groups.items()}
            time.sleep(idle_s)
            after = {name: cpu_seconds(pgid) for name, pgid in groups.items()}
            fake.state.chat_spans.clear()
            api.post("/api/bench/run", json=body | {"experiment": "pickup"}).raise_for_status()
            answered = time.monotonic()
            wait_for(lambda: bool(fake.state.chat_spans))
            first = fake.state.chat_spans[0][0] - answered
        return {name: 100 * (after[name] - before[name]) / idle_s for name in groups}, first
    finally:
        stack.down(settings)
        fake.stop()
        forget(settings)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def wait_for(check: Callable[[], bool], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark stack did not get there")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-s", type=float, default=60.0)
    args = parser.parse_args()

    settings = bench_settings()
    try:
        print(f"Pickup by an idle worker ({SAMPLES} messages each):")
        woken = pickup_ms(make_broker(settings), 1000)
        print(f"  woken by the enqueue (shipped):   {describe(woken)}")
        for timeout in (20, 1000):
            plain = RedisBroker(url=settings.redis_url, namespace=settings.key("plain"))  # type: ignore[no-untyped-call]
            polled = pickup_ms(plain, timeout)
            print(f"  dramatiq polling, timeout {timeout:>4} ms: {describe(polled)}")
    finally:
        forget(settings)

    print(f"\nThe local stack at rest, {args.idle_s:.0f} s, % of one core:")
    shipped, first = idle_cpu(args.idle_s, {})
    before = {"dramatiq_worker_timeout": "20", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true"}
    polling, first_polling = idle_cpu(args.idle_s, before)
    print(f"  {'service':<14} {'shipped':>8} {'before':>14}")
    for name in sorted(shipped):
        print(f"  {name:<14} {shipped[name]:>7.2f}% {polling.get(name, 0.0):>13.2f}%")
    print(f"  {'total':<14} {sum(shipped.values()):>7.2f}% {sum(polling.values()):>13.2f}%")
    print(
        f"First generation after the POST answered: {1000 * first:.0f} ms shipped,"
        f" {1000 * first_polling:.0f} ms polling"
    )


if __name__ == "__main__":
    main()
