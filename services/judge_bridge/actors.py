"""Judge bridge entrypoint: `dramatiq services.judge_bridge.actors -Q judge`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import dramatiq
import redis
from mlflow.tracking import MlflowClient

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
from shared.contracts.requests import JudgeFile
from shared.errors import InvalidScores, UnknownModel
from shared.judge_clients import ollama_client, openai_client
from shared.messaging import JUDGE_QUEUE, send
from shared.model_names import parse_model
from shared.queues import QueueInspector
from shared.settings import Settings
from shared.stores.packets import PacketStore
from shared.stores.pairs import PairStore
from shared.stores.scores import ScoreStore
from shared.stores.suites import SuiteStore
from shared.worker import worker_deps

settings = Settings()  # read from the environment
broker = worker_broker(settings, "judge_bridge")
log = logging.getLogger("tipbench.judge_bridge")
COLLECTOR_BUSY_RETRY_MS = 2_000
F = TypeVar("F", ScoreFile, PairScoreFile)


def _build(client: redis.Redis[bytes], mlflow: MlflowClient) -> JudgeDeps:
    """The judge bridge's clients, on its Redis and MLflow clients."""
    return JudgeDeps(
        settings=settings,
        redis=client,
        broker=broker,
        ollama=ollama_client(settings),
        openai=openai_client(settings),
        embedded=EmbeddedJudge(gguf_dir=settings.gguf_dir),
        mlflow=mlflow,
        packets=PacketStore(client, settings),
        pairs=PairStore(client, settings),
        scores=ScoreStore(client, settings),
        queues=QueueInspector(client, settings),
        suites=SuiteStore(client, mlflow, settings),
    )


deps = worker_deps(settings, _build, traces=True)  # built on the first message


def judge_actor(
    name: str, *, min_backoff: int = 1_000, throws: tuple[type[Exception], ...] = ()
) -> Callable[[Callable[[dict[str, Any]], None]], dramatiq.Actor[[dict[str, Any]], None]]:
    """An actor of the judge queue, retried up to 5 times with a backoff from `min_backoff`
    ms; an exception of `throws` fails its message at once."""
    return dramatiq.actor(
        actor_name=name,
        queue_name=JUDGE_QUEUE,
        max_retries=5,
        min_backoff=min_backoff,
        throws=throws,
    )


@judge_actor("build_packet")
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


@contextmanager
def stored_submission(file: type[F], submission_id: str) -> Iterator[F]:
    """A submission the gateway stored, read as `file`; marked ingested when the block ends,
    or failed with the problems when the block raises InvalidScores."""
    store = deps().packets
    submission = file.model_validate_json(store.submission(submission_id)["scores"])
    try:
        yield submission
    except InvalidScores as exc:
        store.set_submission_status(submission_id, "failed", str(exc.problems))
        raise
    store.set_submission_status(submission_id, "ingested")


def log_ingested(n: int, what: str, answer: JudgeFile, experiment: str) -> None:
    """Log a judge's ingested file: `n` scores or verdicts (`what`)."""
    log.info("ingested %d %s of judge %s in %s", n, what, answer.judge_id, experiment)


@judge_actor("ingest_scores", throws=(InvalidScores,))
def ingest_scores(payload: dict[str, Any]) -> None:
    """Write a stored score submission to the runs and tell the reporter."""
    command = IngestScores.model_validate(payload)
    with stored_submission(ScoreFile, command.submission_id) as scores:
        run_ids = ingest_locked(deps(), command.experiment, scores)
    log_ingested(len(scores.scores), "scores", scores, command.experiment)
    announce_scores(deps(), command.experiment, scores, len(scores.scores), run_ids)


@judge_actor("ingest_pair_scores", throws=(InvalidScores,))
def ingest_pair_scores(payload: dict[str, Any]) -> None:
    """Record a stored pairwise verdict submission and tell the reporter."""
    command = IngestPairScores.model_validate(payload)
    with stored_submission(PairScoreFile, command.submission_id) as verdicts:
        ingest_pair_verdicts(deps(), command.experiment, verdicts)
    log_ingested(len(verdicts.judgments), "pairwise verdicts", verdicts, command.experiment)


@judge_actor("run_llm_judge", min_backoff=2_000, throws=(UnknownModel,))
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
