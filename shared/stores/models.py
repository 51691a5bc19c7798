"""Per-model generation totals in Redis: cells generated, load and generation seconds.

The collector adds to them after each generation; the metrics exporter reads them. They
are running totals (Prometheus counters): a mean over any window is a ratio of rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from shared.settings import Settings

# Fields of the hash are `<model>:<what>`; a model name may hold colons, `what` does not.
_PARTS = ("cells", "load_s", "generation_s")


@dataclass(frozen=True)
class ModelTotals:
    """One model's totals since the counters began."""

    model: str
    cells: int
    load_s: float
    generation_s: float


class ModelStatsStore:
    """Per-model generation totals under the stack's namespace."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._key = settings.key("model-stats")

    def add_generation(
        self,
        model: str,
        *,
        load_s: float,
        generation_s: float,
        pipe: redis.client.Pipeline[bytes] | None = None,
    ) -> None:
        """Count one generated cell of `model`, with its load and generation time: on `pipe`
        if given (its owner executes it, with its own commands), else in one transaction."""
        if pipe is None:
            with self._redis.pipeline(transaction=True) as own:
                self.add_generation(model, load_s=load_s, generation_s=generation_s, pipe=own)
                own.execute()
            return
        pipe.hincrby(self._key, f"{model}:cells", 1)
        pipe.hincrbyfloat(self._key, f"{model}:load_s", load_s)
        pipe.hincrbyfloat(self._key, f"{model}:generation_s", generation_s)

    def totals(self) -> list[ModelTotals]:
        """Every model's totals, by model name."""
        found: dict[str, dict[str, float]] = {}
        for field, value in self._redis.hgetall(self._key).items():
            model, _, what = field.decode().rpartition(":")
            if what in _PARTS:
                found.setdefault(model, dict.fromkeys(_PARTS, 0.0))[what] = float(value)
        return [
            ModelTotals(
                model=model,
                cells=int(parts["cells"]),
                load_s=parts["load_s"],
                generation_s=parts["generation_s"],
            )
            for model, parts in sorted(found.items())
        ]
