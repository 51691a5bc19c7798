"""Specs of the queue adapter: shared/queues.py reads right what the pinned dramatiq wrote.

Real Redis, real dramatiq: messages go in through `make_broker` + `send`, a real worker
fails one into the dead letters. A dramatiq upgrade that moves its Redis layout fails here,
and shared/queues.py is the one file to fix.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from shared.broker import make_broker
from shared.contracts import IngestScores, RunLlmJudge
from shared.errors import ProviderUnavailable
from shared.messaging import COLLECT_QUEUE, JUDGE_QUEUE, send
from shared.queues import QueueInspector
from shared.settings import Settings
from testkit.cells import a_collect_cell
from tests.conftest import wait_until
from tipbench import stack


@pytest.fixture
def settings_of_test(core_settings: Settings) -> Settings:
    """Settings whose queues belong to this test alone (a namespace of its own)."""
    namespace = f"{core_settings.namespace}-queues-{uuid.uuid4().hex[:8]}"
    return core_settings.model_copy(update={"namespace": namespace})


@pytest.fixture
def broker(settings_of_test: Settings) -> Iterator[RedisBroker]:
    broker = make_broker(settings_of_test)
    yield broker
    broker.close()
    broker.client.connection_pool.disconnect()  # a RedisBroker's close leaves its sockets


@pytest.fixture
def inspector(settings_of_test: Settings) -> Iterator[QueueInspector]:
    with redis.Redis.from_url(settings_of_test.redis_url) as client:
        yield QueueInspector(client, settings_of_test)


def a_message(queue: str, actor: str, *args: Any) -> dramatiq.Message[Any]:
    """A message as dramatiq's own send_with_options and callbacks build it."""
    return dramatiq.Message(queue_name=queue, actor_name=actor, args=args, kwargs={}, options={})


def test_queue_inspector_reads_sent_cells_as_ready_oldest_first(
    broker: RedisBroker, inspector: QueueInspector
) -> None:
    # Given two cells sent to the collector
    first, second = a_collect_cell("tidy:1b"), a_collect_cell("tidy-b:0.5b")
    send(broker, first)
    send(broker, second)
    # When the queue is read
    stats = inspector.stats(COLLECT_QUEUE)
    waiting = inspector.messages(COLLECT_QUEUE, "ready")
    # Then both wait, ready, in the order they were sent, with what they are about
    assert (stats.ready, stats.delayed, stats.in_progress, stats.dead) == (2, 0, 0, 0)
    assert stats.oldest_age_s is not None and stats.oldest_age_s >= 0
    assert inspector.ready_count(COLLECT_QUEUE) == 2
    assert [(m.actor, m.cell_key, m.job_id) for m in waiting] == [
        ("collect_cell", first.cell_key, first.job_id),
        ("collect_cell", second.cell_key, second.job_id),
    ]
    assert {(m.experiment, m.retries, m.error) for m in waiting} == {("cells", 0, None)}
    # And each names its cell by model, prompt and scenario, not by its key
    assert [m.cell for m in waiting] == [
        "tidy:1b | v1 | nurse@evening",
        "tidy-b:0.5b | v1 | nurse@evening",
    ]


def test_queue_inspector_counts_a_delayed_message_apart_from_the_ready_ones(
    broker: RedisBroker, inspector: QueueInspector
) -> None:
    # Given an LLM judge put off for a minute, as the judge bridge does while cells wait
    payload = RunLlmJudge(experiment="cells", model="judge:8b").model_dump(mode="json")
    broker.enqueue(a_message(JUDGE_QUEUE, "run_llm_judge", payload), delay=60_000)
    # When the judge queue is read
    stats = inspector.stats(JUDGE_QUEUE)
    # Then the message is delayed, not ready
    assert (stats.ready, stats.delayed, stats.oldest_age_s) == (0, 1, None)
    assert inspector.ready_count(JUDGE_QUEUE) == 0
    assert inspector.messages(JUDGE_QUEUE, "ready") == []
    (delayed,) = inspector.messages(JUDGE_QUEUE, "delayed")
    assert (delayed.actor, delayed.experiment) == ("run_llm_judge", "cells")


def test_next_queued_model_is_the_model_of_the_cell_the_collector_takes_next(
    broker: RedisBroker, inspector: QueueInspector
) -> None:
    # Given an empty collect queue, there is no next model
    assert inspector.next_queued_model() is None
    # When two cells of different models are sent
    send(broker, a_collect_cell("tidy:1b"))
    send(broker, a_collect_cell("tidy-b:0.5b"))
    # Then the next model is the first one's
    assert inspector.next_queued_model() == "tidy:1b"


def test_next_queued_model_is_none_when_the_head_lost_its_payload(
    broker: RedisBroker, inspector: QueueInspector
) -> None:
    # Given a head id whose payload is gone (dramatiq deletes both; a crash between them)
    send(broker, a_collect_cell("tidy:1b"))
    client = broker.client
    queue_key = f"{broker.namespace}:{COLLECT_QUEUE}"
    head = client.lindex(queue_key, 0)
    assert head is not None
    client.hdel(f"{queue_key}.msgs", head)
    # Then no model is named (and nothing fails)
    assert inspector.next_queued_model() is None


def test_next_queued_model_is_none_when_a_callback_is_next(
    broker: RedisBroker, inspector: QueueInspector
) -> None:
    # Given an exhausted-retries callback at the head of the collect queue, then a cell
    payload = a_collect_cell("tidy:1b").model_dump(mode="json")
    failed = a_message(COLLECT_QUEUE, "collect_cell", payload)
    broker.enqueue(a_message(COLLECT_QUEUE, "collect_cell_exhausted", failed.asdict(), {}))
    send(broker, a_collect_cell("tidy:1b"))
    # Then no cell is next: the collector must not keep its model for the callback
    assert inspector.next_queued_model() is None


def test_collector_busy_while_cells_wait_to_be_generated(
    broker: RedisBroker, inspector: QueueInspector
) -> None:
    # Given an empty collect queue, the collector is idle
    assert not inspector.collector_busy()
    # When a cell is sent, it is busy
    send(broker, a_collect_cell("tidy:1b"))
    assert inspector.collector_busy()
    # When the queue is emptied, it is idle again
    broker.flush(COLLECT_QUEUE)
    assert not inspector.collector_busy()


@pytest.fixture
def dead_letter(broker: RedisBroker, inspector: QueueInspector) -> Iterator[list[int]]:
    """An ingest that failed twice (one retry) under a real worker; yields the in-progress
    counts the actor saw while it ran."""
    seen: list[int] = []

    @dramatiq.actor(broker=broker, queue_name=JUDGE_QUEUE, max_retries=1, min_backoff=1)
    def ingest_scores(payload: dict[str, Any]) -> None:
        seen.append(inspector.stats(JUDGE_QUEUE).in_progress)
        raise ProviderUnavailable("judge is down")

    send(broker, IngestScores(submission_id="s1", experiment="cells"))
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        broker.join(JUDGE_QUEUE)
        worker.join()
    finally:
        worker.stop()
    yield seen


def test_queue_inspector_reads_a_failed_message_as_dead_with_its_last_error(
    broker: RedisBroker, inspector: QueueInspector, dead_letter: list[int]
) -> None:
    # Given a message that failed on its first try and on its retry (the fixture)
    # When the judge queue is read
    stats = inspector.stats(JUDGE_QUEUE)
    # Then it was in progress while the actor ran, and is now a dead letter
    assert dead_letter == [1, 1]
    assert (stats.ready, stats.delayed, stats.in_progress, stats.dead) == (0, 0, 0, 1)
    (dead,) = inspector.messages(JUDGE_QUEUE, "dead")
    assert (dead.actor, dead.experiment, dead.retries) == ("ingest_scores", "cells", 1)
    assert dead.error is not None and dead.error.endswith("ProviderUnavailable: judge is down")
    # And the worker that ran it is listed with its heartbeat
    assert broker.broker_id in [w["worker_id"] for w in inspector.workers()]


def test_requeue_dead_puts_a_dead_letter_back_with_fresh_retries(
    broker: RedisBroker, inspector: QueueInspector, dead_letter: list[int]
) -> None:
    # Given a dead letter
    (dead,) = inspector.messages(JUDGE_QUEUE, "dead")
    # When it is requeued
    assert inspector.requeue_dead(broker, JUDGE_QUEUE, dead.message_id)
    # Then it waits again, ready, with no retries and no error, and is no longer dead
    stats = inspector.stats(JUDGE_QUEUE)
    assert (stats.ready, stats.dead) == (1, 0)
    (again,) = inspector.messages(JUDGE_QUEUE, "ready")
    assert (again.actor, again.experiment, again.retries, again.error) == (
        "ingest_scores",
        "cells",
        0,
        None,
    )
    assert not inspector.requeue_dead(broker, JUDGE_QUEUE, dead.message_id)  # gone


def test_requeue_all_dead_puts_back_every_dead_letter(
    broker: RedisBroker, inspector: QueueInspector, dead_letter: list[int]
) -> None:
    # Given a dead letter, when every dead letter is requeued
    assert inspector.requeue_all_dead(broker, JUDGE_QUEUE) == 1
    # Then it waits again and none is dead
    stats = inspector.stats(JUDGE_QUEUE)
    assert (stats.ready, stats.dead) == (1, 0)


def test_purge_dead_deletes_every_dead_letter(
    inspector: QueueInspector, dead_letter: list[int]
) -> None:
    # Given a dead letter, when the dead letters are purged
    assert inspector.purge_dead(JUDGE_QUEUE) == 1
    # Then none is left
    assert inspector.stats(JUDGE_QUEUE).dead == 0
    assert inspector.messages(JUDGE_QUEUE, "dead") == []


def test_every_worker_of_the_stack_is_named_by_its_service(running_stack: Settings) -> None:
    # Given the stack's workers, as real processes
    expected = {s.name for s in stack.services(running_stack) if s.name != "gateway"}
    with redis.Redis.from_url(running_stack.redis_url) as client:
        inspector = QueueInspector(client, running_stack)

        # When their heartbeats are read
        def every_service() -> set[str | None] | None:
            names = {w["service"] for w in inspector.workers()}
            return names if expected <= names else None

        # Then each worker is named by the service it runs
        found = wait_until(every_service, timeout_s=60, what="a named worker of every service")
    assert None not in found


def test_the_adapter_is_specified_against_the_pinned_dramatiq() -> None:
    """These specs hold for the dramatiq the project pins: an upgrade fails here first,
    and shared/queues.py (with these specs) is what to check."""
    project = Path(__file__).resolve().parent.parent / "pyproject.toml"
    pinned = re.search(r'"dramatiq\[redis\]==([0-9.]+)"', project.read_text("utf-8"))
    assert pinned is not None, "pyproject.toml no longer pins dramatiq exactly"
    assert dramatiq.__version__ == pinned.group(1)


def test_a_retry_moving_from_the_delay_queue_counts_once_in_progress(
    settings_of_test: Settings, inspector: QueueInspector
) -> None:
    # Given a worker whose delay-queue consumer has moved a retried message to the queue,
    # and whose queue consumer took it before the delay queue's ack (dramatiq's layout)
    prefix = settings_of_test.key("dramatiq")
    with redis.Redis.from_url(settings_of_test.redis_url) as client:
        client.zadd(f"{prefix}:__heartbeats__", {"w1": 1e12})
        client.sadd(f"{prefix}:__acks__.w1.{JUDGE_QUEUE}", "m1")
        client.sadd(f"{prefix}:__acks__.w1.{JUDGE_QUEUE}.DQ", "m1")
        client.sadd(f"{prefix}:__acks__.w1.{JUDGE_QUEUE}.DQ", "m2")  # another, still delayed
    # Then the message counts once
    assert inspector.stats(JUDGE_QUEUE).in_progress == 2
