"""The reporter's durable snapshot: a cold start reads the copy in MLflow and what changed
since, never missing a run finished or re-scored after the copy was written."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from mlflow.tracking import MlflowClient

from services.judge_bridge.ingest import ingest_scores
from services.reporter import durable
from services.reporter.leaderboard import Cell
from services.reporter.publish import summary_run_id
from services.reporter.snapshot import CellSnapshot, current_cells
from shared import tracking
from shared.contracts import ScoreFile
from shared.judging import packet_for_judge
from shared.settings import Settings
from shared.stores.packets import PacketStore
from shared.stores.scores import ScoreStore
from shared.suite_files import builtin_suite
from testkit.fake_models import VERDICT
from tests.test_judging import candidates
from tests.test_reporter import make_runs

HOUR_MS = 3_600_000


@pytest.fixture
def store(core_settings: Settings) -> Iterator[redis.Redis[bytes]]:
    with redis.Redis.from_url(core_settings.redis_url) as connection:
        yield connection


@pytest.fixture
def mlflow(core_settings: Settings, mlflow_server: str) -> MlflowClient:
    return tracking.make_client(core_settings)


def old_runs(mlflow: MlflowClient, name: str, composites: list[int]) -> tuple[list[str], str]:
    """Finished, judged cell runs that ended an hour ago (well before any copy's margin)."""
    run_ids = make_runs(mlflow, name, composites)
    for run_id in run_ids:
        end = int(time.time() * 1000) - HOUR_MS
        mlflow.set_terminated(run_id, tracking.RUN_FINISHED, end_time=end)
    experiment = tracking.find_experiment(mlflow, name)
    assert experiment is not None
    return run_ids, str(experiment.experiment_id)


def judge_rescores(
    settings: Settings, store: redis.Redis[bytes], mlflow: MlflowClient, name: str, run_id: str
) -> None:
    """A person scores the run through the judge bridge's ingestion (VERDICT: composite 14)."""
    packets, scores = PacketStore(store, settings), ScoreStore(store, settings)
    pool = dict(zip([run_id], candidates(1).values(), strict=True))
    packets.add_candidates(name, pool, builtin_suite("tip-v1").rubric)
    packet, item_runs = packet_for_judge(packets, scores, name, "ann")
    items = [VERDICT | {"item_id": item_id} for item_id in item_runs]
    body = {"packet_id": packet.packet_id, "judge_id": "ann", "judge_kind": "human"}
    ingest_scores(mlflow, packets, scores, name, ScoreFile.model_validate(body | {"scores": items}))


def by_run(cells: list[Cell]) -> dict[str, Cell]:
    return {cell.run_id: cell for cell in cells}


def test_a_cold_start_sees_runs_finished_and_rescored_after_the_copy_was_written(
    core_settings: Settings, store: redis.Redis[bytes], mlflow: MlflowClient
) -> None:
    # Given an experiment whose first rebuild read everything and left a durable copy
    snapshot = CellSnapshot(store, core_settings)
    name = f"durable-{uuid.uuid4().hex[:6]}"
    first, eid = old_runs(mlflow, name, [10, 12, 14])
    assert set(by_run(current_cells(mlflow, snapshot, name, eid))) == set(first)
    copy = durable.load(mlflow, eid)
    assert copy is not None and set(by_run(copy[0])) == set(first)
    # When Redis loses the snapshot, a judge re-scores a run, a new run finishes, and a
    # metric is written by hand in MLflow (no event, no score stamp)
    store.delete(core_settings.key("cells", name))
    judge_rescores(core_settings, store, mlflow, name, first[0])
    (added,) = make_runs(mlflow, name, [16])
    mlflow.log_metric(first[1], "latency_s", 99.0)
    # Then the next rebuild has the new run and the new score, read over the copy
    cells = by_run(current_cells(mlflow, snapshot, name, eid))
    assert set(cells) == {*first, added}
    assert cells[first[0]].composite == 14.0
    assert cells[added].composite == 16.0
    assert "latency_s" not in cells[first[1]].metrics  # the copy served the old runs
    # And a rebuild asked to read everything reads MLflow, the record, whole
    snapshot.mark_changed(name, [])
    assert by_run(current_cells(mlflow, snapshot, name, eid))[first[1]].metrics["latency_s"] == 99


def test_a_cold_start_reads_only_the_runs_changed_since_the_copy(
    core_settings: Settings, store: redis.Redis[bytes], mlflow: MlflowClient
) -> None:
    # Given a copy of three old runs
    name = f"durable-{uuid.uuid4().hex[:6]}"
    first, eid = old_runs(mlflow, name, [10, 12, 14])
    cells, read = durable.cold_read(mlflow, eid)
    assert (len(cells), read) == (3, 3)
    # When one more run finishes, Then a cold start reads that one run from MLflow
    (added,) = make_runs(mlflow, name, [16])
    cells, read = durable.cold_read(mlflow, eid)
    assert (set(by_run(cells)), read) == ({*first, added}, 1)


@pytest.mark.parametrize(
    "content",
    [
        gzip.compress(json.dumps({"layout": 0, "watermark_ms": 0, "cells": []}).encode()),
        gzip.compress(json.dumps({"layout": 1, "watermark_ms": 0, "cells": [{"x": 1}]}).encode()),
        b"not gzip",
    ],
    ids=["older layout", "older cells", "unreadable"],
)
def test_a_copy_that_cannot_be_used_means_a_full_read(
    mlflow: MlflowClient, tmp_path: Path, content: bytes
) -> None:
    # Given an experiment whose copy is of another layout or unreadable
    name = f"durable-{uuid.uuid4().hex[:6]}"
    first, eid = old_runs(mlflow, name, [10, 12])
    Path(tmp_path, durable.CACHE_FILE).write_bytes(content)
    mlflow.log_artifact(summary_run_id(mlflow, eid), str(tmp_path / durable.CACHE_FILE), "cache")
    assert durable.load(mlflow, eid) is None
    # When Redis has no snapshot, Then every run is read from MLflow and the copy rewritten
    cells, read = durable.cold_read(mlflow, eid)
    assert (set(by_run(cells)), read) == (set(first), 2)
    assert durable.load(mlflow, eid) is not None


def test_incremental_rebuilds_refresh_the_copy_once_enough_runs_changed(
    core_settings: Settings,
    store: redis.Redis[bytes],
    mlflow: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(durable, "REFRESH_AFTER_RUNS", 2)
    snapshot = CellSnapshot(store, core_settings)
    name = f"durable-{uuid.uuid4().hex[:6]}"
    first, eid = old_runs(mlflow, name, [10, 12])
    current_cells(mlflow, snapshot, name, eid)
    # One run announced: below the threshold, the copy stays as it was
    (one,) = make_runs(mlflow, name, [14])
    snapshot.mark_changed(name, [one])
    current_cells(mlflow, snapshot, name, eid)
    copy = durable.load(mlflow, eid)
    assert copy is not None and set(by_run(copy[0])) == set(first)
    # A second one reaches it: the copy holds every run
    (two,) = make_runs(mlflow, name, [16])
    snapshot.mark_changed(name, [two])
    current_cells(mlflow, snapshot, name, eid)
    copy = durable.load(mlflow, eid)
    assert copy is not None and set(by_run(copy[0])) == {*first, one, two}
