"""Specs of the queue metrics exporter: what /metrics publishes about queues, jobs and models.

Real Redis, real dramatiq messages (make_broker + send), the collector read as Prometheus
reads it (the text exposition, parsed by prometheus_client's parser).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import get_args

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.queue_metrics import OTHER_MODELS, QueueCollector, capped
from shared.contracts import BenchRequest, JobState
from shared.messaging import COLLECT_QUEUE, JUDGE_QUEUE, send
from shared.queues import QUEUES
from shared.settings import Settings
from shared.stores.jobs import JobStore
from shared.stores.models import ModelStatsStore, ModelTotals
from testkit.cells import a_collect_cell
from tests.test_queue_adapter import a_message, broker, settings_of_test  # noqa: F401

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
STATES = dict.fromkeys(get_args(JobState), 0)


@pytest.fixture
def client(settings_of_test: Settings) -> Iterator[redis.Redis[bytes]]:  # noqa: F811
    with redis.Redis.from_url(settings_of_test.redis_url) as found:
        yield found


def scraped(client: redis.Redis[bytes], settings: Settings) -> Samples:
    """Every sample the collector publishes, by name and labels, as a scrape sees it."""
    registry = CollectorRegistry()
    registry.register(QueueCollector(client, settings))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_model_totals_sum_every_generation_per_model(
    client: redis.Redis[bytes],
    settings_of_test: Settings,  # noqa: F811
) -> None:
    # Given three generations of two models (one name with colons, as Ollama's have)
    store = ModelStatsStore(client, settings_of_test)
    store.add_generation("tidy:1b", load_s=2.0, generation_s=0.5)
    store.add_generation("tidy:1b", load_s=0.0, generation_s=0.25)
    store.add_generation("llm:gguf:smollm2-135m", load_s=1.5, generation_s=3.0)
    # When the totals are read
    totals = store.totals()
    # Then each model has its own sums, by name
    assert totals == [
        ModelTotals(model="llm:gguf:smollm2-135m", cells=1, load_s=1.5, generation_s=3.0),
        ModelTotals(model="tidy:1b", cells=2, load_s=2.0, generation_s=0.75),
    ]


def test_job_status_counts_follow_every_change_of_state(
    client: redis.Redis[bytes],
    settings_of_test: Settings,  # noqa: F811
) -> None:
    # Given two jobs of two cells and one of a cell, counted once before they change
    jobs = JobStore(client, settings_of_test)
    cells = {}
    for n in (2, 2, 1):
        job_id = uuid.uuid4().hex
        cells[job_id] = [a_collect_cell(job_id=job_id, key=f"c{i}") for i in range(n)]
        jobs.create(job_id, BenchRequest(models=["tidy:1b"]), cells[job_id])
    first, second, third = cells
    assert jobs.status_counts() == dict(STATES, queued=3)
    # When one runs, one ends partial and one is cancelled
    jobs.mark_cell(cells[first][0], ok=True)
    jobs.mark_cell(cells[second][0], ok=True)
    jobs.mark_cell(cells[second][1], ok=False, error="boom")
    jobs.cancel(third)
    # Then each state counts its jobs
    assert jobs.status_counts() == dict(STATES, running=1, partial=1, cancelled=1)
    # When the partial one's failed cell is retried and succeeds, and the first one ends
    jobs.reopen_failed(second)
    assert jobs.status_counts() == dict(STATES, running=2, cancelled=1)
    jobs.mark_cell(cells[second][1], ok=True)
    jobs.mark_cell(cells[first][1], ok=True)
    # Then both count as finished, and a cell marked again changes nothing
    jobs.mark_cell(cells[first][1], ok=True)
    assert jobs.status_counts() == dict(STATES, finished=2, cancelled=1)


def test_job_status_counts_start_from_the_records_of_a_stack_that_never_counted(
    client: redis.Redis[bytes],
    settings_of_test: Settings,  # noqa: F811
) -> None:
    # Given jobs written before the counts were kept (their hash is missing)
    jobs = JobStore(client, settings_of_test)
    for _ in range(2):
        cell = a_collect_cell()
        jobs.create(cell.job_id, BenchRequest(models=["tidy:1b"]), [cell])
    jobs.mark_cell(cell, ok=True)
    client.delete(settings_of_test.key("job-states"))
    # When they are counted, Then every job record counts, and the counts are kept after
    assert jobs.status_counts() == dict(STATES, queued=1, finished=1)
    jobs.cancel(jobs.recent()[1])  # the older one, still queued
    assert jobs.status_counts() == dict(STATES, finished=1, cancelled=1)


def test_the_collector_publishes_queue_job_and_model_figures(
    broker: RedisBroker,  # noqa: F811
    client: redis.Redis[bytes],
    settings_of_test: Settings,  # noqa: F811
) -> None:
    # Given two cells waiting, a judge message delayed, a job queued and a model's totals
    send(broker, a_collect_cell("tidy:1b"))
    send(broker, a_collect_cell("tidy:1b"))
    broker.enqueue(a_message(JUDGE_QUEUE, "build_packet", {}), delay=60_000)
    cell = a_collect_cell()
    JobStore(client, settings_of_test).create(cell.job_id, BenchRequest(models=["tidy:1b"]), [cell])
    ModelStatsStore(client, settings_of_test).add_generation("tidy:1b", load_s=3, generation_s=1)
    # When Prometheus scrapes
    samples = scraped(client, settings_of_test)
    # Then each queue has its counts, the cells' queue its oldest message's age
    collect = (("queue", COLLECT_QUEUE),)
    assert samples[("tipbench_queue_ready_messages", collect)] == 2
    assert samples[("tipbench_queue_oldest_message_age_seconds", collect)] >= 0
    assert samples[("tipbench_queue_delayed_messages", (("queue", JUDGE_QUEUE),))] == 1
    for queue in QUEUES:
        assert samples[("tipbench_queue_dead_messages", (("queue", queue),))] == 0
        assert samples[("tipbench_queue_in_progress_messages", (("queue", queue),))] == 0
    # And the jobs by state, the model's cells and its load and generation sums
    assert samples[("tipbench_jobs", (("status", "queued"),))] == 1
    assert samples[("tipbench_jobs", (("status", "finished"),))] == 0
    model = (("model", "tidy:1b"),)
    assert samples[("tipbench_model_cells_generated_total", model)] == 1
    assert samples[("tipbench_model_load_seconds_sum", model)] == 3
    assert samples[("tipbench_model_load_seconds_count", model)] == 1
    assert samples[("tipbench_model_generation_seconds_sum", model)] == 1
    assert samples[("tipbench_queue_metrics_up", ())] == 1


def test_the_collector_says_redis_is_down_instead_of_failing_the_scrape(
    settings_of_test: Settings,  # noqa: F811
) -> None:
    # Given a Redis that does not answer (a closed port)
    away = settings_of_test.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with redis.Redis.from_url(away.redis_url, socket_connect_timeout=1) as unreachable:
        # When Prometheus scrapes
        samples = scraped(unreachable, away)
    # Then the scrape answers, saying the queue figures could not be read
    assert samples[("tipbench_queue_metrics_up", ())] == 0
    assert not any(name.startswith("tipbench_queue_ready") for name, _ in samples)


def test_model_series_are_capped_with_the_rest_summed() -> None:
    # Given more models than series allowed, the smallest ones last
    totals = [
        ModelTotals(f"m{i:02d}", cells=100 - i, load_s=1.0, generation_s=2.0) for i in range(5)
    ]
    # When capped at three
    kept = capped(totals, limit=3)
    # Then the three largest keep their series and the others are one `other` series
    assert [t.model for t in kept] == ["m00", "m01", "m02", OTHER_MODELS]
    assert kept[-1] == ModelTotals(OTHER_MODELS, cells=97 + 96, load_s=2.0, generation_s=4.0)
