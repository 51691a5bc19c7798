"""Collector entrypoint: `dramatiq services.collector.actors -p 1 -t 1 -Q collect`.

Run it with the environment `dramatiq_queue_prefetch=1`, one process, one thread: a single
consumer keeps at most one candidate model in memory.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import dramatiq
import redis

from services.collector.collect import CollectorDeps, collect_cell, finish_cell
from services.collector.providers import ModelProvider
from services.collector.providers.gguf import GgufProvider
from services.collector.providers.ollama import OllamaProvider
from services.collector.providers.openai_compat import OpenAICompatibleProvider
from services.collector.session import ModelSession
from shared import tracking
from shared.broker import make_broker
from shared.contracts import CollectCell
from shared.errors import PermanentError
from shared.jobs import JobStore
from shared.messaging import COLLECT_QUEUE
from shared.settings import Settings

settings = Settings()  # read from the environment
broker = make_broker(settings)
dramatiq.set_broker(broker)
log = logging.getLogger("tipbench.collector")

# A cold load of a large model plus a long generation can take many minutes.
CELL_TIME_LIMIT_MS = 60 * 60 * 1000


@cache
def deps() -> CollectorDeps:
    """The collector's clients, built on the first message (not at import)."""
    providers: dict[str, ModelProvider] = {
        "ollama": OllamaProvider(
            settings.ollama_host,
            timeout_s=settings.ollama_timeout_s,
            load_timeout_s=settings.openai_timeout_s,
        ),
        "gguf": GgufProvider(),
        "openai": OpenAICompatibleProvider(
            settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value(),
            timeout_s=settings.ollama_load_timeout_s,
        ),
    }
    return CollectorDeps(
        mlflow=tracking.make_client(settings),
        jobs=JobStore(redis.Redis.from_url(settings.redis_url), settings),
        broker=broker,
        session=ModelSession(providers),
    )


@dramatiq.actor(
    actor_name="collect_cell",
    queue_name=COLLECT_QUEUE,
    max_retries=settings.collect_max_retries,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=CELL_TIME_LIMIT_MS,
    throws=(PermanentError,),
    on_retry_exhausted="collect_cell_exhausted",
)
def collect_cell_actor(payload: dict[str, Any]) -> None:
    """Generate one cell; a permanent refusal marks it failed at once."""
    cell = CollectCell.model_validate(payload)
    try:
        collect_cell(cell, deps())
    except PermanentError as exc:
        log.warning("cell %s refused: %s", cell.cell_key, exc)
        finish_cell(cell, deps(), ok=False, error=f"{type(exc).__name__}: {exc}")
        raise  # `throws` sends it to the dead letters without retrying


@dramatiq.actor(actor_name="collect_cell_exhausted", queue_name=COLLECT_QUEUE, max_retries=3)
def collect_cell_exhausted(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Mark a cell failed after its last retry; the message itself is in the dead letters."""
    cell = CollectCell.model_validate(message["args"][0])
    traceback = str(message.get("options", {}).get("traceback", "")).strip().splitlines()
    reason = traceback[-1] if traceback else "unknown error"
    finish_cell(
        cell,
        deps(),
        ok=False,
        error=f"failed after {retry_info.get('retries', '?')} retries: {reason}",
    )
