"""tipbench against a plain ollama-python loop and promptfoo, side by side in one run.

    .venv/bin/python -m bench.promptfoo_compare

The seed's 48 cells (4 models x 3 prompts x the suite's first 4 scenarios, prompts
rendered by tipbench's own render_prompt) against the fake Ollama answering each chat
after 0 ms, then after 50 ms, then after 1 s with 2 s for each model load (the plain loop
and tipbench only: promptfoo adds nothing to learn there); each tool timed from its start
to its last result stored:

- a plain loop of ollama-python chats, the answers kept in a list and written to a file;
- `promptfoo eval -j 1 --no-cache` (one test case per prompt and scenario, one provider
  `ollama:chat:<model>` per model), results in its local SQLite store. promptfoo is
  installed from the npm registry into this benchmark's scratch folder
  (TIPBENCH_BENCH_PROMPTFOO_DIR, default var/bench/promptfoo), never into the project;
- tipbench: the POST of the job to its end, every run, trace and artifact in MLflow, on a
  stack with MLflow on SQLite, then on PostgreSQL (a throwaway database, as in
  bench/recorder_backends.py).

Also the recorder's cost per cell: the record_cell actor's mean duration, and amortized
(the 0 ms job's wall time over its cells: the recorder is the bottleneck there).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from contextlib import closing
from pathlib import Path

import ollama
import redis

from bench import bench_settings, forget, gateway_api
from bench.collector_overhead import MODELS, PROMPTS, run_job, wait_jobs
from bench.recorder_backends import postgres_database, recorder_ms
from shared.contracts import BenchRequest
from shared.suite import render_prompt
from shared.suite_files import DEFAULT_SUITE, builtin_suite
from testkit.fake_models import FAKE_MODELS
from testkit.fake_ollama import FakeOllama
from tipbench import stack

PROMPTFOO_VERSION = "0.121"
PROMPTFOO_DIR = Path(
    os.environ.get(
        "TIPBENCH_BENCH_PROMPTFOO_DIR",
        str(Path(__file__).parents[1] / "var" / "bench" / "promptfoo"),
    )
)
DELAYS_S = (0.0, 0.05)
SLOW = "1 s, 2 s per load"  # the third row: 1 s generations, a model load costs 2 s
SLOW_GENERATION_S, SLOW_LOAD_S = 1.0, 2.0
N_SCENARIOS = 4
DEFAULTS = BenchRequest()  # the request's sampling defaults, as tipbench sends them


def rendered_cells() -> list[tuple[str, str, list[dict[str, str]]]]:
    """(prompt version, scenario id, chat messages) of each prompt and scenario."""
    suite = builtin_suite(DEFAULT_SUITE)
    scenarios = [s.id for s in suite.scenarios][:N_SCENARIOS]
    return [
        (version, scenario, render_prompt(suite, version, scenario, suite.checks.n_tips).messages)
        for version in PROMPTS
        for scenario in scenarios
    ]


def plain_loop(fake: FakeOllama, folder: Path) -> float:
    """Seconds for the 48 chats in a loop, the answers written to one JSON file."""
    started = time.monotonic()
    client = ollama.Client(host=fake.url)
    options = {"temperature": DEFAULTS.temperature, "seed": DEFAULTS.seed}
    answers = [
        {
            "model": model,
            "prompt": version,
            "scenario": scenario,
            "answer": client.chat(model=model, messages=messages, options=options).message.content,
        }
        for model in MODELS
        for version, scenario, messages in rendered_cells()
    ]
    (folder / "answers.json").write_text(json.dumps(answers), "utf-8")
    return time.monotonic() - started


def promptfoo_bin() -> Path:
    """promptfoo in the scratch folder, installed from the npm registry if missing."""
    found = PROMPTFOO_DIR / "node_modules" / ".bin" / "promptfoo"
    if not found.exists():
        PROMPTFOO_DIR.mkdir(parents=True, exist_ok=True)
        (PROMPTFOO_DIR / "package.json").write_text('{"private": true}', "utf-8")
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed for promptfoo (Debian: apt-get install nodejs npm)")
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", f"promptfoo@{PROMPTFOO_VERSION}"],
            cwd=PROMPTFOO_DIR,
            check=True,
        )
    return found


def promptfoo_config(folder: Path) -> Path:
    """The 48 cells as a promptfoo config: the messages as each test case's variable."""
    options = {"temperature": DEFAULTS.temperature, "seed": DEFAULTS.seed}
    config = {
        "description": "tipbench 48 cells",
        "prompts": ["{{ messages | dump }}"],
        "providers": [{"id": f"ollama:chat:{model}", "config": options} for model in MODELS],
        "tests": [
            {"description": f"{version} {scenario}", "vars": {"messages": messages}}
            for version, scenario, messages in rendered_cells()
        ],
    }
    path = folder / "promptfooconfig.json"
    path.write_text(json.dumps(config), "utf-8")
    return path


def promptfoo_eval(fake: FakeOllama, folder: Path) -> float:
    """Seconds for `promptfoo eval -j 1 --no-cache`, its results in its SQLite store."""
    command = [str(promptfoo_bin()), "eval", "-c", str(promptfoo_config(folder))]
    command += ["-j", "1", "--no-cache", "--no-progress-bar", "--no-table"]
    env = os.environ | {
        "OLLAMA_BASE_URL": fake.url,
        "PROMPTFOO_CONFIG_DIR": str(folder / "store"),  # its SQLite database, not ~/.promptfoo
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
    }
    started = time.monotonic()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode not in (0, 100):  # 100: some assertion failed (there are none)
        raise RuntimeError(f"promptfoo eval failed ({done.returncode}): {done.stderr[-2000:]}")
    with closing(sqlite3.connect(folder / "store" / "promptfoo.db")) as db:
        (stored,) = db.execute("SELECT count(*) FROM eval_results").fetchone()
    if stored != len(MODELS) * len(rendered_cells()):
        raise RuntimeError(f"promptfoo stored {stored} results: {done.stdout[-2000:]}")
    return wall


def slow_model(fake: FakeOllama) -> None:
    """The fake as the issue's third row: 1 s per generation, 2 s per load, none resident."""
    fake.state.generation_delay_s = SLOW_GENERATION_S
    fake.state.load_delay_s = SLOW_LOAD_S
    fake.state.resident.clear()
    fake.state.loads.clear()


def slow_floor_s(fake: FakeOllama) -> float:
    """The model's own time in the slow case: generations and the loads it made."""
    return 48 * SLOW_GENERATION_S + len(fake.state.loads) * SLOW_LOAD_S


def tipbench_jobs(fake: FakeOllama, backend_uri: str) -> dict[float | str, dict[str, float]]:
    """A warm-up job, then the 48 cells at each delay on one stack: wall and recorder cost;
    then the slow case: wall and the model's own time."""
    settings = bench_settings(ollama_host=fake.url, mlflow_backend_uri=backend_uri)
    job = {"models": MODELS, "prompts": PROMPTS, "n_scenarios": N_SCENARIOS}
    figures: dict[float | str, dict[str, float]] = {}
    try:
        stack.up(settings)
        with gateway_api(settings) as api, redis.Redis.from_url(settings.redis_url) as client:
            fake.state.generation_delay_s = 0.0
            wait_jobs(api, [run_job(api, job | {"experiment": "warmup", "n_scenarios": 1})])
            for delay in DELAYS_S:
                fake.state.generation_delay_s = delay
                fake.state.chat_spans.clear()
                time.sleep(0.5)  # the last job's statistics, written just after its messages
                client.delete(settings.key("actor-stats"))
                started = time.monotonic()
                wait_jobs(
                    api, [run_job(api, job | {"experiment": f"bench-{round(1000 * delay)}ms"})]
                )
                ended = time.monotonic()
                record_ms, cells = recorder_ms(settings)
                figures[delay] = {
                    "wall_s": ended - started,
                    "after_last_s": ended - max(end for _, end in fake.state.chat_spans),
                    "record_ms": record_ms,
                    "cells": cells,
                }
            slow_model(fake)
            started = time.monotonic()
            wait_jobs(api, [run_job(api, job | {"experiment": "bench-slow"})])
            figures[SLOW] = {"wall_s": time.monotonic() - started, "floor_s": slow_floor_s(fake)}
    finally:
        fake.state.load_delay_s = 0.0
        fake.state.generation_delay_s = 0.0
        stack.down(settings)
        forget(settings)
    return figures


def main() -> None:
    promptfoo_bin()  # installed before anything is timed
    fake = FakeOllama(keep_alive=True)  # as Ollama: connections kept open
    for model in FAKE_MODELS:
        fake.add(model)
    fake.start()
    rows: dict[str, dict[float | str, float]] = {
        "plain ollama-python loop": {},
        "promptfoo -j 1": {},
    }
    try:
        for delay in DELAYS_S:
            fake.state.generation_delay_s = delay
            with tempfile.TemporaryDirectory(prefix="tipbench-compare-") as scratch:
                rows["plain ollama-python loop"][delay] = plain_loop(fake, Path(scratch))
            with tempfile.TemporaryDirectory(prefix="tipbench-compare-") as scratch:
                rows["promptfoo -j 1"][delay] = promptfoo_eval(fake, Path(scratch))
        slow_model(fake)
        with tempfile.TemporaryDirectory(prefix="tipbench-compare-") as scratch:
            rows["plain ollama-python loop"][SLOW] = plain_loop(fake, Path(scratch))
        plain_floor = slow_floor_s(fake)
        fake.state.load_delay_s = 0.0
        tipbench = {"SQLite": tipbench_jobs(fake, "")}
        with postgres_database() as uri:
            tipbench["PostgreSQL"] = tipbench_jobs(fake, uri)
    finally:
        fake.stop()
    for backend, figures in tipbench.items():
        cases = (*DELAYS_S, SLOW)
        rows[f"tipbench, MLflow on {backend}"] = {d: figures[d]["wall_s"] for d in cases}
    floors = {"plain ollama-python loop": plain_floor} | {
        f"tipbench, MLflow on {backend}": figures[SLOW]["floor_s"]
        for backend, figures in tipbench.items()
    }
    print(f"| tool (48 cells, start to last result stored) | 0 ms | 50 ms | {SLOW} |")
    print("| --- | --- | --- | --- |")
    for name, walls in rows.items():
        slow = (
            f"{walls[SLOW]:.1f} s (floor {floors[name]:.0f} s: ratio"
            f" {walls[SLOW] / floors[name]:.3f})"
            if SLOW in walls
            else "—"
        )
        print(f"| {name} | {walls[0.0]:.1f} s | {walls[0.05]:.1f} s | {slow} |")
    print()
    print(
        "| MLflow backend | recorder, per message | amortized per cell (0 ms job)"
        " | after the last generation (0 ms / 50 ms) |"
    )
    print("| --- | --- | --- | --- |")
    for backend, f in tipbench.items():
        print(
            f"| {backend} | {f[0.0]['record_ms']:.0f} ms"
            f" | {1000 * f[0.0]['wall_s'] / f[0.0]['cells']:.0f} ms"
            f" | {f[0.0]['after_last_s']:.1f} s / {f[0.05]['after_last_s']:.1f} s |"
        )


if __name__ == "__main__":
    main()
