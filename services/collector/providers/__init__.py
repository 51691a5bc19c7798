"""Model providers behind one small interface: describe, load, unload, generate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ModelInfo:
    """What a provider knows about a model before running it."""

    params_b: float | None
    digest: str = ""
    quantization: str = ""
    server_version: str = ""
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
