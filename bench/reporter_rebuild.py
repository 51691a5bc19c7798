"""Benchmark of the reporter (see docs/performance.md).

    .venv/bin/python -m bench.reporter_rebuild

1. Rebuild time for experiments of 100, 1,000 and 10,000 finished cell runs. The runs are
   written straight into a fresh MLflow SQLite store (MLflow's own SqlAlchemyStore: 16
   models x 3 prompts x 8 scenarios, judged, with the collector's metrics and params),
   then a real `mlflow server` serves them and the reporter's code reads them over HTTP.
   Side by side: a full read (no snapshot in Redis, no durable copy), a cold start from
   the durable copy after Redis lost the snapshot (48 runs re-scored since the copy), and
   an incremental rebuild (48 runs changed).
2. 48 CellFinished events within one second with 3 reporter processes: how many rebuilds
   ran and the delay from the last event to the final leaderboard.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import redis
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.tracking import MlflowClient

from bench import bench_settings, forget
from services.reporter.leaderboard import read_cells, views
from services.reporter.publish import publish
from services.reporter.rebuild import RebuildGate
from services.reporter.report import build_report
from services.reporter.snapshot import CellSnapshot, current_cells
from shared import tracking
from shared.broker import make_broker
from shared.contracts import CellFinished
from shared.messaging import send
from shared.stores.answers import AnswerStore, RunAnswer
from shared.stores.leaderboards import LeaderboardStore
from shared.suite_files import builtin_suite
from tipbench import stack

SIZES = (100, 1_000, 10_000)
TIP_V1 = builtin_suite("tip-v1")
# What a tidy model answers: three tips, about 40 words in all.
ANSWER = (
    "- Drink a glass of water before your first coffee.\n"
    "- Write the three tasks that matter today on a sticky note.\n"
    "- Take the stairs once, then stretch your shoulders for a minute."
)
PARAMS = {"provider": "ollama", "model_digest": "sha256:0f3c", "temperature": "0.7", "seed": "42"}


def fill(store: SqlAlchemyStore, experiment: str, n_runs: int, rng: random.Random) -> None:
    """n_runs finished, judged cell runs in a new experiment."""
    experiment_id = store.create_experiment(tracking.experiment_name(experiment))  # type: ignore[no-untyped-call]
    cells = [
        (f"model-{m}", p, s)
        for m in range(16)
        for p in ("v1", "v2-mentor", "v3-few-shot")
        for s in TIP_V1.scenarios
    ]
    for i in range(n_runs):
        model, prompt, target = cells[i % len(cells)]
        run = store.create_run(  # type: ignore[no-untyped-call]
            experiment_id,
            "bench",
            int(time.time() * 1000),
            [RunTag(tracking.TAG_KIND, "cell")],
            f"r{i}",
        )
        dims = [rng.randint(1, 5) for _ in range(3)]
        values = {
            "relevance": dims[0],
            "actionability": dims[1],
            "tone": dims[2],
            "format_ok": 1,
            "overlong": 0,
            "composite": sum(dims) + 2,
            "latency_s": rng.uniform(0.5, 3),
            "load_s": 0.01,
            "tokens_per_s": 70.0,
            "auto_format_ok": 1,
            "auto_overlong": 0,
        }
        params = {
            "model": model,
            "prompt_version": prompt,
            "scenario_id": target.id,
            "suite": TIP_V1.suite,
            "suite_version": TIP_V1.content_version(),
            **{f"{tracking.FACET_PARAM}{k}": v for k, v in target.facets.items()},
        }
        store.log_batch(  # type: ignore[no-untyped-call]
            run.info.run_id,
            metrics=[Metric(k, float(v), 0, 0) for k, v in values.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[],
        )
        # Ended an hour ago, as runs a durable copy was made after: a cold start re-reads
        # only the runs written within the copy's margin (see services/reporter/durable.py).
        ended = int(time.time() * 1000) - 3_600_000
        store.update_run_info(run.info.run_id, RunStatus.FINISHED, ended, None)  # type: ignore[no-untyped-call]


def rescore(client: MlflowClient, run_ids: list[str]) -> None:
    """Write new scores to the runs as the judge bridge does (with its score stamp)."""
    now = int(time.time() * 1000)
    for run_id in run_ids:
        stamp = Metric(tracking.METRIC_SCORED_AT, float(now), now, 0)
        client.log_batch(run_id, metrics=[stamp, Metric("tone", 3.0, now, 0)])


def main() -> None:
    settings = bench_settings()
    var = Path(settings.var_dir)
    (var / "mlflow").mkdir(parents=True)
    db = var / "mlflow" / "mlflow.db"
    store = SqlAlchemyStore(f"sqlite:///{db}", str(var / "mlflow" / "artifacts"))  # type: ignore[no-untyped-call]
    rng = random.Random(7)
    started = time.perf_counter()
    for size in SIZES:
        fill(store, f"size-{size}", size, rng)
    print(f"wrote {sum(SIZES)} runs in {time.perf_counter() - started:.0f} s")
    try:
        stack.up(settings, reporters=3)
        client = tracking.make_client(settings)
        with redis.Redis.from_url(settings.redis_url) as connection:
            snapshot = CellSnapshot(connection, settings)
            answers = AnswerStore(connection, settings)
            for size in SIZES:
                name = f"size-{size}"
                experiment = tracking.find_experiment(client, name)
                assert experiment is not None
                eid = str(experiment.experiment_id)
                # The runs here have no artifacts: their answers are stored as a rebuild
                # keeps them after reading each run once (that first read is not timed).
                known = RunAnswer(answer=ANSWER, params=PARAMS)
                answers.add(name, {c.run_id: known for c in read_cells(client, eid)})
                some = [c.run_id for c in read_cells(client, eid)][:48]
                for label in ("full (no copy)", "full (copy + 48 re-scored)", "48 runs changed"):
                    if label.startswith("full (copy"):
                        connection.delete(settings.key("cells", name))  # Redis lost it
                        rescore(client, some)
                    if label.startswith("48"):
                        snapshot.mark_changed(name, some)
                    t0 = time.perf_counter()
                    cells = current_cells(client, snapshot, name, eid)
                    t1 = time.perf_counter()
                    (board, *_) = views(name, cells, 1, TIP_V1)
                    t2 = time.perf_counter()
                    report, _ = build_report(client, answers, board, cells, TIP_V1)
                    t3 = time.perf_counter()
                    publish(client, eid, board, report)
                    t4 = time.perf_counter()
                    print(
                        f"{size:>6} runs, {label}: read {t1 - t0:.2f} s, statistics"
                        f" {t2 - t1:.2f} s, report {t3 - t2:.2f} s ({len(report) // 1024} KiB),"
                        f" publish {t4 - t3:.2f} s, total {t4 - t0:.2f} s"
                    )

        broker = make_broker(settings)
        with redis.Redis.from_url(settings.redis_url) as connection:
            gate, boards = RebuildGate(connection, settings), LeaderboardStore(connection, settings)
            name = "size-100"
            before = boards.get(name)
            first = time.monotonic()
            for i in range(48):
                send(broker, CellFinished(job_id="b", experiment=name, cell_key=f"c{i}", ok=True))
            last = time.monotonic()
            # the final leaderboard: stored (what the gateway serves), nothing pending
            while True:
                latest = boards.get(name)
                newer = latest is not None and (before is None or latest.version > before.version)
                if newer and not connection.exists(settings.key("rebuild-pending", name)):
                    break
                time.sleep(0.01)
            done = time.monotonic()
            print(
                f"48 events in {1000 * (last - first):.0f} ms with 3 reporters:"
                f" {gate.rebuilds(name)} rebuild(s); final leaderboard"
                f" {done - last:.2f} s after the last event"
            )
        broker.close()
    finally:
        stack.down(settings)
        forget(settings)


if __name__ == "__main__":
    main()
