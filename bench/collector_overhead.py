"""Benchmark of the collector pipeline against the fake Ollama (see docs/performance.md).

    .venv/bin/python -m bench.collector_overhead

Starts a real MLflow server, the gateway and the workers (as `make up` does) on free
ports with a throwaway namespace, and measures:
1. a 48-cell job (4 models x 3 prompts x 4 scenarios) with 1 s per generation: wall time
   from POST to the job's end, against the 48 s the model itself needs; then the same
   with 2 s per model load, against the 48 s + 4 loads x 2 s;
2. the same job with instant generations: the pipeline's own cost per cell;
3. a 2 s cold-load cost per model: the 48 cells model-major (one job) against the same
   cells interleaved across models (48 one-cell jobs, so every cell loads its model,
   as with keep_alive=0 on every call).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from bench import bench_settings, forget, gateway_api
from testkit.fake_models import FAKE_MODELS
from testkit.fake_ollama import FakeOllama
from tipbench import stack

MODELS = ["tidy:1b", "tidy-b:0.5b", "tidy-c:3b", "tidy-d:1.5b"]
PROMPTS = ["v1", "v2-mentor", "v3-few-shot"]


def run_job(api: httpx.Client, body: dict[str, Any]) -> str:
    answer = api.post("/api/bench/run", json=body)
    answer.raise_for_status()
    return str(answer.json()["job_id"])


def wait_jobs(api: httpx.Client, job_ids: list[str]) -> None:
    pending = set(job_ids)
    while pending:
        for job_id in list(pending):
            job = api.get(f"/api/bench/jobs/{job_id}").json()
            if job["done"] + job["failed"] == job["total"]:
                if job["failed"]:
                    raise RuntimeError(f"job {job_id} failed cells: {job['failed_cells']}")
                pending.discard(job_id)
        time.sleep(0.05)


def measure(api: httpx.Client, fake: FakeOllama, bodies: list[dict[str, Any]]) -> tuple[float, int]:
    """Wall seconds from the first POST to the end of the last job, and model loads.

    Also prints where the time went: from the first POST's answer to the first generation,
    between generations (the collector's own path; median, mean, max), and after the last
    one (writing the last run).
    """
    fake.state.loads.clear()
    fake.state.chat_spans.clear()
    fake.state.chat_requests.clear()
    started = time.monotonic()
    ids = [run_job(api, bodies[0])]
    answered = time.monotonic()
    ids += [run_job(api, body) for body in bodies[1:]]
    wait_jobs(api, ids)
    ended = time.monotonic()
    spans = sorted(fake.state.chat_spans)
    # a gap: from a chat's answer leaving the fake to the next chat's request arriving
    # (before the fake parses it: Ollama's own server parses in microseconds); beside it,
    # to the fake's having parsed it and taken its slot
    requests = sorted(fake.state.chat_requests)
    gaps = [b[0] - a[1] for a, b in zip(requests, requests[1:], strict=False)] or [0.0]
    parsed = [b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)] or [0.0]
    print(
        f"  first generation {1000 * (spans[0][0] - answered):.0f} ms after the POST's answer;"
        f" between generations {1000 * statistics.median(gaps):.1f} ms at the median"
        f" ({1000 * statistics.median(parsed):.1f} ms to the fake's having parsed the request),"
        f" {1000 * statistics.mean(gaps):.1f} ms on average (max {1000 * max(gaps):.0f} ms,"
        f" model loads included); after the last {1000 * (ended - spans[-1][1]):.0f} ms"
    )
    return ended - started, len(fake.state.loads)


def main() -> None:
    fake = FakeOllama(keep_alive=True)  # as Ollama: connections kept open
    for model in FAKE_MODELS:
        fake.add(model)
    fake.start()
    settings = bench_settings(ollama_host=fake.url)
    try:
        stack.up(settings)
        with gateway_api(settings) as api:
            job = {"models": MODELS, "prompts": PROMPTS, "n_scenarios": 4}
            measure(api, fake, [job | {"experiment": "bench-warmup", "n_scenarios": 1}])

            fake.state.generation_delay_s = 1.0
            wall, _ = measure(api, fake, [job | {"experiment": "bench-1s"}])
            print(f"48 cells x 1 s generation: {wall:.1f} s wall, ratio {wall / 48:.3f}")

            fake.state.load_delay_s = 2.0
            fake.state.resident.clear()
            wall, loads = measure(api, fake, [job | {"experiment": "bench-1s-2s-load"}])
            floor = 48 * 1.0 + loads * 2.0
            print(
                f"48 cells x 1 s generation, {loads} loads x 2 s: {wall:.1f} s wall,"
                f" ratio {wall / floor:.3f} to the model's {floor:.0f} s"
            )
            fake.state.load_delay_s = 0.0

            fake.state.generation_delay_s = 0.0
            wall, _ = measure(api, fake, [job | {"experiment": "bench-0s"}])
            print(
                f"48 cells x 0 s generation: {wall:.1f} s wall, {wall / 48 * 1000:.0f} ms per cell"
            )

            fake.state.load_delay_s = 2.0
            fake.state.resident.clear()
            grouped, grouped_loads = measure(
                api, fake, [job | {"experiment": "bench-load-grouped"}]
            )
            interleaved_bodies = [
                {
                    "models": [model],
                    "prompts": [prompt],
                    "n_scenarios": 1,
                    "experiment": "bench-load-mixed",
                }
                for _ in range(4)
                for prompt in PROMPTS
                for model in MODELS
            ]
            mixed, mixed_loads = measure(api, fake, interleaved_bodies)
            print(
                f"2 s cold load: model-major {grouped:.1f} s with {grouped_loads} loads"
                f" ({grouped_loads * 2} s loading); interleaved {mixed:.1f} s with {mixed_loads}"
                f" loads ({mixed_loads * 2} s loading); load time"
                f" {mixed_loads / grouped_loads:.0f}x less, total {mixed / grouped:.1f}x faster"
            )
    finally:
        stack.down(settings)
        fake.stop()
        forget(settings)


if __name__ == "__main__":
    main()
