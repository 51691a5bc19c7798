"""Benchmark: one generation host against two (see docs/performance.md, "Beyond one machine").

    .venv/bin/python -m bench.multihost

The seed's 48-cell job (4 models x 3 prompts x 4 scenarios) on fake Ollama servers where
every model is equally slow (2 s to load, 1 s per generation), run on a fresh local
stack twice: one host (the default `collect` queue, one collector) and two hosts
(TIPBENCH_HOSTS, a collector and a queue each, two models per host). Wall time from the
POST to the job's end; the issue asks for two hosts <= 0.55 x one host.
"""

from __future__ import annotations

import time

from bench import bench_settings, forget, gateway_api
from bench.collector_overhead import MODELS, PROMPTS, run_job, wait_jobs
from testkit.fake_models import FAKE_MODELS
from testkit.fake_ollama import FakeOllama
from testkit.processes import free_port
from tipbench import stack

LOAD_S = 2.0
GENERATION_S = 1.0


def job_wall(n_hosts: int) -> tuple[float, list[int]]:
    """Wall seconds of the 48-cell job on n_hosts fake hosts, and the chats each served."""
    fakes = [FakeOllama() for _ in range(n_hosts)]
    for fake in fakes:
        for model in FAKE_MODELS:
            fake.add(model)
        fake.start()
    hosts = ",".join(f"h{i}={fake.url}" for i, fake in enumerate(fakes)) if n_hosts > 1 else ""
    settings = bench_settings(ollama_host=fakes[0].url, hosts=hosts, metrics_port=str(free_port()))
    try:
        stack.up(settings)
        with gateway_api(settings) as api:
            job = {"models": MODELS, "prompts": PROMPTS, "n_scenarios": 4}
            wait_jobs(api, [run_job(api, job | {"experiment": "warm", "n_scenarios": 1})])
            for fake in fakes:
                fake.state.reset()
                fake.state.load_delay_s = LOAD_S
                fake.state.generation_delay_s = GENERATION_S
            started = time.monotonic()
            wait_jobs(api, [run_job(api, job | {"experiment": "hosts"})])
            wall = time.monotonic() - started
            return wall, [len(fake.state.calls_to("/api/chat")) for fake in fakes]
    finally:
        stack.down(settings)
        for fake in fakes:
            fake.stop()
        forget(settings)


def main() -> None:
    one, one_chats = job_wall(1)
    two, two_chats = job_wall(2)
    print(f"48 cells, 4 models ({LOAD_S:.0f} s load, {GENERATION_S} s per generation):")
    print(f"  one host:  {one:6.1f} s (chats per host {one_chats})")
    print(f"  two hosts: {two:6.1f} s (chats per host {two_chats})")
    print(f"  two hosts / one host = {two / one:.2f}")


if __name__ == "__main__":
    main()
