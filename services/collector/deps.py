"""The clients the collector's core works with, and the store of generations awaiting a run."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from dramatiq.brokers.redis import RedisBroker
from mlflow.tracking import MlflowClient
from pydantic import Field
from redis import Redis

from services.collector.session import ModelSession
from shared.base import Record
from shared.queues import QueueInspector
from shared.settings import Settings
from shared.stores.jobs import JobStore
from shared.stores.models import ModelStatsStore
from shared.stores.suites import SuiteStore
from shared.tracking import ExperimentIds

# Fixed registry prompt versions never change: their templates are kept per process.
_TEMPLATES: dict[str, str | list[dict[str, str]]] = {}
# A generation waits here until its run is written; a week covers any MLflow outage.
GENERATED_TTL_S = 7 * 24 * 3600


class GeneratedCell(Record):
    """Everything the recorder writes to a cell's run, produced by the generation step."""

    params: dict[str, str] = Field(description="Run params.")
    metrics: dict[str, float] = Field(description="Run metrics.")
    artifacts: dict[str, object] = Field(description="Artifact file name -> JSON content.")


@dataclass
class CollectorDeps:
    """The collector's clients (the recorder never touches `session`)."""

    settings: Settings
    redis: redis.Redis[bytes]
    mlflow: MlflowClient
    jobs: JobStore
    broker: RedisBroker
    queues: QueueInspector
    session: ModelSession
    suites: SuiteStore
    experiments: ExperimentIds

    @classmethod
    def on(
        cls,
        settings: Settings,
        client: Redis[bytes],
        mlflow: MlflowClient,
        broker: RedisBroker,
        session: ModelSession,
    ) -> CollectorDeps:
        """The collector's stores around its Redis and MLflow clients and its broker,
        generating through `session`."""
        return cls(
            settings=settings,
            redis=client,
            mlflow=mlflow,
            jobs=JobStore(client, settings),
            broker=broker,
            queues=QueueInspector(client, settings),
            session=session,
            suites=SuiteStore(client, mlflow, settings),
            experiments=ExperimentIds(mlflow),
        )

    def registry_template(self, uri: str) -> str | list[dict[str, str]]:
        """The template of a fixed registry prompt version (read once per process)."""
        if uri not in _TEMPLATES:
            found = self.mlflow.load_prompt(uri)
            _TEMPLATES[uri] = found.template
        return _TEMPLATES[uri]

    def generated_key(self, cell_key: str) -> str:
        """Where a cell's generation waits for its run."""
        return self.settings.key("generated", cell_key)

    def keep_generated(self, cell_key: str, model: str, generated: GeneratedCell) -> None:
        """Keep a generation until its run is written, and count it in its model's totals
        (one round trip: the collector does this between two generations)."""
        with self.redis.pipeline(transaction=True) as pipe:
            ModelStatsStore(self.redis, self.settings).add_generation(
                model,
                load_s=generated.metrics["load_s"],
                generation_s=generated.metrics["generation_s"],
                pipe=pipe,
            )
            pipe.set(self.generated_key(cell_key), generated.model_dump_json(), ex=GENERATED_TTL_S)
            pipe.execute()

    def generated(self, cell_key: str) -> GeneratedCell | None:
        """The generation of a cell waiting for its run, if any."""
        raw = self.redis.get(self.generated_key(cell_key))
        return None if raw is None else GeneratedCell.model_validate_json(raw)

    def forget_generated(self, cell_key: str) -> None:
        """Drop a generation once its run is written."""
        self.redis.delete(self.generated_key(cell_key))
