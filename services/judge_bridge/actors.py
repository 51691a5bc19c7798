"""Judge bridge entrypoint: `dramatiq services.judge_bridge.actors -Q judge`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import dramatiq
import redis
from mlflow.tracking import MlflowClient

from services.judge_bridge.ingest import ingest_scores as ingest
from services.judge_bridge.packets import build_packet as build
from services.judge_bridge.packets import record_packet
from shared import tracking
from shared.broker import make_broker
from shared.contracts import IngestScores, JobFinished, ScoreFile, ScoresIngested
from shared.errors import InvalidScores
from shared.judging import PacketStore
from shared.messaging import JUDGE_QUEUE, send
from shared.scores import ScoreStore
from shared.settings import Settings

settings = Settings()  # read from the environment
broker = make_broker(settings)
dramatiq.set_broker(broker)
log = logging.getLogger("tipbench.judge_bridge")


@dataclass(frozen=True)
class JudgeDeps:
    """The judge bridge's clients."""

    redis: redis.Redis[bytes]
    mlflow: MlflowClient
    packets: PacketStore
    scores: ScoreStore


@cache
def deps() -> JudgeDeps:
    """Clients built on the first message (not at import)."""
    client = redis.Redis.from_url(settings.redis_url)
    return JudgeDeps(
        redis=client,
        mlflow=tracking.make_client(settings),
        packets=PacketStore(client, settings),
        scores=ScoreStore(client, settings),
    )


@dramatiq.actor(actor_name="build_packet", queue_name=JUDGE_QUEUE, max_retries=5, min_backoff=1_000)
def build_packet(payload: dict[str, Any]) -> None:
    """A job finished: build the experiment's packet and close the job's parent run."""
    event = JobFinished.model_validate(payload)
    packet = build(deps().mlflow, deps().packets, event.experiment)
    if packet is not None:
        record_packet(deps().mlflow, event.parent_run_id, packet)
    deps().mlflow.set_terminated(
        event.parent_run_id, "FINISHED" if event.status != "failed" else "FAILED"
    )


@dramatiq.actor(
    actor_name="ingest_scores",
    queue_name=JUDGE_QUEUE,
    max_retries=5,
    min_backoff=1_000,
    throws=(InvalidScores,),
)
def ingest_scores(payload: dict[str, Any]) -> None:
    """Write a stored score submission to the runs and tell the reporter."""
    command = IngestScores.model_validate(payload)
    store = deps().packets
    submission = store.submission(command.submission_id)
    scores = ScoreFile.model_validate_json(submission["scores"])
    # One ingest per experiment at a time: two posts of the same file must not both see
    # "no score yet" and both write.
    lock = deps().redis.lock(
        settings.key("ingest-lock", command.experiment), timeout=300, blocking_timeout=300
    )
    try:
        with lock:
            run_ids = ingest(deps().mlflow, store, deps().scores, command.experiment, scores)
    except InvalidScores as exc:
        store.set_submission_status(command.submission_id, "failed", str(exc.problems))
        raise
    store.set_submission_status(command.submission_id, "ingested")
    send(
        broker,
        ScoresIngested(
            experiment=command.experiment,
            packet_id=scores.packet_id,
            judge_id=scores.judge_id,
            n_scores=len(scores.scores),
            run_ids=run_ids,
        ),
    )
