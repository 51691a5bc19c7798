"""Judge bridge entrypoint: `dramatiq services.judge_bridge.actors -Q judge`."""

from __future__ import annotations

import logging
import time
from functools import cache
from typing import Any

import dramatiq
import httpx
import ollama
import redis

from services.judge_bridge.deps import JudgeDeps
from services.judge_bridge.embedded import EmbeddedJudge
from services.judge_bridge.ingest import announce_scores, ingest_locked
from services.judge_bridge.ingest_pairs import ingest_pair_verdicts
from services.judge_bridge.llm_judge import judge_must_wait, judge_unscored_runs
from services.judge_bridge.llm_pairs import judge_pairs
from services.judge_bridge.packets import build_packet as build
from services.judge_bridge.packets import record_packet
from shared import tracking
from shared.broker import worker_broker
from shared.contracts import (
    IngestPairScores,
    IngestScores,
    JobFinished,
    PairScoreFile,
    RunLlmJudge,
    ScoreFile,
)
from shared.errors import InvalidScores, UnknownModel
from shared.messaging import JUDGE_QUEUE, send
from shared.model_names import parse_model
from shared.queues import QueueInspector
from shared.settings import Settings
from shared.stores.packets import PacketStore
from shared.stores.pairs import PairStore
from shared.stores.scores import ScoreStore
from shared.stores.suites import SuiteStore

settings = Settings()  # read from the environment
broker = worker_broker(settings, "judge_bridge")
log = logging.getLogger("tipbench.judge_bridge")
COLLECTOR_BUSY_RETRY_MS = 2_000


@cache
def deps() -> JudgeDeps:
    """Clients built on the first message (not at import)."""
    client = redis.Redis.from_url(settings.redis_url)
    mlflow = tracking.use_tracking_server(settings)
    return JudgeDeps(
        settings=settings,
        redis=client,
        broker=broker,
        ollama=ollama.Client(host=settings.ollama_host, timeout=settings.ollama_load_timeout_s),
        openai=httpx.Client(
            base_url=settings.openai_base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"}
            if (key := settings.openai_api_key.get_secret_value())
            else {},
            timeout=settings.openai_timeout_s,
        ),
        embedded=EmbeddedJudge(gguf_dir=settings.gguf_dir),
        mlflow=mlflow,
        packets=PacketStore(client, settings),
        pairs=PairStore(client, settings),
        scores=ScoreStore(client, settings),
        queues=QueueInspector(client, settings),
        suites=SuiteStore(client, mlflow, settings),
    )


@dramatiq.actor(actor_name="build_packet", queue_name=JUDGE_QUEUE, max_retries=5, min_backoff=1_000)
def build_packet(payload: dict[str, Any]) -> None:
    """A job finished: build the experiment's packet and close the job's parent run."""
    event = JobFinished.model_validate(payload)
    packet = build(deps().mlflow, deps().packets, deps().suites, event.experiment)
    if packet is not None:
        record_packet(deps().mlflow, event.parent_run_id, packet)
    deps().mlflow.set_terminated(
        event.parent_run_id,
        tracking.RUN_FAILED if event.status == "failed" else tracking.RUN_FINISHED,
    )
    log.info(
        "job %s ended %s; packet %s",
        event.job_id,
        event.status,
        packet.packet_id if packet is not None else "none",
    )
    if event.llm_judge and packet is not None:
        send(broker, RunLlmJudge(experiment=event.experiment, model=event.llm_judge))


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
    try:
        run_ids = ingest_locked(deps(), command.experiment, scores)
    except InvalidScores as exc:
        store.set_submission_status(command.submission_id, "failed", str(exc.problems))
        raise
    store.set_submission_status(command.submission_id, "ingested")
    log.info(
        "ingested %d scores of judge %s in %s",
        len(scores.scores),
        scores.judge_id,
        command.experiment,
    )
    announce_scores(deps(), command.experiment, scores, run_ids)


@dramatiq.actor(
    actor_name="ingest_pair_scores",
    queue_name=JUDGE_QUEUE,
    max_retries=5,
    min_backoff=1_000,
    throws=(InvalidScores,),
)
def ingest_pair_scores(payload: dict[str, Any]) -> None:
    """Record a stored pairwise verdict submission and tell the reporter."""
    command = IngestPairScores.model_validate(payload)
    store = deps().packets
    verdicts = PairScoreFile.model_validate_json(store.submission(command.submission_id)["scores"])
    try:
        ingest_pair_verdicts(deps(), command.experiment, verdicts)
    except InvalidScores as exc:
        store.set_submission_status(command.submission_id, "failed", str(exc.problems))
        raise
    store.set_submission_status(command.submission_id, "ingested")
    log.info(
        "ingested %d pairwise verdicts of judge %s in %s",
        len(verdicts.judgments),
        verdicts.judge_id,
        command.experiment,
    )


@dramatiq.actor(
    actor_name="run_llm_judge",
    queue_name=JUDGE_QUEUE,
    max_retries=5,
    min_backoff=2_000,
    throws=(UnknownModel,),
)
def run_llm_judge(payload: dict[str, Any]) -> None:
    """Let a model score the runs it has not scored (or judge its pairs), once the collector
    is idle."""
    command = RunLlmJudge.model_validate(payload)
    judge = parse_model(command.model)
    # The judge is loaded only after the candidate models are unloaded.
    if judge_must_wait(deps(), judge):
        run_llm_judge.send_with_options(args=(payload,), delay=COLLECTOR_BUSY_RETRY_MS)
        return
    started = time.monotonic()
    run = judge_pairs if command.pairwise else judge_unscored_runs
    scored, failed = run(deps(), command.experiment, judge)
    log.info(
        "LLM judge %s on %s: %d %s judged, %d failed, in %.1f s",
        judge.raw,
        command.experiment,
        scored,
        "pairs" if command.pairwise else "items",
        failed,
        time.monotonic() - started,
    )
