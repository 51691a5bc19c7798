"""The size guard at submission: ask Ollama how large each requested model is."""

from __future__ import annotations

import httpx
import ollama

from shared.contracts import BenchRequest
from shared.errors import PermanentError
from shared.model_names import check_size, ollama_params_b, parse_model

# Short: the check must not hold the request up; if Ollama is slow the collector decides.
SHOW_TIMEOUT_S = 3.0


def model_size_problems(request: BenchRequest, ollama_host: str) -> list[dict[str, str]]:
    """Problems with the request's Ollama models: missing, over max_model_b, or of unknown size.

    Embedded models and an unreachable Ollama are left to the collector, which checks
    every model again before loading it.
    """
    client = ollama.Client(host=ollama_host, timeout=SHOW_TIMEOUT_S)
    problems: list[dict[str, str]] = []
    for name in request.models:
        ref = parse_model(name)
        if ref.provider != "ollama":
            continue
        try:
            shown = client.show(ref.name)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                problems.append({"field": "models", "message": f"Ollama has no model {name!r}"})
            continue
        except (ConnectionError, httpx.TransportError, ValueError):
            return problems  # Ollama unreachable now: the collector will check
        label = shown.details.parameter_size if shown.details else None
        size = ollama_params_b(dict(shown.modelinfo or {}), label)
        try:
            check_size(name, size, request.max_model_b, request.allow_unknown_size)
        except PermanentError as exc:
            problems.append({"field": "models", "message": str(exc)})
    return problems
