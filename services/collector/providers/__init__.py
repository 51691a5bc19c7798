"""Model providers behind one small interface: describe, load, unload, generate."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

_SIZE = re.compile(r"^\s*(?:(\d+)\s*x\s*)?(\d+(?:\.\d+)?)\s*([KMBT])\s*$", re.IGNORECASE)
_SCALE = {"K": 1e-6, "M": 1e-3, "B": 1.0, "T": 1e3}


@dataclass(frozen=True)
class ModelInfo:
    """What a provider knows about a model before running it."""

    params_b: float | None
    digest: str = ""
    quantization: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Generation:
    """One model answer with the provider's own timings (seconds) and token counts."""

    text: str
    raw: dict[str, Any]
    load_s: float
    prompt_eval_s: float
    generation_s: float
    total_s: float
    prompt_tokens: int
    completion_tokens: int

    @property
    def tokens_per_s(self) -> float:
        """Generation speed; 0 when nothing was generated."""
        return self.completion_tokens / self.generation_s if self.generation_s > 0 else 0.0


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling settings sent with every call of a cell."""

    temperature: float
    seed: int
    num_predict: int
    num_ctx: int


class ModelProvider(Protocol):
    """A source of completions for models of one kind."""

    name: str

    def describe(self, model: str) -> ModelInfo:
        """Size, digest and quantization of a model."""
        ...

    def load(self, model: str) -> None:
        """Make the model resident."""
        ...

    def unload(self, model: str) -> None:
        """Free the model's memory."""
        ...

    def generate(
        self, model: str, messages: list[dict[str, str]], options: GenerationOptions
    ) -> Generation:
        """Answer a chat."""
        ...


def parse_parameter_size(text: str) -> float | None:
    """Billions of parameters from a size label such as '1.5B', '135M' or '8x7B'."""
    match = _SIZE.match(text or "")
    if not match:
        return None
    experts, number, unit = match.groups()
    return float(number) * _SCALE[unit.upper()] * (int(experts) if experts else 1)
