"""Ollama through the official client: the production provider."""

from __future__ import annotations

from typing import Any

import httpx
import ollama

from services.collector.providers import (
    Generation,
    GenerationOptions,
    ModelInfo,
)
from shared.errors import ProviderBadResponse, ProviderUnavailable, UnknownModel
from shared.model_names import ollama_params_b

NS = 1e-9
# How long Ollama keeps a model after a call: long enough to cover the gaps between the
# cells of one model; the collector unloads it explicitly when it moves to another model.
KEEP_ALIVE = "30m"


class OllamaProvider:
    """Talks to one Ollama server."""

    name = "ollama"

    def __init__(self, host: str, *, timeout_s: float, load_timeout_s: float) -> None:
        # The client has no timeout unless given one; a cold load needs a longer one.
        self._warm = ollama.Client(host=host, timeout=timeout_s)
        self._cold = ollama.Client(host=host, timeout=load_timeout_s)
        # one client for /api/version: a new one per request builds a TLS context (~35 ms)
        self._plain = httpx.Client(base_url=host, timeout=timeout_s)

    def describe(self, model: str) -> ModelInfo:
        """Size (/api/show), digest (/api/tags) and the server's version (/api/version)."""
        shown = self._call(self._warm.show, model)
        details = shown.details.model_dump() if shown.details else {}
        listed = self._call(self._warm.list)
        digest = next((m.digest for m in listed.models if m.model == model and m.digest), "")
        return ModelInfo(
            digest=digest,
            server_version=self._server_version(),
            params_b=ollama_params_b(dict(shown.modelinfo or {}), details.get("parameter_size")),
            quantization=str(details.get("quantization_level") or ""),
            details={k: v for k, v in details.items() if v is not None},
        )

    def _server_version(self) -> str:
        # The official client has no call for /api/version; it is one plain GET.
        try:
            answer = self._plain.get("/api/version")
            return str(answer.json().get("version", "unknown"))
        except (httpx.HTTPError, ValueError):
            return "unknown"

    def load(self, model: str) -> None:
        """An empty generate request with a keep_alive loads the model."""
        self._call(self._cold.generate, model=model, keep_alive=KEEP_ALIVE)

    def unload(self, model: str) -> None:
        """An empty generate request with keep_alive=0 unloads the model."""
        self._call(self._warm.generate, model=model, keep_alive=0)

    def generate(
        self, model: str, messages: list[dict[str, str]], options: GenerationOptions
    ) -> Generation:
        """One non-streaming chat call; timings come from Ollama's nanosecond fields."""
        response = self._call(
            self._warm.chat,
            model=model,
            messages=messages,
            options={
                "temperature": options.temperature,
                "seed": options.seed,
                "num_predict": options.num_predict,
                "num_ctx": options.num_ctx,
            },
            keep_alive=KEEP_ALIVE,
        )
        raw = response.model_dump(mode="json")
        content = response.message.content if response.message else None
        if content is None or not content.strip():
            # an empty answer is a fault of the server, not an answer to score: retried
            raise ProviderBadResponse(f"Ollama answered {model} with an empty message")
        return Generation(
            text=content,
            raw=raw,
            load_s=(response.load_duration or 0) * NS,
            prompt_eval_s=(response.prompt_eval_duration or 0) * NS,
            generation_s=(response.eval_duration or 0) * NS,
            total_s=(response.total_duration or 0) * NS,
            prompt_tokens=response.prompt_eval_count or 0,
            completion_tokens=response.eval_count or 0,
        )

    @staticmethod
    def _call(method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the client, turning its failures into tipbench's named errors."""
        model = kwargs.get("model", args[0] if args else "?")
        try:
            return method(*args, **kwargs)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise UnknownModel(f"Ollama has no model {model!r}: {exc.error}") from exc
            raise ProviderBadResponse(
                f"Ollama answered {exc.status_code} for {model}: {exc.error}"
            ) from exc
        except (ConnectionError, httpx.TransportError) as exc:
            raise ProviderUnavailable(f"Ollama unreachable or timed out ({model}): {exc}") from exc
        except ValueError as exc:  # a body that is not the JSON the client expects
            raise ProviderBadResponse(f"Ollama sent a malformed answer for {model}: {exc}") from exc
