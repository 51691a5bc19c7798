"""Models checked at submission: embedded ones exist, Ollama's exist and are not too large."""

from __future__ import annotations

import time
from functools import cache

import httpx
import ollama

from shared.contracts import BenchRequest
from shared.errors import PermanentError, UnknownModel
from shared.model_names import (
    LLM_JUDGE_PREFIX,
    check_size,
    gguf_file,
    ollama_params_b,
    parse_model,
)
from shared.settings import Settings

# Short: the check must not hold the request up; if Ollama is slow the collector decides.
SHOW_TIMEOUT_S = 3.0


def gguf_problems(names: list[str], field: str, gguf_dir: str) -> list[dict[str, str]]:
    """Embedded models (gguf:<name>) that are neither in the catalog nor in the folder."""
    problems: list[dict[str, str]] = []
    for name in names:
        ref = parse_model(name)
        if ref.provider == "gguf":
            try:
                gguf_file(ref.name, gguf_dir)
            except UnknownModel as exc:
                problems.append({"field": field, "message": str(exc)})
    return problems


# A model's size as its Ollama states it, kept a little while per process: every job of a
# burst names the same models. The collector asks again before it loads one.
SIZE_KEPT_S = 30.0
_sizes: dict[tuple[str, str], tuple[float, float | None]] = {}


@cache
def _ollama(url: str) -> ollama.Client:
    """One client per Ollama address (a new one costs tens of ms: its TLS context)."""
    return ollama.Client(host=url, timeout=SHOW_TIMEOUT_S)


def ollama_size(url: str, model: str) -> float | None:
    """The billions of parameters the Ollama at `url` states for a model (None: it does not
    say); ollama.ResponseError if it has no such model, ConnectionError if unreachable."""
    now = time.monotonic()
    kept = _sizes.get((url, model))
    if kept is not None and kept[0] > now:
        return kept[1]
    shown = _ollama(url).show(model)
    label = shown.details.parameter_size if shown.details else None
    size = ollama_params_b(dict(shown.modelinfo or {}), label)
    _sizes[(url, model)] = (now + SIZE_KEPT_S, size)
    return size


def model_problems(
    request: BenchRequest, settings: Settings, hosts: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """Problems with the request's models: an embedded model that does not exist; an
    Ollama model missing, over max_model_b, or of unknown size.

    Each Ollama model is asked of the Ollama of its host (`hosts`: model -> host name, see
    TIPBENCH_HOSTS). The size of embedded models and an unreachable Ollama are left to the
    collector, which checks every model again before loading it.
    """
    judge = [request.judge.removeprefix(LLM_JUDGE_PREFIX)] if request.judge else []
    problems = gguf_problems(request.models, "models", settings.gguf_dir)
    problems += gguf_problems(judge, "judge", settings.gguf_dir)
    urls = {h.name: h.url for h in settings.generation_hosts()}
    unreachable: set[str] = set()
    for name in request.models:
        ref = parse_model(name)
        host = (hosts or {}).get(name, "")
        url = urls.get(host, settings.ollama_host)
        if ref.provider != "ollama" or url in unreachable:
            continue
        try:
            size = ollama_size(url, ref.name)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                where = f" (host {host})" if host else ""  # its URL may hold credentials
                problems.append(
                    {"field": "models", "message": f"Ollama has no model {name!r}{where}"}
                )
            continue
        except (ConnectionError, httpx.TransportError, ValueError):
            unreachable.add(url)  # Ollama unreachable now: the collector will check
            continue
        try:
            check_size(
                name,
                size or request.sizes.get(name),
                request.max_model_b,
                request.allow_unknown_size,
            )
        except PermanentError as exc:
            problems.append({"field": "models", "message": str(exc)})
    return problems
