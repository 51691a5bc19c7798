"""Judge bridge entrypoint: `dramatiq services.judge_bridge.actors -Q judge`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import dramatiq
import httpx
import ollama
import redis
from mlflow.tracking import MlflowClient

from services.judge_bridge.ingest import ingest_scores as ingest
from services.judge_bridge.llm_judge import ollama_chat, openai_chat
from services.judge_bridge.llm_judge import run_llm_judge as judge_with_llm
from services.judge_bridge.packets import build_packet as build
from services.judge_bridge.packets import record_packet
from shared import tracking
from shared.broker import make_broker
from shared.contracts import IngestScores, JobFinished, RunLlmJudge, ScoreFile, ScoresIngested
from shared.errors import InvalidScores
from shared.judging import PacketStore, assemble_packet
from shared.logs import configure_logging
from shared.messaging import COLLECT_QUEUE, JUDGE_QUEUE, send
from shared.scores import ScoreStore
from shared.settings import Settings

settings = Settings()  # read from the environment
configure_logging(settings.service or "judge_bridge")
broker = make_broker(settings, worker=True)
dramatiq.set_broker(broker)
log = logging.getLogger("tipbench.judge_bridge")
# An ingest holds its experiment's lock this long past its last write; a bridge killed
# mid-ingest delays the redelivered ingest by at most that.
INGEST_LOCK_TTL_S = 30.0
INGEST_LOCK_WAIT_S = 600.0


@dataclass(frozen=True)
class JudgeDeps:
    """The judge bridge's clients."""

    redis: redis.Redis[bytes]
    ollama: ollama.Client
    openai: httpx.Client
    mlflow: MlflowClient
    packets: PacketStore
    scores: ScoreStore


@cache
def deps() -> JudgeDeps:
    """Clients built on the first message (not at import)."""
    client = redis.Redis.from_url(settings.redis_url)
    return JudgeDeps(
        redis=client,
        ollama=ollama.Client(host=settings.ollama_host, timeout=settings.ollama_load_timeout_s),
        openai=httpx.Client(
            base_url=settings.openai_base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"}
            if (key := settings.openai_api_key.get_secret_value())
            else {},
            timeout=settings.openai_timeout_s,
        ),
        mlflow=tracking.use_tracking_server(settings),
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
    log.info("job %s ended %s; packet %s", event.job_id, event.status,
             packet.packet_id if packet is not None else "none")  # fmt: skip
    if event.llm_judge and packet is not None:
        send(broker, RunLlmJudge(experiment=event.experiment, model=event.llm_judge))


def ingest_locked(experiment: str, scores: ScoreFile) -> list[str]:
    """Ingest under the experiment's lock: two posts of the same file must not both see
    "no score yet" and both write. The lock is renewed after every run written, so a
    bridge killed mid-ingest holds up the redelivered ingest for INGEST_LOCK_TTL_S only."""
    lock = deps().redis.lock(
        settings.key("ingest-lock", experiment),
        timeout=INGEST_LOCK_TTL_S,
        blocking_timeout=INGEST_LOCK_WAIT_S,
    )
    with lock:
        return ingest(deps().mlflow, deps().packets, deps().scores, experiment, scores,
                      progress=lock.reacquire)  # fmt: skip


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
        run_ids = ingest_locked(command.experiment, scores)
    except InvalidScores as exc:
        store.set_submission_status(command.submission_id, "failed", str(exc.problems))
        raise
    store.set_submission_status(command.submission_id, "ingested")
    log.info("ingested %d scores of judge %s in %s", len(scores.scores), scores.judge_id,
             command.experiment)  # fmt: skip
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


COLLECTOR_BUSY_RETRY_MS = 2_000


def collector_busy(judge_model: str) -> bool:
    """True while cells wait to be generated or a candidate model is still loaded."""
    if deps().redis.llen(settings.key("dramatiq", COLLECT_QUEUE)) > 0:
        return True
    if judge_model.startswith("openai:"):
        return False  # that server manages its own models
    loaded = deps().ollama.ps().models
    return any(m.model != judge_model.removeprefix("ollama:") for m in loaded)


@dramatiq.actor(
    actor_name="run_llm_judge", queue_name=JUDGE_QUEUE, max_retries=5, min_backoff=2_000
)
def run_llm_judge(payload: dict[str, Any]) -> None:
    """Let a model score the runs it has not scored; invalid answers become judge failures."""
    command = RunLlmJudge.model_validate(payload)
    judge_id = f"llm:{command.model}"
    # The judge is loaded only after the candidate models are unloaded.
    if collector_busy(command.model):
        run_llm_judge.send_with_options(args=(payload,), delay=COLLECTOR_BUSY_RETRY_MS)
        return
    pool = deps().packets.candidates(command.experiment)
    done = deps().scores.judged_by(command.experiment, judge_id)
    packet, item_runs = assemble_packet(
        command.experiment, {r: c for r, c in pool.items() if r not in done}, judge_id=judge_id
    )
    deps().packets.save(packet, item_runs, latest=False)
    if command.model.startswith("openai:"):
        chat, target = openai_chat(deps().openai), command.model.removeprefix("openai:")
    else:
        chat, target = ollama_chat(deps().ollama), command.model.removeprefix("ollama:")
    scores, failures = judge_with_llm(chat, target, packet, judge_id)
    for failure in failures:
        deps().scores.record_failure(
            command.experiment, judge_id, item_runs[failure.item_id], failure.error
        )
    if not command.model.startswith("openai:"):
        deps().ollama.generate(model=target, keep_alive=0)  # free the judge model
    if scores is not None:
        run_ids = ingest_locked(command.experiment, scores)
        send(
            broker,
            ScoresIngested(
                experiment=command.experiment,
                packet_id=packet.packet_id,
                judge_id=judge_id,
                n_scores=len(scores.scores),
                run_ids=run_ids,
            ),
        )
