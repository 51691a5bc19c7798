"""The reporter against real Redis, a real MLflow server and several real reporter processes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from services.reporter import durable
from services.reporter.events import changed_runs, parse_event
from services.reporter.leaderboard import aggregate
from services.reporter.rebuild import RebuildGate
from services.reporter.snapshot import CellSnapshot, current_cells
from shared import tracking
from shared.broker import make_broker
from shared.contracts import CellFinished, JobFinished, ScoresIngested
from shared.messaging import send
from shared.report import REPORT_FILE
from shared.settings import Settings
from shared.stores.leaderboards import LeaderboardStore
from shared.suite_files import builtin_suite
from tests.conftest import gateway_client, wait_until
from tipbench import stack


@pytest.fixture
def client(core_settings: Settings) -> Iterator[redis.Redis[bytes]]:
    with redis.Redis.from_url(core_settings.redis_url) as connection:
        yield connection


@pytest.mark.parametrize(
    ("event", "changed"),
    [
        (CellFinished(job_id="j", experiment="e", cell_key="c", ok=True, run_id="r1"), ["r1"]),
        (CellFinished(job_id="j", experiment="e", cell_key="c", ok=True), None),
        (CellFinished(job_id="j", experiment="e", cell_key="c", ok=False, error="x"), []),
        (JobFinished(job_id="j", experiment="e", parent_run_id="p", status="finished"), []),
        (
            ScoresIngested(
                experiment="e", packet_id="p", judge_id="ann", n_scores=2, run_ids=["r1", "r2"]
            ),
            ["r1", "r2"],
        ),
    ],
)
def test_an_event_names_the_runs_it_changed_or_none_to_read_all(
    event: CellFinished | JobFinished | ScoresIngested, changed: list[str] | None
) -> None:
    # Given an event as the reporter receives it, when it is parsed by its kind
    parsed = parse_event(event.model_dump(mode="json"))
    # Then it is the contract that was sent, and it names the runs it changed
    assert parsed == event
    assert changed_runs(parsed) == changed


def test_an_older_rebuild_never_overwrites_a_newer_leaderboard(
    core_settings: Settings, client: redis.Redis[bytes]
) -> None:
    store = LeaderboardStore(client, core_settings)
    name = f"stale-{uuid.uuid4().hex[:6]}"
    older, newer = store.next_version(name), store.next_version(name)
    assert store.save(aggregate(name, [], newer, builtin_suite("tip-v1")))
    assert not store.save(aggregate(name, [], older, builtin_suite("tip-v1")))
    stored = store.get(name)
    assert stored is not None and stored.version == newer


def test_the_gate_schedules_once_and_admits_one_rebuild_at_a_time(
    core_settings: Settings, client: redis.Redis[bytes]
) -> None:
    gate = RebuildGate(client, core_settings)
    name = f"gate-{uuid.uuid4().hex[:6]}"
    assert gate.mark_pending(name)
    assert not gate.mark_pending(name)  # a burst rides on the pending rebuild
    with gate.locked(name) as first:
        assert first
        assert gate.mark_pending(name)  # an event during a rebuild schedules one more
        with gate.locked(name) as second:
            assert not second
    with gate.locked(name) as again:
        assert again
    assert gate.rebuilds(name) == 2


def tip_v1_scores(composite: int) -> dict[str, float]:
    """tip-v1 item scores whose composite is `composite` (4..17): format ok, not overlong."""
    base, extra = divmod(composite - 2, 3)
    items = [base + 1 if i < extra else base for i in range(3)]
    names = ("relevance", "actionability", "tone")
    return dict(zip(names, map(float, items), strict=True)) | {"format_ok": 1.0, "overlong": 0.0}


def make_runs(mlflow: MlflowClient, experiment: str, composites: list[int]) -> list[str]:
    """Finished cell runs, as the collector and judge would leave them."""
    experiment_id = tracking.ensure_experiment(mlflow, experiment)
    ids = []
    for i, value in enumerate(composites):
        run = mlflow.create_run(experiment_id, tags={tracking.TAG_KIND: "cell"})
        scenario = ["student@morning", "nurse@evening", "retiree@morning", "founder@evening"][i % 4]
        persona, slot = scenario.split("@")
        params = {
            "model": f"m{i % 2}",
            "prompt_version": "v1",
            "scenario_id": scenario,
            "facet.persona": persona,
            "facet.time_slot": slot,
        }
        scores = tip_v1_scores(value) | {"composite": float(value), "auto_format_ok": 1.0}
        mlflow.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, 0, 0) for k, v in scores.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        mlflow.set_terminated(run.info.run_id, tracking.RUN_FINISHED)
        ids.append(run.info.run_id)
    return ids


@pytest.fixture
def three_reporters(running_stack: Settings) -> Iterator[Settings]:
    extra = [
        stack.Service(
            f"reporter-{i}", stack.worker_argv("services.reporter.actors", "report", threads=2), {}
        )
        for i in (2, 3)
    ]
    for service in extra:
        stack.start(running_stack, service)
    yield running_stack
    for service in extra:
        stack.stop(running_stack, service.name)


@pytest.mark.slow
def test_a_burst_of_48_events_makes_at_most_two_rebuilds_with_every_run(
    three_reporters: Settings,
) -> None:
    settings = three_reporters
    mlflow = tracking.make_client(settings)
    name = f"burst-{uuid.uuid4().hex[:6]}"
    run_ids = make_runs(mlflow, name, [10, 12, 14, 16, 11, 13])
    broker = make_broker(settings)
    with redis.Redis.from_url(settings.redis_url) as client:
        gate, store = RebuildGate(client, settings), LeaderboardStore(client, settings)
        # When 48 events arrive within a second
        started = time.monotonic()
        for i in range(48):
            send(broker, CellFinished(job_id="j", experiment=name, cell_key=f"c{i}", ok=True))
        assert time.monotonic() - started < 1.0
        # Then the final leaderboard has every run, after at most two rebuilds
        board = wait_until(
            lambda: (
                (b := store.get(name)) is not None
                and b.n_runs == 6
                and not client.exists(settings.key("rebuild-pending", name))
                and not client.exists(settings.key("rebuild-lock", name))
                and b
            ),
            timeout_s=30,
            what="the final leaderboard",
        )
        assert sorted(board.run_ids) == sorted(run_ids)
        assert 1 <= gate.rebuilds(name) <= 2
        # scenarios weigh equally: m1 = mean(nurse (12+13)/2, founder 16) = 14.25,
        # m0 = mean(student (10+11)/2, retiree 14) = 12.25; two scenarios rank nobody
        assert [(r.model, r.mean_composite, r.rank) for r in board.rows] == [
            ("m1", 14.25, None),
            ("m0", 12.25, None),
        ]
        assert all(r.insufficient_data for r in board.rows) and board.power_note
    broker.close()

    # And the leaderboard is served as CSV and published to MLflow with its chart
    with gateway_client(settings) as api:
        csv_text = api.get(f"/api/bench/leaderboard/{name}", params={"format": "csv"}).text
        assert csv_text.splitlines()[0].startswith("rank,rank_ci,")
        assert ",model,prompt_version,n," in csv_text.splitlines()[0]
        assert len(csv_text.splitlines()) == 3
        assert (
            api.get(f"/api/bench/leaderboard/{name}", params={"format": "xml"}).status_code == 422
        )
    experiment = tracking.find_experiment(mlflow, name)
    assert experiment is not None
    (summary,) = list(
        tracking.search_runs(mlflow, experiment.experiment_id, "tags.run_kind = 'summary'")
    )
    artifacts = {a.path for a in mlflow.list_artifacts(summary.info.run_id)}
    board_files = {"leaderboard.json", "leaderboard.csv", "leaderboard.svg", REPORT_FILE}
    assert artifacts == board_files | {durable.CACHE_DIR}  # and the cells kept durable


@pytest.mark.slow
def test_a_dead_replicas_lock_lapses_and_an_event_during_a_rebuild_is_not_lost(
    running_stack: Settings,
) -> None:
    settings = running_stack
    mlflow = tracking.make_client(settings)
    name = f"lapse-{uuid.uuid4().hex[:6]}"
    make_runs(mlflow, name, [10, 12])
    broker = make_broker(settings)
    with redis.Redis.from_url(settings.redis_url) as client:
        store = LeaderboardStore(client, settings)
        # Given a replica that died holding the experiment's lock (it expires in 2 s)
        client.set(settings.key("rebuild-lock", name), "dead-replica", px=2000)
        held_until = time.time() + 2.0
        # When runs are added and announced while the lock is held
        make_runs(mlflow, name, [16])
        send(broker, CellFinished(job_id="j", experiment=name, cell_key="late", ok=True))
        # Then the rebuild waits for the lock to lapse, and includes the late run
        board = wait_until(
            lambda: (b := store.get(name)) is not None and b.n_runs == 3 and b,
            timeout_s=30,
            what="the rebuild after the lock lapsed",
        )
        assert board.built_at >= held_until - 0.05
    broker.close()


def test_rebuilds_read_only_the_changed_runs_after_a_full_first_read(
    core_settings: Settings, client: redis.Redis[bytes], mlflow_server: str
) -> None:
    mlflow = tracking.make_client(core_settings)
    snapshot = CellSnapshot(client, core_settings)
    name = f"snap-{uuid.uuid4().hex[:6]}"
    first = make_runs(mlflow, name, [10, 12])
    experiment = tracking.find_experiment(mlflow, name)
    assert experiment is not None
    eid = str(experiment.experiment_id)
    # The first rebuild reads everything
    assert sorted(c.run_id for c in current_cells(mlflow, snapshot, name, eid)) == sorted(first)
    # A new run named by an event is read; a change nobody announced is not
    (added,) = make_runs(mlflow, name, [16])
    mlflow.log_metric(first[0], "composite", 3.0)
    snapshot.mark_changed(name, [added])
    cells = {c.run_id: c for c in current_cells(mlflow, snapshot, name, eid)}
    assert set(cells) == {*first, added}
    assert cells[first[0]].composite == 10.0
    # An event that cannot name its runs asks for a full read
    snapshot.mark_changed(name, [])
    cells = {c.run_id: c for c in current_cells(mlflow, snapshot, name, eid)}
    assert cells[first[0]].composite == 3.0


def test_changes_taken_by_a_rebuild_that_died_are_taken_again(
    core_settings: Settings, client: redis.Redis[bytes]
) -> None:
    snapshot = CellSnapshot(client, core_settings)
    name = f"snap-{uuid.uuid4().hex[:6]}"
    snapshot.mark_changed(name, ["a", "b"])
    assert snapshot.take_changed(name) == ["a", "b"]  # ... and the rebuild dies here
    snapshot.mark_changed(name, ["c"])
    assert snapshot.take_changed(name) == ["a", "b", "c"]
    snapshot.done(name)
    assert snapshot.take_changed(name) == []
