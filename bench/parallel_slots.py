"""Benchmark: a provider with parallel slots (see docs/performance.md, "Backends that batch").

    .venv/bin/python -m bench.parallel_slots

The seed's 48-cell job (4 models x 3 prompts x 4 scenarios) against the fake Ollama with
4 parallel slots (as OLLAMA_NUM_PARALLEL=4) and 1 s per generation, run on a fresh local
stack twice, side by side: the collector told TIPBENCH_OLLAMA_PARALLEL=1 (one request at a
time, the default) and =4. Wall time from the POST to the job's end.
"""

from __future__ import annotations

import time

from bench import bench_settings, forget, gateway_api
from bench.collector_overhead import MODELS, PROMPTS, run_job, wait_jobs
from testkit.fake_models import FAKE_MODELS
from testkit.fake_ollama import FakeOllama
from tipbench import stack

SLOTS = 4


def job_wall(parallel: int) -> tuple[float, int, int]:
    """Wall seconds of the 48-cell job, the most chats at once, the most models resident."""
    fake = FakeOllama()
    for model in FAKE_MODELS:
        fake.add(model)
    fake.start()
    settings = bench_settings(ollama_host=fake.url, ollama_parallel=str(parallel))
    try:
        stack.up(settings)
        with gateway_api(settings) as api:
            job = {"models": MODELS, "prompts": PROMPTS, "n_scenarios": 4}
            wait_jobs(api, [run_job(api, job | {"experiment": "warm", "n_scenarios": 1})])
            fake.state.reset()
            fake.state.slots = SLOTS
            fake.state.generation_delay_s = 1.0
            started = time.monotonic()
            wait_jobs(api, [run_job(api, job | {"experiment": "slots"})])
            wall = time.monotonic() - started
            generating = max(end for _, end in fake.state.chat_spans) - started
            print(f"  parallel={parallel}: the last generation ended at {generating:.1f} s")
            return wall, fake.state.max_in_flight, fake.state.max_resident
    finally:
        stack.down(settings)
        fake.stop()
        forget(settings)


def main() -> None:
    one, one_flight, one_resident = job_wall(1)
    four, four_flight, four_resident = job_wall(SLOTS)
    print(f"48 cells x 1 s, a {SLOTS}-slot server:")
    print(f"  parallel=1: {one:6.1f} s ({one_flight} at once, {one_resident} model resident)")
    print(
        f"  parallel={SLOTS}: {four:6.1f} s ({four_flight} at once, {four_resident} model resident)"
    )
    print(f"  {one / four:.2f}x faster")


if __name__ == "__main__":
    main()
