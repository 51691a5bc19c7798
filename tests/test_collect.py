"""Specs of the collector's core against a real MLflow server, real Redis and the fake Ollama."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from importlib.machinery import PathFinder
from pathlib import Path

import pytest
import redis
from mlflow.exceptions import MlflowException
from mlflow.tracing import reset as reset_tracing
from mlflow.tracking import MlflowClient

from services.collector.deps import CollectorDeps
from services.collector.generate import generate_cell, release_unless_next
from services.collector.providers.ollama import OllamaProvider
from services.collector.record import record_cell
from services.collector.session import ModelSession
from services.gateway.prompts import register_prompts
from services.reporter.report import read_run
from shared import tracking
from shared.broker import make_broker
from shared.contracts import BenchRequest, CollectCell
from shared.messaging import COLLECT_QUEUE
from shared.settings import Settings
from shared.stores.answers import AnswerStore
from shared.stores.models import ModelStatsStore
from shared.suite import Suite
from shared.suite_files import builtin_suite
from testkit.cells import TIP_V1, a_collect_cell
from testkit.fake_ollama import FakeOllama
from tests.conftest import wait_until
from tipbench import stack


@pytest.fixture
def deps(
    core_settings: Settings,
    mlflow_server: str,
    fake_ollama: FakeOllama,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[CollectorDeps]:
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")  # as the stack runs it
    for name, value in stack.QUIET_ENV.items():
        monkeypatch.setenv(name, value)
    # the tracer reads its export mode once: start it anew, as a recorder process starts
    reset_tracing()
    fake_ollama.state.reset()
    client = redis.Redis.from_url(core_settings.redis_url)
    provider = OllamaProvider(fake_ollama.url, timeout_s=5, load_timeout_s=10)
    broker = make_broker(core_settings)
    mlflow = tracking.use_tracking_server(core_settings)
    yield CollectorDeps.on(
        core_settings, client, mlflow, broker, ModelSession({"ollama": provider})
    )
    broker.close()
    client.close()


def a_cell(deps: CollectorDeps, experiment: str) -> CollectCell:
    experiment_id = tracking.ensure_experiment(deps.mlflow, experiment)
    parent = deps.mlflow.create_run(experiment_id, tags={tracking.TAG_KIND: "job"})
    cell = a_collect_cell(
        experiment=experiment,
        parent_run_id=parent.info.run_id,
        prompt_version="v3-few-shot",
        scenario_id="retiree@morning",
        n_tips=4,
        temperature=0.2,
        seed=11,
    )
    deps.jobs.create(cell.job_id, BenchRequest(models=["tidy:1b"]), [cell])
    return cell


def test_a_size_the_request_declared_is_recorded_as_declared(deps: CollectorDeps) -> None:
    cell = a_cell(deps, "collect-declared").model_copy(
        update={"model": "mystery:latest", "declared_params_b": 3.5}
    )
    run_id = collect_cell(cell, deps)
    assert run_id is not None
    params = deps.mlflow.get_run(run_id).data.params
    assert (params["parameter_count_b"], params["parameter_count_source"]) == ("3.5", "declared")


def test_a_generation_is_kept_and_counted_in_its_models_totals(deps: CollectorDeps) -> None:
    cell = a_cell(deps, "collect-kept-counted")
    stats = ModelStatsStore(deps.redis, deps.settings)
    before = {t.model: t.cells for t in stats.totals()}.get(cell.model, 0)
    assert generate_cell(cell, deps)
    kept = deps.generated(cell.cell_key)
    assert kept is not None and kept.params["model"] == cell.model
    totals = {t.model: t for t in stats.totals()}[cell.model]
    assert totals.cells == before + 1
    assert totals.generation_s >= kept.metrics["generation_s"] > 0


def cell_runs(client: MlflowClient, experiment: str, key: str) -> list[str]:
    found = tracking.find_experiment(client, experiment)
    assert found is not None
    runs = tracking.search_runs(client, str(found.experiment_id), f"tags.cell_key = '{key}'")
    return [r.info.run_id for r in runs]


def collect_cell(cell: CollectCell, deps: CollectorDeps) -> str | None:
    """What the two actors do in turn: generate, then record."""
    generate_cell(cell, deps)
    return record_cell(cell, deps)


def test_a_cell_is_logged_as_one_complete_mlflow_run(deps: CollectorDeps) -> None:
    cell = a_cell(deps, "collect-record")
    run_id = collect_cell(cell, deps)
    assert run_id is not None
    run = deps.mlflow.get_run(run_id)
    assert run.info.status == tracking.RUN_FINISHED
    assert run.data.tags[tracking.TAG_PARENT] == cell.parent_run_id
    assert run.data.tags[tracking.TAG_JUDGE_PENDING] == "true"
    assert run.data.tags[tracking.TAG_CELL_KEY] == cell.cell_key
    params = run.data.params
    assert (params["model"], params["prompt_version"], params["scenario_id"]) == (
        "tidy:1b",
        "v3-few-shot",
        "retiree@morning",
    )
    assert (params["facet.persona"], params["facet.time_slot"], params["provider"]) == (
        "retiree",
        "morning",
        "ollama",
    )
    assert (params["temperature"], params["n_tips"], params["seed"]) == ("0.2", "4", "11")
    assert params["model_digest"] == "sha256:" + "0" * 64  # from /api/tags
    assert params["provider_version"] == "0.0.0-fake"  # from /api/version
    assert (params["parameter_count_b"], params["quantization"]) == ("1.0", "Q4_K_M")
    assert params["parameter_count_source"] == "provider"
    assert (params["num_predict"], params["num_ctx"], params["suite"]) == ("304", "4096", "tip-v1")
    assert params["suite_version"] == builtin_suite("tip-v1").content_version()
    assert len(params["prompt_sha256"]) == 64
    metrics = run.data.metrics
    assert (metrics["auto_format_ok"], metrics["auto_overlong"], metrics["n_tips_parsed"]) == (
        1.0,
        0.0,
        4.0,
    )
    assert metrics["generation_s"] == pytest.approx(0.4)
    assert metrics["latency_s"] > 0 and metrics["tokens_per_s"] > 0
    # the record in one artifact: its four parts, one upload
    assert [a.path for a in deps.mlflow.list_artifacts(run_id)] == ["cell.json"]
    with tempfile.TemporaryDirectory() as folder:
        record = json.loads(
            Path(deps.mlflow.download_artifacts(run_id, "cell.json", folder)).read_text()
        )
    assert set(record) == {"prompt", "candidates", "raw_response", "rubric"}
    assert len(record["candidates"]["tips"]) == 4
    assert record["rubric"] == TIP_V1.rubric.as_dict()
    assert record["prompt"][-1]["role"] == "user"
    assert deps.jobs.get(cell.job_id).status == "finished"
    assert deps.generated(cell.cell_key) is None  # dropped once the run is written
    trace = deps.mlflow.get_trace(run.data.tags[tracking.TAG_TRACE_ID])
    assert trace.info.request_metadata.get("mlflow.sourceRun") == run_id
    assert len(json.loads(trace.data.response)["tips"]) == 4


def test_a_recorder_asks_mlflow_for_an_experiment_once(
    deps: CollectorDeps, mlflow_requests: list[str]
) -> None:
    first = a_cell(deps, "collect-experiment-once")
    second = a_collect_cell(
        experiment=first.experiment,
        parent_run_id=first.parent_run_id or "",
        job_id=first.job_id,
        scenario_id="student@evening",
    )
    deps.jobs.create(first.job_id, BenchRequest(models=["tidy:1b"]), [first, second])
    for cell in (first, second):
        generate_cell(cell, deps)
    mlflow_requests.clear()
    assert record_cell(first, deps) and record_cell(second, deps)
    lookups = [r for r in mlflow_requests if r.endswith("/experiments/get-by-name")]
    assert len(lookups) == 1, mlflow_requests
    # the second cell's run in six requests: create, the trace (its info, then its spans
    # as one file), params and metrics, the record (one file), the end
    mlflow_requests.clear()
    third = a_collect_cell(
        experiment=first.experiment,
        parent_run_id=first.parent_run_id or "",
        job_id=first.job_id,
        scenario_id="nurse@evening",
    )
    deps.jobs.create(first.job_id, BenchRequest(models=["tidy:1b"]), [first, second, third])
    generate_cell(third, deps)
    mlflow_requests.clear()
    assert record_cell(third, deps)
    assert sorted(r.rsplit("/", 1)[-1] if r.startswith("PUT") else r for r in mlflow_requests) == [
        "POST /api/2.0/mlflow/runs/create",
        "POST /api/2.0/mlflow/runs/log-batch",
        "POST /api/2.0/mlflow/runs/update",
        "POST /api/3.0/mlflow/traces",
        "cell.json",
        "traces.json",
    ]


# Counts, in a fresh process, the searches for MLflow's probed modules (PROBED_MODULES)
# while a client asks the server three times: a finder first in line sees every search.
_PROBE_SEARCHES = """
import sys
from mlflow.tracking import MlflowClient
from shared import tracking
from shared.settings import Settings

class Spy:
    searched = []

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name in tracking.PROBED_MODULES:
            cls.searched.append(name)
        return None

sys.meta_path.insert(0, Spy)
settings = Settings()
client = tracking.make_client(settings) if sys.argv[1] == "tipbench" else MlflowClient(
    settings.mlflow_uri
)
made = len(Spy.searched)  # (tipbench's client looks each up once, as it is made)
for _ in range(3):
    client.search_experiments(max_results=1)
refused = False
try:
    import pyspark  # noqa: F401
except ModuleNotFoundError:
    refused = True
marked = any(name in sys.modules for name in tracking.PROBED_MODULES)
print(len(Spy.searched) - made, refused, marked)
"""


def test_an_mlflow_request_searches_for_no_absent_module(mlflow_server: str) -> None:
    # MLflow's client tries to import Databricks' and Spark's modules on every request; not
    # installed here, each try searched sys.path again (a quarter of the recorder's CPU).
    def searches(client: str) -> int:
        found = subprocess.run(
            [sys.executable, "-c", _PROBE_SEARCHES, client],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"TIPBENCH_MLFLOW_URI": mlflow_server},
        )
        count, refused, marked = found.stdout.split()[-3:]
        # an absent module is still refused, and not entered in sys.modules (code that
        # asks whether it was imported must still hear no)
        assert (refused, marked) == ("True", "False"), found.stdout
        return int(count)

    assert searches("mlflow") >= 3  # MLflow's own client searches on each request
    assert searches("tipbench") == 0
    # (none of them is installed here: a path search finds none)
    assert all(PathFinder.find_spec(name) is None for name in tracking.PROBED_MODULES)


def test_a_recorder_asks_again_for_an_experiment_after_a_failed_call(
    deps: CollectorDeps, mlflow_requests: list[str]
) -> None:
    name = f"collect-forget-{uuid.uuid4().hex[:6]}"
    ids = tracking.ExperimentIds(deps.mlflow)
    experiment_id = ids.ensure(name)
    deps.mlflow.delete_experiment(experiment_id)
    with pytest.raises(MlflowException), ids.using(name) as cached:
        deps.mlflow.create_run(cached)  # a deleted experiment takes no runs
    mlflow_requests.clear()
    ids.ensure(name)
    assert any(r.endswith("/experiments/get-by-name") for r in mlflow_requests)


def test_reading_a_runs_answer_asks_mlflow_for_the_file_not_the_run_again(
    deps: CollectorDeps, mlflow_requests: list[str]
) -> None:
    run_id = collect_cell(a_cell(deps, "collect-read"), deps)
    assert run_id is not None
    run = deps.mlflow.get_run(run_id)
    # the artifact client asks the server what it supports once per process: asked here
    tracking.read_cell_part(deps.mlflow, run, tracking.CANDIDATES_ARTIFACT)
    mlflow_requests.clear()
    answer = tracking.read_cell_part(deps.mlflow, run, tracking.CANDIDATES_ARTIFACT)
    assert len(answer["tips"]) == 4
    # a listing (is it a folder?) and the file; MlflowClient.download_artifacts made six
    assert [r.rsplit("/", 1)[-1] for r in mlflow_requests] == ["artifacts", "cell.json"]


def test_a_recorded_cells_answer_reaches_the_reporters_copy_as_mlflow_has_it(
    deps: CollectorDeps,
) -> None:
    cell = a_cell(deps, "collect-answer-copy")
    run_id = collect_cell(cell, deps)
    assert run_id is not None
    kept = AnswerStore(deps.redis, deps.settings).get(cell.experiment)
    # what the reporter would otherwise read from MLflow (three requests per run)
    assert kept[run_id] == read_run(deps.mlflow, run_id)
    assert kept[run_id].params["model_digest"] == "sha256:" + "0" * 64


def test_a_runs_record_reads_the_same_from_the_bundle_and_from_the_older_files(
    deps: CollectorDeps,
) -> None:
    run_id = collect_cell(a_cell(deps, "collect-layouts"), deps)
    assert run_id is not None
    bundled = deps.mlflow.get_run(run_id)
    parts = (tracking.PROMPT_ARTIFACT, tracking.CANDIDATES_ARTIFACT, tracking.RUBRIC_ARTIFACT)
    record = tracking.read_cell_parts(deps.mlflow, bundled, *parts)
    # a run recorded before the bundle: each part a file of its own
    older = deps.mlflow.create_run(bundled.info.experiment_id)
    for part in parts:
        deps.mlflow.log_dict(older.info.run_id, record[part], part)
    older = deps.mlflow.get_run(older.info.run_id)
    assert tracking.read_cell_parts(deps.mlflow, older, *parts) == record
    assert set(record) == set(parts) and record[tracking.RUBRIC_ARTIFACT]["id"] == "tip-v1"
    for part in parts:
        assert tracking.read_cell_part(deps.mlflow, older, part) == record[part]
    with pytest.raises((MlflowException, OSError)):
        tracking.read_cell_part(deps.mlflow, older, tracking.RAW_RESPONSE_ARTIFACT)


def test_a_redelivered_cell_makes_no_second_run_and_no_second_call(
    deps: CollectorDeps, fake_ollama: FakeOllama
) -> None:
    cell = a_cell(deps, "collect-redelivery")
    first = collect_cell(cell, deps)
    chats = len(fake_ollama.state.calls_to("/api/chat"))
    second = collect_cell(cell, deps)
    assert second == first
    assert cell_runs(deps.mlflow, cell.experiment, cell.cell_key) == [first]
    assert len(fake_ollama.state.calls_to("/api/chat")) == chats
    assert deps.jobs.get(cell.job_id).done == 1


def test_a_run_left_unfinished_by_a_crash_is_replaced_not_duplicated(deps: CollectorDeps) -> None:
    cell = a_cell(deps, "collect-crash")
    found = tracking.find_experiment(deps.mlflow, cell.experiment)
    assert found is not None
    crashed = deps.mlflow.create_run(
        str(found.experiment_id),
        tags={
            tracking.TAG_KIND: "cell",
            tracking.TAG_CELL_KEY: cell.cell_key,
            tracking.TAG_JOB_ID: cell.job_id,  # as the recorder creates it
        },
    )
    run_id = collect_cell(cell, deps)
    assert run_id != crashed.info.run_id
    assert cell_runs(deps.mlflow, cell.experiment, cell.cell_key) == [run_id]


@pytest.mark.parametrize(
    "loss",
    [
        pytest.param(lambda r, key, cell: r.delete(key), id="index-lost"),
        # A restart from a snapshot taken before the run: the cell's mark is gone, and the
        # index names an older Redis server.
        pytest.param(
            lambda r, key, cell: (r.hdel(key, cell), r.hset(key, "redis_run_id", "older")),
            id="redis-restarted",
        ),
    ],
)
def test_a_cell_redelivered_after_redis_lost_its_index_finds_its_run_in_mlflow(
    deps: CollectorDeps, loss: Callable[[redis.Redis[bytes], str, str], object]
) -> None:
    # Given a recorded cell whose index entry Redis then lost, and its generation again
    cell = a_cell(deps, "collect-index-lost")
    generate_cell(cell, deps)
    generated = deps.generated(cell.cell_key)
    assert generated is not None
    first = record_cell(cell, deps)
    loss(deps.redis, deps.settings.key("recorded", cell.job_id), cell.cell_key)
    deps.keep_generated(cell.cell_key, cell.model, generated)
    # When the recorder gets the cell again
    second = record_cell(cell, deps)
    # Then MLflow's run is the cell's run: no second one
    assert second == first
    assert cell_runs(deps.mlflow, cell.experiment, cell.cell_key) == [first]


def test_generation_waits_in_redis_and_is_not_redone_before_its_run_is_written(
    deps: CollectorDeps, fake_ollama: FakeOllama
) -> None:
    # Given a generated cell whose run is not written yet (MLflow slow or down)
    cell = a_cell(deps, "collect-waiting")
    assert generate_cell(cell, deps)
    assert deps.generated(cell.cell_key) is not None
    assert deps.jobs.get(cell.job_id).done == 0
    # When the collect message is delivered again
    assert not generate_cell(cell, deps)
    # Then the model is not called again, and the recorder still writes one run
    assert len(fake_ollama.state.calls_to("/api/chat")) == 1
    run_id = record_cell(cell, deps)
    assert cell_runs(deps.mlflow, cell.experiment, cell.cell_key) == [run_id]


def test_a_lost_generation_sends_the_cell_back_to_the_collector(deps: CollectorDeps) -> None:
    # Given a cell whose generation Redis lost, and an empty collect queue
    cell = a_cell(deps, "collect-lost")
    deps.broker.flush(COLLECT_QUEUE)
    # When the recorder finds no generation and no run
    assert record_cell(cell, deps) is None
    # Then the cell is next in the collect queue
    assert deps.queues.next_queued_model() == cell.model
    deps.broker.flush(COLLECT_QUEUE)


def test_a_cell_renders_from_the_suite_version_it_names_not_the_newest(
    deps: CollectorDeps,
) -> None:
    # Given two versions of a suite whose prompt says different things, the older pushed first
    name = f"collect-versions-{uuid.uuid4().hex[:8]}"

    def saying(words: str) -> Suite:
        prompts = [p.model_copy(update={"system": f"{words} {p.system}"}) for p in TIP_V1.prompts]
        return Suite.model_validate(TIP_V1.model_dump() | {"suite": name, "prompts": prompts})

    older, newer = saying("Older wording."), saying("Newer wording.")
    for suite in (older, newer):
        deps.suites.push(suite, partial(register_prompts, deps.mlflow))
    assert deps.suites.get(name).content_version() == newer.content_version()
    # When a cell of the older version is generated and recorded
    cell = a_cell(deps, "collect-versions").model_copy(
        update={"suite": name, "suite_version": older.content_version()}
    )
    run_id = collect_cell(cell, deps)
    # Then its prompt is the older version's
    assert run_id is not None
    run = deps.mlflow.get_run(run_id)
    prompt = json.dumps(tracking.read_cell_part(deps.mlflow, run, tracking.PROMPT_ARTIFACT))
    assert "Older wording." in prompt and "Newer wording." not in prompt
    assert deps.mlflow.get_run(run_id).data.params["suite_version"] == older.content_version()


def a_job(deps: CollectorDeps, experiment: str, prompts: list[str]) -> list[CollectCell]:
    """A job of one cell per prompt version, all of tidy:1b."""
    job_id = uuid.uuid4().hex
    cells = [
        a_collect_cell(experiment=experiment, job_id=job_id, prompt_version=prompt)
        for prompt in prompts
    ]
    deps.jobs.create(job_id, BenchRequest(models=["tidy:1b"]), cells)
    return cells


def unloads(fake: FakeOllama) -> int:
    """How many times the fake was asked to unload a model."""
    return sum(c["keep_alive"] == 0 for c in fake.state.calls_to("/api/generate"))


def test_a_refused_unload_after_a_jobs_last_cell_keeps_the_cell_and_the_model(
    deps: CollectorDeps, fake_ollama: FakeOllama
) -> None:
    # Given a one-cell job's cell generated, and a server that refuses the next unload
    [cell] = a_job(deps, "collect-unload-refused", ["v1"])
    assert generate_cell(cell, deps)
    fake_ollama.state.unload_failures["tidy:1b"] = 1
    # When the collector lets the model go after the job's last cell: no error
    release_unless_next(deps, cell)
    # Then the cell stays generated, and the model resident on the server and in the session
    assert deps.generated(cell.cell_key) is not None
    assert fake_ollama.state.resident == {"tidy:1b"}
    assert deps.session.resident_model() == "tidy:1b"
    # and the next attempt unloads it
    release_unless_next(deps, cell)
    assert fake_ollama.state.resident == set()
    assert deps.session.resident_model() is None


def handle(cell: CollectCell, deps: CollectorDeps, outcome: list[bool]) -> threading.Thread:
    """A collector thread handling a cell's message as the actor does, started."""

    def run() -> None:
        try:
            outcome.append(generate_cell(cell, deps))
        finally:
            release_unless_next(deps, cell)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_cell_waiting_its_turn_is_not_generated_once_its_job_is_cancelled(
    deps: CollectorDeps, fake_ollama: FakeOllama
) -> None:
    # Given a cell generating, and the next one of its job in hand, waiting its turn
    fake_ollama.state.generation_delay_s = 0.5
    first, second = a_job(deps, "collect-next-cancelled", ["v1", "v2-mentor"])
    outcome: list[bool] = []
    threads = [handle(first, deps, outcome)]
    wait_until(lambda: fake_ollama.state.in_flight == 1, timeout_s=10, what="the first chat")
    threads.append(handle(second, deps, outcome))
    time.sleep(0.1)  # (it renders its prompt and waits in the model session)
    # When the job is cancelled before the first generation ends
    assert fake_ollama.state.in_flight == 1
    assert deps.jobs.cancel(first.job_id)
    for thread in threads:
        thread.join(timeout=30)
    # Then the cell in hand was never generated: one chat, the second cell cancelled
    assert sorted(outcome) == [False, True]
    assert len(fake_ollama.state.calls_to("/api/chat")) == 1
    assert deps.jobs.get(first.job_id).failed_cells == {second.cell_key: "cancelled"}


def test_the_model_of_a_cell_in_hand_stays_loaded_between_two_generations(
    deps: CollectorDeps, fake_ollama: FakeOllama
) -> None:
    # Given two cells of one model and no other cell queued: the first one's end would
    # unload a model no queued cell needs
    cells = a_job(deps, "collect-next-held", ["v1", "v2-mentor"])
    outcome: list[bool] = []
    # When the first is generated while the second's message is in hand (not yet waiting
    # its turn: its thread still renders it)
    with deps.session.holding(cells[1].model, cells[1].cell_key):
        # (taken: of the job's cells, none is still to come but the one in hand)
        taken = deps.jobs.begin_cell(cells[1], deps.generated_key(cells[1].cell_key), turn=False)
        assert taken == "go"
        handle(cells[0], deps, outcome).join(timeout=30)
        assert outcome == [True]
        # Then the model stays loaded for it
        assert unloads(fake_ollama) == 0
    handle(cells[1], deps, outcome).join(timeout=30)
    # and both were generated on one load; the model was unloaded once, at the end
    assert outcome == [True, True]
    assert fake_ollama.state.loads == ["tidy:1b"]
    assert unloads(fake_ollama) == 1


def test_a_cell_whose_message_two_threads_hold_is_generated_once(
    deps: CollectorDeps, fake_ollama: FakeOllama
) -> None:
    # Given a cell generating, and its message delivered again to the other thread
    fake_ollama.state.generation_delay_s = 0.3
    (cell,) = a_job(deps, "collect-next-twice", ["v1"])
    outcome: list[bool] = []
    threads = [handle(cell, deps, outcome)]
    wait_until(lambda: fake_ollama.state.in_flight == 1, timeout_s=10, what="the first chat")
    threads.append(handle(cell, deps, outcome))
    for thread in threads:
        thread.join(timeout=30)
    # Then it was generated once
    assert sorted(outcome) == [False, True]
    assert len(fake_ollama.state.calls_to("/api/chat")) == 1


def test_a_cell_of_a_cancelled_job_is_skipped_before_its_suite_is_read(
    deps: CollectorDeps, fake_ollama: FakeOllama
) -> None:
    # Given a cancelled job whose cell names a suite version the store does not have
    (cell,) = a_job(deps, "collect-cancelled-unread", ["v1"])
    cell = cell.model_copy(update={"suite_version": "f" * 12})
    assert deps.jobs.cancel(cell.job_id)
    # When its message is handled, then it is skipped as cancelled, nothing generated
    assert not generate_cell(cell, deps)
    assert deps.jobs.get(cell.job_id).failed_cells == {cell.cell_key: "cancelled"}
    assert fake_ollama.state.calls_to("/api/chat") == []


def test_a_model_stays_loaded_until_its_jobs_last_cell_has_reached_the_collector(
    deps: CollectorDeps, fake_ollama: FakeOllama
) -> None:
    # Given a job of two cells of one model, the second not yet enqueued (the gateway
    # enqueues a job's cells one by one) when the first's generation ends
    first, second = a_job(deps, "collect-next-coming", ["v1", "v2-mentor"])
    outcome: list[bool] = []
    handle(first, deps, outcome).join(timeout=30)
    # Then the model stays loaded for the second, and is unloaded after it
    assert unloads(fake_ollama) == 0
    handle(second, deps, outcome).join(timeout=30)
    assert outcome == [True, True]
    assert fake_ollama.state.loads == ["tidy:1b"]
    assert unloads(fake_ollama) == 1


def test_a_cancelled_jobs_last_cell_unloads_its_model(
    deps: CollectorDeps, fake_ollama: FakeOllama
) -> None:
    # Given a job of two cells of one model, cancelled after the first was generated
    first, second = a_job(deps, "collect-next-cancel-unload", ["v1", "v2-mentor"])
    outcome: list[bool] = []
    handle(first, deps, outcome).join(timeout=30)
    assert deps.jobs.cancel(first.job_id)
    # When the second's message comes, skipped
    handle(second, deps, outcome).join(timeout=30)
    # Then the model is unloaded: no cell of it is coming
    assert outcome == [True, False]
    assert deps.session.resident_model() is None
