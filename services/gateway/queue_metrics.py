"""Queue, job and model metrics for Prometheus, read from Redis when /metrics is scraped.

A custom collector, not counters kept by the gateway: the numbers live in Redis (the
queues in dramatiq's layout, read only through shared/queues.py; the jobs and model
totals through their stores), so every gateway process answers the same and nothing is
lost on a restart. Labels are closed sets (queue names, job states) except `model`,
which is capped at MAX_MODEL_SERIES. The cost of one collection is measured by
bench/queue_metrics.py (docs/performance.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from shared.queues import QueueInspector
from shared.settings import Settings
from shared.stores.jobs import JobStore
from shared.stores.models import ModelStatsStore, ModelTotals

log = logging.getLogger("tipbench.gateway.metrics")

# Models with the most cells get a series each; the rest are summed under OTHER_MODELS,
# so that the names users submit cannot grow the series without bound.
MAX_MODEL_SERIES = 50
OTHER_MODELS = "other"
# QueueStats fields published as tipbench_queue_<field>_messages{queue}.
QUEUE_GAUGES = {
    "ready": "Messages waiting to be taken.",
    "delayed": "Messages waiting for their retry delay or eta.",
    "in_progress": "Messages taken by a worker, not yet acknowledged.",
    "dead": "Dead letters (retries exhausted).",
}


def capped(totals: list[ModelTotals], limit: int = MAX_MODEL_SERIES) -> list[ModelTotals]:
    """The `limit` models with the most cells, the others summed as one `other` model."""
    ranked = sorted(totals, key=lambda t: (-t.cells, t.model))
    kept, rest = ranked[:limit], ranked[limit:]
    if rest:
        kept.append(
            ModelTotals(
                model=OTHER_MODELS,
                cells=sum(t.cells for t in rest),
                load_s=sum(t.load_s for t in rest),
                generation_s=sum(t.generation_s for t in rest),
            )
        )
    return kept


class QueueCollector(Collector):
    """Collects per queue, per job state and per model figures from Redis at scrape time."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._queues = QueueInspector(client, settings)
        self._jobs = JobStore(client, settings)
        self._models = ModelStatsStore(client, settings)

    def collect(self) -> Iterator[Metric]:
        """Every family, plus whether Redis could be read and how long reading took."""
        started = time.perf_counter()
        try:
            families = list(self._families())
            up = 1.0
        except redis.RedisError as error:
            # The gateway's own metrics must still be scraped while Redis is away.
            log.warning("queue metrics unavailable: %s", error)
            families, up = [], 0.0
        yield from families
        yield GaugeMetricFamily(
            "tipbench_queue_metrics_up", "1 if Redis was read for the queue metrics, else 0.", up
        )
        yield GaugeMetricFamily(
            "tipbench_queue_metrics_scrape_duration_seconds",
            "Time taken to read the queue, job and model metrics from Redis.",
            time.perf_counter() - started,
        )

    def _families(self) -> Iterator[Metric]:
        yield from self._queue_families()
        jobs = GaugeMetricFamily("tipbench_jobs", "Jobs by state.", labels=["status"])
        for status, count in self._jobs.status_counts().items():
            jobs.add_metric([status], count)
        yield jobs
        alive, silent = self._queues.workers_by_liveness()
        workers = GaugeMetricFamily(
            "tipbench_workers",
            "dramatiq worker processes by heartbeat: alive, or silent past the timeout.",
            labels=["state"],
        )
        workers.add_metric(["alive"], alive)
        workers.add_metric(["silent"], silent)
        yield workers
        yield from self._model_families()

    def _queue_families(self) -> Iterator[Metric]:
        per_queue = [self._queues.stats(q) for q in self._queues.names()]
        for name, help_text in QUEUE_GAUGES.items():
            family = GaugeMetricFamily(
                f"tipbench_queue_{name}_messages", help_text, labels=["queue"]
            )
            for stats in per_queue:
                family.add_metric([stats.name], getattr(stats, name))
            yield family
        oldest = GaugeMetricFamily(
            "tipbench_queue_oldest_message_age_seconds",
            "Age of the oldest message waiting to be taken; 0 when none waits.",
            labels=["queue"],
        )
        for stats in per_queue:
            oldest.add_metric([stats.name], stats.oldest_age_s or 0.0)
        yield oldest

    def _model_families(self) -> Iterator[Metric]:
        totals = capped(self._models.totals())
        cells = CounterMetricFamily(
            "tipbench_model_cells_generated", "Cells generated, by model.", labels=["model"]
        )
        load = SummaryMetricFamily(
            "tipbench_model_load_seconds",
            "Model load time per generated cell (sum and count; the mean is sum/count).",
            labels=["model"],
        )
        generation = SummaryMetricFamily(
            "tipbench_model_generation_seconds",
            "Generation time per generated cell (sum and count; the mean is sum/count).",
            labels=["model"],
        )
        for total in totals:
            cells.add_metric([total.model], total.cells)
            load.add_metric([total.model], count_value=total.cells, sum_value=total.load_s)
            generation.add_metric(
                [total.model], count_value=total.cells, sum_value=total.generation_s
            )
        yield from (cells, load, generation)
