"""Collector entrypoints, two processes of one service:

    dramatiq services.collector.actors -p 1 -t 2 -Q collect   (generation)
    dramatiq services.collector.actors -p 1 -t 4 -Q record    (MLflow runs: jobs' and cells')

With several generation hosts (TIPBENCH_HOSTS), one generation process per host, started
with TIPBENCH_COLLECTOR_HOST=<name> and -Q collect.<name>, generates on that host alone.

The generation process generates one cell at a time (or up to a provider's parallel
slots, all of the loaded model): at most one candidate model in memory. It runs one thread
more than it has slots, with as many messages in hand (dramatiq_queue_prefetch): that
thread holds the next cell rendered and checked, waiting its turn in the model session,
so the next generation starts the moment the current one ends (services/collector/
session.py). The recorder writes runs meanwhile, so the model never waits for MLflow.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import redis
from mlflow.tracking import MlflowClient

from services.collector.cells import finish_cell
from services.collector.deps import CollectorDeps
from services.collector.generate import generate_cell, release_unless_next
from services.collector.job_run import job_run_id
from services.collector.providers import ModelProvider
from services.collector.providers.gguf import GgufProvider
from services.collector.providers.ollama import OllamaProvider
from services.collector.providers.openai_compat import OpenAICompatibleProvider
from services.collector.record import record_cell
from services.collector.session import ModelSession
from shared.broker import worker_broker
from shared.contracts import CollectCell, RecordCell
from shared.contracts.messages import OpenJobRun
from shared.errors import PermanentError
from shared.messaging import RECORD_QUEUE, collect_queue
from shared.settings import Settings
from shared.worker import worker_deps

settings = Settings()  # read from the environment
broker = worker_broker(settings, "collector")
log = logging.getLogger("tipbench.collector")
# The queue this process generates from: its host's, so that a retry and the retry-exhausted
# callback stay on the host (the callback goes to the queue its actor is declared on).
GENERATE_QUEUE = collect_queue(settings.collector_host)

# A cold load of a large model plus a long generation can take many minutes.
CELL_TIME_LIMIT_MS = 60 * 60 * 1000
# MLflow may be down for a while: the recorder keeps trying for about an hour.
RECORDER_RETRIES: dict[str, Any] = {
    "queue_name": RECORD_QUEUE,
    "max_retries": 60,
    "min_backoff": 1_000,
    "max_backoff": 60_000,
}


def _build(client: redis.Redis[bytes], mlflow: MlflowClient) -> CollectorDeps:
    """The collector's clients, on its Redis and MLflow clients."""
    host = settings.collector_generation_host()
    ollama_url = host.url if host and host.kind == "ollama" else settings.ollama_host
    openai_url = host.url if host and host.kind == "openai" else settings.openai_base_url
    providers: dict[str, ModelProvider] = {
        "ollama": OllamaProvider(
            ollama_url,
            timeout_s=settings.ollama_timeout_s,
            load_timeout_s=settings.ollama_load_timeout_s,
        ),
        "gguf": GgufProvider(gguf_dir=settings.gguf_dir),
        "openai": OpenAICompatibleProvider(
            openai_url,
            api_key=settings.openai_api_key.get_secret_value(),
            timeout_s=settings.openai_timeout_s,
        ),
    }
    # the embedded provider runs one generation at a time (one llama.cpp context)
    parallel = {"ollama": settings.ollama_parallel, "openai": settings.openai_parallel}
    return CollectorDeps.on(settings, client, mlflow, broker, ModelSession(providers, parallel))


deps = worker_deps(settings, _build, traces=True)  # built on the first message


def _last_error(message: dict[str, Any]) -> str:
    lines = str(message.get("options", {}).get("traceback", "")).strip().splitlines()
    return lines[-1] if lines else "unknown error"


@dramatiq.actor(
    actor_name="collect_cell",
    queue_name=GENERATE_QUEUE,
    max_retries=settings.collect_max_retries,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=CELL_TIME_LIMIT_MS,
    throws=(PermanentError,),
    on_retry_exhausted="collect_cell_exhausted",
)
def collect_cell(payload: dict[str, Any]) -> None:
    """Generate one cell; a permanent refusal marks it failed at once."""
    cell = CollectCell.model_validate(payload)
    try:
        generate_cell(cell, deps())
        log.info(
            "cell %s generated: %s %s %s",
            cell.cell_key,
            cell.model,
            cell.prompt_version,
            cell.scenario_id,
        )
    except PermanentError as exc:
        log.warning("cell %s refused: %s", cell.cell_key, exc)
        finish_cell(cell, deps(), ok=False, error=f"{type(exc).__name__}: {exc}")
        raise  # `throws` sends it to the dead letters without retrying
    finally:
        release_unless_next(deps(), cell)


@dramatiq.actor(actor_name="collect_cell_exhausted", queue_name=GENERATE_QUEUE, max_retries=3)
def collect_cell_exhausted(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Mark a cell failed after its last retry; the message itself is in the dead letters."""
    cell = CollectCell.model_validate(message["args"][0])
    retries = retry_info.get("retries", "?")
    error = f"failed after {retries} retries: {_last_error(message)}"
    log.warning("cell %s failed: %s", cell.cell_key, error)
    finish_cell(cell, deps(), ok=False, error=error)
    release_unless_next(deps(), cell)


@dramatiq.actor(actor_name="open_job_run", **RECORDER_RETRIES)
def open_job_run(payload: dict[str, Any]) -> None:
    """Open a new job's MLflow parent run (unless its first cell's recording did)."""
    job_id = OpenJobRun.model_validate(payload).job_id
    log.info("job %s has parent run %s", job_id, job_run_id(deps(), job_id))


@dramatiq.actor(
    actor_name="record_cell", on_retry_exhausted="record_cell_exhausted", **RECORDER_RETRIES
)
def record_cell_actor(payload: dict[str, Any]) -> None:
    """Write a generated cell's MLflow run and mark the cell done."""
    cell = RecordCell.model_validate(payload).cell
    record_cell(cell, deps())
    log.info("cell %s recorded in job %s", cell.cell_key, cell.job_id)


@dramatiq.actor(actor_name="record_cell_exhausted", queue_name=RECORD_QUEUE, max_retries=3)
def record_cell_exhausted(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Mark a cell failed when its run could not be written after every retry."""
    cell = RecordCell.model_validate(message["args"][0]).cell
    error = (
        f"run not recorded after {retry_info.get('retries', '?')} retries: {_last_error(message)}"
    )
    finish_cell(cell, deps(), ok=False, error=error)
