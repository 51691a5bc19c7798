"""Benchmark of the report step of a rebuild (see docs/performance.md).

    .venv/bin/python -m bench.report_build

For experiments of 100, 1,000 and 10,000 judged runs (16 models x 3 prompts x the 8
tip-v1 scenarios, repeats beyond 384 runs), every answer already kept in Redis as a
rebuild leaves it: the time to read the answers back and render the HTML, and its size.
No MLflow server is involved: with every answer known, the report step makes no MLflow
call (reading a new run is two calls, once per run; the rebuild benchmark measures the
upload with the rest of the publication).
"""

from __future__ import annotations

import random
import time

import redis
from mlflow.tracking import MlflowClient

from bench import bench_settings, forget
from bench.reporter_rebuild import ANSWER, PARAMS, TIP_V1
from services.reporter.leaderboard import Cell, aggregate
from services.reporter.report import build_report
from shared.stores.answers import AnswerStore, RunAnswer

SIZES = (100, 1_000, 10_000)
NOWHERE = MlflowClient(tracking_uri="http://127.0.0.1:9")  # never called: all answers known


def cells_of(n_runs: int, rng: random.Random) -> list[Cell]:
    """n_runs judged cells over 16 models x 3 prompts x 8 scenarios."""
    grid = [
        ((f"model-{m}", p), s)
        for m in range(16)
        for p in ("v1", "v2-mentor", "v3-few-shot")
        for s in TIP_V1.scenarios
    ]
    found = []
    for i in range(n_runs):
        row, scenario = grid[i % len(grid)]
        dims = [rng.randint(1, 5) for _ in range(3)]
        scores = dict(zip(("relevance", "actionability", "tone"), dims, strict=True))
        metrics = {**scores, "format_ok": 1.0, "overlong": 0.0}
        found.append(Cell(f"run-{i}", row, scenario.id, dict(scenario.facets), "", metrics))
    return found


def main() -> None:
    settings = bench_settings()
    rng = random.Random(7)
    try:
        with redis.Redis.from_url(settings.redis_url) as connection:
            answers = AnswerStore(connection, settings)
            for size in SIZES:
                name = f"report-{size}"
                cells = cells_of(size, rng)
                board = aggregate(name, cells, 1, TIP_V1)
                known = RunAnswer(answer=ANSWER, params=PARAMS)
                answers.add(name, {c.run_id: known for c in cells})
                t0 = time.perf_counter()
                read = answers.get(name)
                t1 = time.perf_counter()
                html, _ = build_report(NOWHERE, answers, board, cells, TIP_V1)
                t2 = time.perf_counter()
                assert len(read) == size
                print(
                    f"{size:>6} runs: read answers {t1 - t0:.3f} s, report (read + render)"
                    f" {t2 - t1:.3f} s, {len(html.encode()) // 1024} KiB"
                )
    finally:
        forget(settings)


if __name__ == "__main__":
    main()
