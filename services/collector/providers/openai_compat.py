"""OpenAI-compatible chat servers (vLLM, llama.cpp's llama-server, LM Studio) over plain HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx

from services.collector.providers import Generation, GenerationOptions, ModelInfo
from shared.errors import ProviderBadResponse, ProviderUnavailable, UnknownModel

MS = 1e-3


class OpenAICompatibleProvider:
    """Talks to one server's /v1/models and /v1/chat/completions."""

    name = "openai"

    def __init__(self, base_url: str, *, api_key: str, timeout_s: float) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    def close(self) -> None:
        """Close its HTTP connections (a collector's provider lives as long as the process)."""
        self._http.close()

    def describe(self, model: str) -> ModelInfo:
        """The model from /v1/models; llama-server reports its size in `meta.n_params`."""
        listed = self._request("GET", "/models", model)
        entry = next((m for m in listed.get("data", []) if m.get("id") == model), None)
        if entry is None:
            raise UnknownModel(f"the OpenAI-compatible server has no model {model!r}")
        n_params = (entry.get("meta") or {}).get("n_params")
        return ModelInfo(
            params_b=float(n_params) / 1e9 if isinstance(n_params, int | float) else None,
            server_version=str(entry.get("owned_by") or "openai-compatible"),
        )

    def load(self, model: str) -> None:
        """The server manages its own models: nothing to do."""

    def unload(self, model: str) -> None:
        """The server manages its own models: nothing to do."""

    def generate(
        self, model: str, messages: list[dict[str, str]], options: GenerationOptions
    ) -> Generation:
        """One non-streaming chat completion; llama-server's `timings` are used when present."""
        started = time.perf_counter()
        body = self._request(
            "POST",
            "/chat/completions",
            model,
            json={
                "model": model,
                "messages": messages,
                "temperature": options.temperature,
                "seed": options.seed,
                "max_tokens": options.num_predict,
                "stream": False,
            },
        )
        wall_s = time.perf_counter() - started
        try:
            text = body["choices"][0]["message"]["content"] or ""
            usage = body.get("usage") or {}
        except (KeyError, IndexError, TypeError) as exc:
            raise ProviderBadResponse(f"no message in the answer for {model}: {exc}") from exc
        timings = body.get("timings") or {}
        return Generation(
            text=text,
            raw=body,
            load_s=0.0,
            prompt_eval_s=float(timings.get("prompt_ms", 0.0)) * MS,
            generation_s=float(timings.get("predicted_ms", wall_s / MS)) * MS,
            total_s=wall_s,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )

    def _request(self, method: str, path: str, model: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ProviderUnavailable(
                f"OpenAI-compatible server unreachable ({model}): {exc}"
            ) from exc
        if response.status_code == 404:
            raise UnknownModel(
                f"the OpenAI-compatible server has no {model!r}: {response.text[:200]}"
            )
        if response.status_code >= 400:
            raise ProviderBadResponse(
                f"{path} answered {response.status_code} for {model}: {response.text[:200]}"
            )
        try:
            answer: dict[str, Any] = response.json()
        except ValueError as exc:
            raise ProviderBadResponse(f"{path} sent malformed JSON for {model}") from exc
        return answer
